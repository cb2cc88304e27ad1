"""The hooks a pyflymq plugin can implement.

pyflymq extends itself through pluggy (project name ``"pyflymq"``, entry-point group ``"pyflymq"``).
Two kinds of hooks exist:

* **Registration hooks** receive a ``register`` callback and push factories into the core's
  registries: transports by URL scheme, codecs by name, encryptors by name.  They run once, when the
  registry is first needed (the first ``connect()``), never at ``import pyflymq``.
* **Lifecycle hooks** observe clients (connect, close, each request and response) for metrics and
  tracing.  They run on the hot path, so the client asks :func:`pyflymq_core.plugins.get_lifecycle`
  whether any is registered and skips the calls entirely when none is.

A plugin is any module or object with functions decorated by :data:`hookimpl`; it is found through an
entry point in the ``pyflymq`` group of its distribution, e.g. in ``pyproject.toml``::

    [project.entry-points.pyflymq]
    toy = "pyflymq_toy"

Hook implementations may accept a subset of the arguments listed here (pluggy passes by name).
"""

from __future__ import annotations

from typing import Any, Protocol

import pluggy

__all__ = [
    "LIFECYCLE_HOOKS",
    "PROJECT_NAME",
    "RegisterCallback",
    "TransportRegisterCallback",
    "hookimpl",
    "hookspec",
]

#: pluggy project name, also the entry-point group plugins are discovered in.
PROJECT_NAME = "pyflymq"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)

#: Hooks that observe clients; the client skips calling them when no plugin implements one.
LIFECYCLE_HOOKS: tuple[str, ...] = (
    "pyflymq_client_connected",
    "pyflymq_client_closed",
    "pyflymq_before_request",
    "pyflymq_after_response",
)


class RegisterCallback(Protocol):
    """Signature of the ``register`` callback handed to the codec and encryptor hooks.

    ``factory`` is a callable or a lazy ``"module:attr"`` string, imported on first use so that
    registering stays cheap and a missing optional dependency only matters to whoever uses it.
    ``extra`` names the pip extra that provides the dependencies (``pip install 'dist[extra]'``).
    ``replace=True`` deliberately overrides a name registered by an earlier plugin (built-ins are
    registered first); without it a duplicate name is a configuration error.
    """

    def __call__(
        self,
        name: str,
        factory: Any,
        *,
        extra: str | None = None,
        description: str = "",
        replace: bool = False,
    ) -> None: ...


class TransportRegisterCallback(Protocol):
    """Signature of the ``register`` callback handed to :func:`pyflymq_register_transports`.

    Same as :class:`RegisterCallback`, where ``name`` is a URL scheme (``flymq``, ``flymqs``,
    ``memory``) and ``asynchronous=True`` registers the asyncio variant of the scheme.
    """

    def __call__(
        self,
        name: str,
        factory: Any,
        *,
        extra: str | None = None,
        description: str = "",
        replace: bool = False,
        asynchronous: bool = False,
    ) -> None: ...


# --------------------------------------------------------------------------- registration hooks


@hookspec
def pyflymq_register_transports(register: TransportRegisterCallback) -> None:
    """Register transport factories by URL scheme (``register("flymq", "pkg.mod:Class")``)."""


@hookspec
def pyflymq_register_codecs(register: RegisterCallback) -> None:
    """Register message codecs by name (``register("json", "pkg.mod:JsonCodec", extra="json")``)."""


@hookspec
def pyflymq_register_encryptors(register: RegisterCallback) -> None:
    """Register payload encryptors by name (``register("aes-256-gcm", ..., extra="crypto")``)."""


# --------------------------------------------------------------------------- lifecycle hooks


@hookspec
def pyflymq_client_connected(client: Any, server: str) -> None:
    """A client finished connecting (and authenticating) to ``server`` (``"host:port"``)."""


@hookspec
def pyflymq_client_closed(client: Any) -> None:
    """A client was closed by its owner."""


@hookspec
def pyflymq_before_request(client: Any, op: int, payload_size: int) -> None:
    """A request with opcode ``op`` and a ``payload_size``-byte payload is about to be sent."""


@hookspec
def pyflymq_after_response(
    client: Any, op: int, resp_op: int | None, elapsed_s: float, error: BaseException | None
) -> None:
    """The answer to request ``op`` arrived (``resp_op``) or failed (``error``) after ``elapsed_s``.

    ``resp_op`` is ``None`` when no response frame was received (the error says why).
    """
