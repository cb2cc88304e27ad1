"""Built-in transport plugin: registers the ``flymq``, ``flymqs`` and ``memory`` URL schemes.

Loaded through the ``transports`` entry point of the ``pyflymq`` distribution, like any third-party
plugin.  Factories are lazy import paths, so no socket or ssl machinery is imported until a client
actually connects with that scheme.  All of them use the standard library only (no extra).
"""

from __future__ import annotations

from pyflymq_core.plugins import TransportRegisterCallback, hookimpl

__all__ = ["pyflymq_register_transports"]


@hookimpl
def pyflymq_register_transports(register: TransportRegisterCallback) -> None:
    """Register the sync and asyncio transports for plain TCP, TLS and the in-process broker."""
    register("flymq", "pyflymq_transports.tcp:TcpTransport", description="plain TCP")
    register("flymqs", "pyflymq_transports.tls:TlsTransport", description="TLS over TCP")
    register("memory", "pyflymq_transports.memory:MemoryTransport", description="in-process embedded broker")
    register(
        "flymq",
        "pyflymq_transports.aio:AsyncTcpTransport",
        description="plain TCP (asyncio)",
        asynchronous=True,
    )
    register(
        "flymqs",
        "pyflymq_transports.aio:AsyncTlsTransport",
        description="TLS over TCP (asyncio)",
        asynchronous=True,
    )
    register(
        "memory",
        "pyflymq_transports.memory:AsyncMemoryTransport",
        description="in-process embedded broker (asyncio)",
        asynchronous=True,
    )
