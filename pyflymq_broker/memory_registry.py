"""Named in-process brokers behind ``memory://<name>`` URLs.

The ``memory://`` transport has no socket to find a server by, so brokers are looked up by name in
this process-wide registry (the model is fakeredis' shared servers): every client that connects to
``memory://orders`` talks to the same :class:`~pyflymq_broker.Broker`, created on first use.

A Broker is thread-safe (one lock around its state), so clients on several threads (a producer
thread and a consumer thread, say) can share one in-process broker.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from pyflymq_core.errors import ConfigurationError

if TYPE_CHECKING:
    from pyflymq_broker import Broker, BrokerConfig

__all__ = [
    "drop_memory_broker",
    "get_memory_broker",
    "memory_broker_names",
    "register_memory_broker",
    "reset_memory_brokers",
]


_registry_lock = threading.Lock()
_brokers: dict[str, Broker] = {}


def _new_broker(config: BrokerConfig | None) -> Broker:
    from pyflymq_broker import Broker, BrokerConfig

    return Broker(config if config is not None else BrokerConfig())


def get_memory_broker(name: str, config: BrokerConfig | None = None) -> Broker:
    """The broker serving ``memory://<name>``, created on first use (from ``config``, default settings).

    Passing a ``config`` for a name that already has a broker with another configuration is an
    error: silently ignoring it would make a test run against settings it did not ask for.
    """
    with _registry_lock:
        broker = _brokers.get(name)
        if broker is None:
            broker = _brokers[name] = _new_broker(config)
        elif config is not None and broker.config != config:
            raise ConfigurationError(
                f"in-process broker {name!r} already exists with a different configuration",
                hint="Use another memory:// name, or call pyflymq_broker.memory_registry."
                "reset_memory_brokers() (or drop_memory_broker(name)) first.",
            )
        return broker


def register_memory_broker(name: str, broker: Broker) -> None:
    """Serve an existing broker as ``memory://<name>`` (e.g. one also served on TCP)."""
    with _registry_lock:
        current = _brokers.get(name)
        if current is not None and current is not broker:
            raise ConfigurationError(
                f"in-process broker {name!r} is already registered",
                hint="Use another memory:// name or drop_memory_broker(name) first.",
            )
        _brokers[name] = broker


def drop_memory_broker(name: str) -> None:
    """Forget ``memory://<name>``; the next connection to that name gets a fresh broker.

    Transports already connected keep talking to the dropped broker until they close.
    """
    with _registry_lock:
        _brokers.pop(name, None)


def reset_memory_brokers() -> None:
    """Forget every in-process broker (test isolation)."""
    with _registry_lock:
        _brokers.clear()


def memory_broker_names() -> list[str]:
    """Names currently registered, sorted."""
    with _registry_lock:
        return sorted(_brokers)
