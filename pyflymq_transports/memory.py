"""``memory://<name>``: a transport that talks to an in-process embedded broker, without sockets.

The bytes are exactly those a TCP connection would carry: ``sendall`` feeds them to a broker
:class:`~pyflymq_broker.Session` and whatever it answers is buffered for ``recv``.  So the client
code above (framing, pipelining, error decoding) is exercised unchanged, only faster and without
ports.  The broker is found by name in :mod:`pyflymq_broker.memory_registry` and created on first
use with default settings; ``TransportOptions.extra["broker_config"]`` (a ``BrokerConfig``) picks
another configuration for a name that does not exist yet.

Time-driven broker work (delayed delivery, transaction expiry) needs no timer here: the broker
does it before answering each request, the only moment a client can observe its effect.

Reading when nothing is buffered means the broker has not answered (a truncated frame waits for
its remaining bytes, as on the real server): ``recv`` then waits for another thread to send, up to
the timeout, and raises the pyflymq :class:`~pyflymq_core.errors.TimeoutError`.
"""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
from typing import TYPE_CHECKING

from pyflymq_core.errors import ConfigurationError, ConnectionError, TimeoutError
from pyflymq_transports.base import AsyncTransport, ServerAddress, Transport, TransportOptions

if TYPE_CHECKING:
    from pyflymq_broker import BrokerConfig, Session

__all__ = ["AsyncMemoryTransport", "MemoryTransport"]

_connection_ids = itertools.count(1)


def _open(address: ServerAddress, options: TransportOptions) -> Session:
    """Find (or create) the named broker and open a session on it, as accepting a connection."""
    from pyflymq_broker.memory_registry import get_memory_broker

    broker = get_memory_broker(address.host, _broker_config(options))
    return broker.open_session(client_addr=f"memory:{next(_connection_ids)}")


def _broker_config(options: TransportOptions) -> BrokerConfig | None:
    config = options.extra.get("broker_config")
    if config is None:
        return None
    from pyflymq_broker import BrokerConfig

    if not isinstance(config, BrokerConfig):
        raise ConfigurationError(
            f"TransportOptions.extra['broker_config'] must be a BrokerConfig, not {type(config).__name__}"
        )
    return config


class MemoryTransport(Transport):
    """Blocking transport to ``memory://<name>``; ``sendall`` and ``recv`` may run on two threads."""

    full_duplex = True

    def __init__(self, address: ServerAddress, options: TransportOptions) -> None:
        super().__init__(address, options)
        self._cond = threading.Condition()
        self._out = bytearray()
        self._session: Session | None = None
        self._timeout: float | None = None
        self._closed = False
        self._server_closed = False

    def connect(self) -> None:
        with self._cond:
            if self._session is not None:
                return
            if self._closed:
                raise ConnectionError(f"transport to {self.address.url} is closed; create a new one")
            self._session = _open(self.address, self.options)

    def sendall(self, data: bytes) -> None:
        with self._cond:
            session = self._session
            if self._closed or session is None:
                raise ConnectionError(f"transport to {self.address.url} is not connected")
            if self._server_closed:
                raise ConnectionError(
                    f"the embedded broker {self.address.url} closed the connection",
                    hint="It closes connections on framing violations (bad magic, version or length).",
                )
            result = session.feed(bytes(data))
            if result.output:
                self._out += result.output
            if result.close:
                self._server_closed = True
                self._close_session()
            self._cond.notify_all()

    def recv(self, max_bytes: int) -> bytes:
        return self.recv_timeout(max_bytes, self._timeout)

    def recv_timeout(self, max_bytes: int, timeout: float | None) -> bytes:
        with self._cond:
            if self._closed:
                raise ConnectionError(f"connection to {self.address.url} is closed")
            deadline = None if timeout is None else time.monotonic() + timeout
            while not self._out:
                if self._closed or self._server_closed:
                    return b""  # closed while waiting (like a socket shut down), or the broker hung up
                if self._session is None:
                    raise ConnectionError(f"transport to {self.address.url} is not connected")
                if deadline is None:
                    self._cond.wait()
                    continue
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(
                        f"no reply from the embedded broker {self.address.url} within {timeout} s",
                        hint="The broker answers a request only once its whole frame has arrived.",
                    )
                self._cond.wait(remaining)
            if max_bytes >= len(self._out):
                chunk = bytes(self._out)
                self._out.clear()
            else:
                chunk = bytes(self._out[:max_bytes])
                del self._out[:max_bytes]
            return chunk

    def send_timeout(self, data: bytes, timeout: float | None) -> None:
        self.sendall(data)  # the broker answers inline: a write never blocks

    def peer_closed(self) -> bool:
        with self._cond:
            return self._closed or self._server_closed

    def settimeout(self, timeout: float | None) -> None:
        self._timeout = timeout

    def close(self) -> None:
        with self._cond:
            if self._closed:
                return
            self._closed = True
            self._close_session()
            self._cond.notify_all()

    def _close_session(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            session.close()


class AsyncMemoryTransport(AsyncTransport):
    """The asyncio twin: the broker runs inline on the event loop (it never blocks)."""

    def __init__(self, address: ServerAddress, options: TransportOptions) -> None:
        super().__init__(address, options)
        self._out = bytearray()
        self._readable = asyncio.Event()
        self._session: Session | None = None
        self._closed = False
        self._server_closed = False

    async def connect(self) -> None:
        if self._session is not None:
            return
        if self._closed:
            raise ConnectionError(f"transport to {self.address.url} is closed; create a new one")
        self._session = _open(self.address, self.options)

    async def write(self, data: bytes) -> None:
        session = self._session
        if self._closed or session is None:
            raise ConnectionError(f"transport to {self.address.url} is not connected")
        if self._server_closed:
            raise ConnectionError(
                f"the embedded broker {self.address.url} closed the connection",
                hint="It closes connections on framing violations (bad magic, version or length).",
            )
        result = session.feed(bytes(data))
        if result.output:
            self._out += result.output
        if result.close:
            self._server_closed = True
            self._close_session()
        self._readable.set()

    async def read(self, max_bytes: int) -> bytes:
        while not self._out:
            if self._closed or self._server_closed:
                return b""
            if self._session is None:
                raise ConnectionError(f"transport to {self.address.url} is not connected")
            self._readable.clear()
            await self._readable.wait()
        if max_bytes >= len(self._out):
            chunk = bytes(self._out)
            self._out.clear()
        else:
            chunk = bytes(self._out[:max_bytes])
            del self._out[:max_bytes]
        return chunk

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._close_session()
        self._readable.set()

    def _close_session(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            session.close()
