"""Observability helpers: the ``pyflymq`` logger hierarchy and switching the metrics plugin on.

pyflymq logs through the standard :mod:`logging` module and never configures handlers itself (a
library must not); it only creates loggers below ``pyflymq``, so one line controls all of them::

    logging.getLogger("pyflymq").setLevel(logging.DEBUG)

:data:`LOGGERS` lists the names and what each one reports; docs/observability.md has the levels.
Log records never contain message payloads, keys or secrets (passwords, encryption keys): only
topic names, partitions, offsets, sizes, addresses, user names and error texts.

Metrics and tracing go through the lifecycle hooks (:mod:`pyflymq_core.plugins.hookspecs`);
:func:`enable_metrics` registers the shipped :class:`~pyflymq_core.metrics_plugin.MetricsPlugin`.
"""

from __future__ import annotations

import logging
import sys
from typing import TYPE_CHECKING, Any, TextIO

from pyflymq_core.plugins import hookimpl

if TYPE_CHECKING:
    from pyflymq_core.metrics_plugin import MetricsPlugin

__all__ = [
    "LOGGERS",
    "ROOT_LOGGER",
    "RequestLogPlugin",
    "disable_metrics",
    "disable_request_logging",
    "enable_metrics",
    "enable_request_logging",
    "get_logger",
    "log_to_stderr",
]

#: The root of every pyflymq logger.
ROOT_LOGGER = "pyflymq"

#: Logger name -> what it reports.  Levels: DEBUG for per-request detail, INFO for connection
#: lifecycle, WARNING for failover, retries and insecure settings, ERROR for lost work.
LOGGERS: dict[str, str] = {
    "pyflymq.client": "connects, authentication, failover between bootstrap servers, retries, "
    "leader redirects, keep-alive, transactions",
    "pyflymq.connection": "one connection's life: requests pipelined, responses out of step, closes",
    "pyflymq.transport": "TCP/TLS sockets: connect, TLS handshake (insecure TLS is an "
    "InsecureTransportWarning, not a log record)",
    "pyflymq.producer": "the high-level producer: batches, retries, delivery failures, flush/close",
    "pyflymq.consumer": "the consumers: assignment, start offsets, commits, dead-lettering",
    "pyflymq.rx": "reactive streams: subscription, backpressure drops, stop",
    "pyflymq.broker": "the embedded broker's server: connections, start/stop",
    "pyflymq.plugins": "plugin discovery: entry points loaded, skipped or failing",
    "pyflymq.serde": "codecs and schemas: validation skipped for a missing extra",
    "pyflymq.request": "one DEBUG line per request and answer (opcode, sizes, latency, error type); "
    "only while enable_request_logging() is in effect",
}


def get_logger(component: str) -> logging.Logger:
    """The logger of a pyflymq component: ``get_logger("client")`` is ``pyflymq.client``.

    A name that already starts with ``pyflymq`` is used as is.
    """
    if component == ROOT_LOGGER or component.startswith(ROOT_LOGGER + "."):
        return logging.getLogger(component)
    return logging.getLogger(f"{ROOT_LOGGER}.{component}")


def log_to_stderr(level: int | str = logging.INFO, stream: TextIO | None = None) -> logging.Handler:
    """Send pyflymq's records at ``level`` and above to ``stream`` (default stderr); returns the
    handler so it can be removed again.  For scripts and debugging sessions: applications usually
    configure logging once, for every library, with :func:`logging.basicConfig` or dictConfig."""
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logger = logging.getLogger(ROOT_LOGGER)
    logger.addHandler(handler)
    logger.setLevel(level)
    return handler


def enable_metrics(plugin: MetricsPlugin | None = None) -> MetricsPlugin:
    """Register ``plugin`` (default: a new :class:`MetricsPlugin`) with the plugin manager and
    return it.  Clients, existing or future, report to it from their next request on."""
    from pyflymq_core.metrics_plugin import MetricsPlugin
    from pyflymq_core.plugins import get_plugin_manager

    metrics = plugin if plugin is not None else MetricsPlugin()
    manager = get_plugin_manager()
    if not manager.is_registered(metrics):
        manager.register(metrics)
    return metrics


def disable_metrics(plugin: MetricsPlugin) -> None:
    """Unregister a plugin registered with :func:`enable_metrics` (no-op if it is not registered)."""
    from pyflymq_core.plugins import get_plugin_manager

    manager = get_plugin_manager()
    if manager.is_registered(plugin):
        manager.unregister(plugin)


class RequestLogPlugin:
    """A lifecycle plugin that logs every request on ``pyflymq.request`` at DEBUG.

    One line when a request is sent (opcode, payload size) and one when it is answered (answer
    opcode, elapsed time) or fails (the exception *type* only: error texts can quote user data).
    Opt-in through :func:`enable_request_logging` because it puts the client on the observed path.
    """

    def __init__(self, logger: logging.Logger | None = None) -> None:
        self.logger = logger if logger is not None else logging.getLogger(f"{ROOT_LOGGER}.request")

    @hookimpl
    def pyflymq_before_request(self, client: Any, op: int, payload_size: int) -> None:
        """Log the request being sent."""
        if self.logger.isEnabledFor(logging.DEBUG):
            from pyflymq_core.metrics_plugin import op_label

            self.logger.debug("%s: sending %d-byte request", op_label(op), payload_size)

    @hookimpl
    def pyflymq_after_response(
        self, client: Any, op: int, resp_op: int | None, elapsed_s: float, error: BaseException | None
    ) -> None:
        """Log the answer (or the failure)."""
        if not self.logger.isEnabledFor(logging.DEBUG):
            return
        from pyflymq_core.metrics_plugin import op_label

        elapsed_ms = elapsed_s * 1000.0
        if error is None:
            answer = "no frame" if resp_op is None else f"0x{resp_op:02X}"
            self.logger.debug("%s: answered (%s) in %.3f ms", op_label(op), answer, elapsed_ms)
        else:
            self.logger.debug(
                "%s: failed after %.3f ms with %s", op_label(op), elapsed_ms, type(error).__name__
            )


def enable_request_logging(plugin: RequestLogPlugin | None = None) -> RequestLogPlugin:
    """Register ``plugin`` (default: a new :class:`RequestLogPlugin`) and return it; set the
    ``pyflymq.request`` logger (or ``pyflymq``) to DEBUG to see its lines."""
    from pyflymq_core.plugins import get_plugin_manager

    logger_plugin = plugin if plugin is not None else RequestLogPlugin()
    manager = get_plugin_manager()
    if not manager.is_registered(logger_plugin):
        manager.register(logger_plugin)
    return logger_plugin


def disable_request_logging(plugin: RequestLogPlugin) -> None:
    """Unregister a plugin registered with :func:`enable_request_logging`."""
    from pyflymq_core.plugins import get_plugin_manager

    manager = get_plugin_manager()
    if manager.is_registered(plugin):
        manager.unregister(plugin)
