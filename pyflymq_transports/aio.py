"""asyncio transports: plain TCP (``flymq://``) and TLS (``flymqs://``).

The same options as the blocking transports (:mod:`.tcp`, :mod:`.tls`), and the same reasons:

* ``TCP_NODELAY`` on and 4 MiB socket buffers set *before* ``connect`` (window scaling is negotiated
  then).  The socket is created and tuned here, connected with ``loop.sock_connect`` within
  ``connect_timeout``, and only then handed to the event loop.
* TLS uses :func:`pyflymq_transports.tls.build_ssl_context` (one place decides the security
  defaults for both flavours), warns with :class:`~pyflymq_transports.tls.InsecureTransportWarning`
  when verification is skipped, and maps handshake failures to the same errors and hints.

Beyond the :class:`~pyflymq_transports.base.AsyncTransport` ABC (``read``/``write``, which work as
usual) these transports offer optional capabilities the asyncio connection uses when present
(third-party transports need not):

* :meth:`~AsyncTcpTransport.set_receiver` hands every received chunk straight to a callback from
  the event loop's ``data_received`` — the connection parses frames and completes the waiting calls
  right there, without a reader task in between (one event-loop iteration less per response, which
  is most of what a request round trip costs on top of the sync client);
* :meth:`~AsyncTcpTransport.write_nowait` hands a whole frame to the event loop's buffer
  *synchronously*, so a request joins the connection's FIFO and the wire in one step that no other
  task can interleave with, and a cancelled caller can never leave half a frame behind;
* :meth:`~AsyncTcpTransport.drain` waits only while the write buffer is above its high-water mark;
* :meth:`~AsyncTcpTransport.peer_closed` tells, without blocking, that an idle stream was closed.
"""

from __future__ import annotations

import asyncio
import builtins
import logging
import os
import select
import socket
import ssl
import time
import warnings
from collections import deque
from collections.abc import Callable

from pyflymq_core.errors import ConnectionError
from pyflymq_transports.base import AsyncTransport, ServerAddress, TransportOptions
from pyflymq_transports.tls import InsecureTransportWarning, build_ssl_context, handshake_error

__all__ = ["AsyncTcpTransport", "AsyncTlsTransport"]

logger = logging.getLogger("pyflymq.transport")

#: Bytes buffered for ``read()`` before reading from the socket pauses (a large FETCH streams through).
READ_HIGH_WATER = 2 * 1024 * 1024
#: Write buffer size above which :meth:`AsyncTcpTransport.drain` actually waits.
WRITE_HIGH_WATER = 1024 * 1024

_HAS_POLL = hasattr(select, "poll")
_POLL_EVENTS = getattr(select, "POLLIN", 1) | getattr(select, "POLLHUP", 16) | getattr(select, "POLLERR", 8)

#: ``on_data(chunk)`` and ``on_close(error or None)``: what :meth:`set_receiver` takes.
DataCallback = Callable[[bytes], None]
CloseCallback = Callable[["BaseException | None"], None]


def _tune(sock: socket.socket, options: TransportOptions) -> None:
    """TCP_NODELAY and the socket buffers, as the blocking transport sets them."""
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    if options.socket_buffer_size:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, options.socket_buffer_size)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, options.socket_buffer_size)


async def open_socket(address: ServerAddress, options: TransportOptions) -> socket.socket:
    """Resolve and connect a tuned, non-blocking socket within ``options.connect_timeout``.

    Raises :class:`pyflymq_core.errors.ConnectionError` naming the address and the reason.
    """
    loop = asyncio.get_running_loop()
    host = address.host or "localhost"
    timeout = options.connect_timeout
    deadline = None if timeout is None else time.monotonic() + timeout
    try:
        infos = await asyncio.wait_for(loop.getaddrinfo(host, address.port, type=socket.SOCK_STREAM), timeout)
    except asyncio.TimeoutError as exc:
        raise ConnectionError(f"cannot resolve {address}: timed out after {timeout:g} s") from exc
    except OSError as exc:
        raise ConnectionError(
            f"cannot resolve {address}: {exc}",
            hint="Check the host name in the bootstrap servers (DNS or /etc/hosts).",
        ) from exc
    reasons: list[str] = []
    for family, kind, proto, _canon, sockaddr in infos:
        remaining = None if deadline is None else deadline - time.monotonic()
        if remaining is not None and remaining <= 0:
            reasons.append("connect timeout exhausted")
            break
        sock = socket.socket(family, kind, proto)
        try:
            _tune(sock, options)
            sock.setblocking(False)
            await asyncio.wait_for(loop.sock_connect(sock, sockaddr), remaining)
        except asyncio.TimeoutError:
            sock.close()
            reasons.append(f"timed out after {timeout:g} s" if timeout is not None else "timed out")
            continue
        except OSError as exc:
            sock.close()
            # asyncio words it "Connect call failed (addr)"; the errno text says why.
            reasons.append(os.strerror(exc.errno) if exc.errno else str(exc))
            continue
        except BaseException:  # cancelled: do not leak the socket
            sock.close()
            raise
        return sock
    reason = "; ".join(dict.fromkeys(reasons)) or "no address to connect to"
    raise ConnectionError(f"cannot connect to {address}: {reason}")


class _StreamProtocol(asyncio.Protocol):
    """The event loop's side of one connection: buffers for ``read()``, or hands data straight to a
    receiver; flow control for ``drain()``."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.eof = False
        self.error: BaseException | None = None
        self.closed = False
        self.read_waiter: asyncio.Future[None] | None = None
        self.drain_waiters: deque[asyncio.Future[None]] = deque()
        self.paused = False
        self.reading_paused = False
        self.on_data: DataCallback | None = None
        self.on_close: CloseCallback | None = None

    # -- asyncio.Protocol ---------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        on_data = self.on_data
        if on_data is not None:
            on_data(data)
            return
        self.buffer += data
        self._wake_reader()
        if len(self.buffer) > READ_HIGH_WATER and not self.reading_paused and self.transport is not None:
            self.reading_paused = True
            self.transport.pause_reading()

    def eof_received(self) -> bool | None:
        self.eof = True
        self._finished(None)
        return False  # close the transport

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.eof = True
        if exc is not None and self.error is None:
            self.error = exc
        self._finished(exc)
        for waiter in self.drain_waiters:
            if not waiter.done():
                if exc is None:
                    waiter.set_result(None)
                else:
                    waiter.set_exception(exc)

    def pause_writing(self) -> None:
        self.paused = True

    def resume_writing(self) -> None:
        self.paused = False
        for waiter in self.drain_waiters:
            if not waiter.done():
                waiter.set_result(None)

    # -- helpers --------------------------------------------------------------------------------------

    def _finished(self, exc: BaseException | None) -> None:
        self._wake_reader()
        on_close, self.on_close = self.on_close, None
        if on_close is not None:
            on_close(exc)

    def _wake_reader(self) -> None:
        waiter = self.read_waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def read(self, max_bytes: int) -> bytes:
        while not self.buffer:
            if self.error is not None:
                raise self.error
            if self.eof:
                return b""
            waiter = self.read_waiter = self.loop.create_future()
            try:
                await waiter
            finally:
                self.read_waiter = None
        buffer = self.buffer
        if max_bytes >= len(buffer):
            data = bytes(buffer)
            buffer.clear()
        else:
            data = bytes(buffer[:max_bytes])
            del buffer[:max_bytes]
        if self.reading_paused and len(buffer) <= READ_HIGH_WATER // 2 and self.transport is not None:
            self.reading_paused = False
            self.transport.resume_reading()
        return data

    async def drain(self) -> None:
        if self.closed:
            raise ConnectionResetError("connection lost")
        if not self.paused:
            return
        waiter = self.loop.create_future()
        self.drain_waiters.append(waiter)
        try:
            await waiter
        finally:
            self.drain_waiters.remove(waiter)


class AsyncTcpTransport(AsyncTransport):
    """An asyncio TCP stream to one FlyMQ server."""

    def __init__(self, address: ServerAddress, options: TransportOptions) -> None:
        super().__init__(address, options)
        self._protocol: _StreamProtocol | None = None
        self._transport: asyncio.Transport | None = None
        self._fileno = -1
        self._closed = False

    # -- connecting -------------------------------------------------------------------------------

    async def connect(self) -> None:
        if self._transport is not None:
            return
        if self._closed:
            raise ConnectionError(f"transport to {self.address} is closed; create a new one")
        sock = await open_socket(self.address, self.options)
        loop = asyncio.get_running_loop()
        protocol = _StreamProtocol(loop)
        try:
            transport = await self._attach(loop, sock, protocol)
        except BaseException:
            sock.close()
            raise
        transport.set_write_buffer_limits(high=WRITE_HIGH_WATER)
        self._protocol, self._transport = protocol, transport
        self._fileno = sock.fileno()

    async def _attach(
        self, loop: asyncio.AbstractEventLoop, sock: socket.socket, protocol: _StreamProtocol
    ) -> asyncio.Transport:
        transport, _ = await loop.create_connection(lambda: protocol, sock=sock)
        return transport

    def _live(self) -> tuple[_StreamProtocol, asyncio.Transport]:
        protocol, transport = self._protocol, self._transport
        if protocol is None or transport is None or self._closed:
            raise ConnectionError(f"connection to {self.address} is closed")
        return protocol, transport

    # -- the ABC ----------------------------------------------------------------------------------

    async def write(self, data: bytes) -> None:
        self.write_nowait(data)
        await self.drain()

    async def read(self, max_bytes: int) -> bytes:
        protocol, _ = self._live()
        return await protocol.read(max_bytes)

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        transport, protocol = self._transport, self._protocol
        if transport is None or protocol is None:
            return
        transport.close()
        if not protocol.closed:
            closed = protocol.loop.create_future()
            previous = protocol.on_close

            def done(exc: BaseException | None) -> None:
                if previous is not None:
                    previous(exc)
                if not closed.done():
                    closed.set_result(None)

            protocol.on_close = done
            try:
                await asyncio.wait_for(closed, 5.0)
            except asyncio.TimeoutError:
                logger.debug("closing the connection to %s did not finish in 5 s; aborting", self.address)
                transport.abort()

    # -- capabilities used by the asyncio connection ----------------------------------------------

    def set_receiver(self, on_data: DataCallback, on_close: CloseCallback) -> None:
        """Deliver every received chunk to ``on_data`` (from the event loop) and the end of the stream
        to ``on_close(error or None)`` instead of buffering for :meth:`read`."""
        protocol, _ = self._live()
        if protocol.buffer:
            pending = bytes(protocol.buffer)
            protocol.buffer.clear()
            on_data(pending)
        protocol.on_data = on_data
        protocol.on_close = on_close
        if protocol.eof:
            protocol._finished(protocol.error)

    def write_nowait(self, data: bytes) -> None:
        """Queue ``data`` (a whole frame) for writing, synchronously: it is never split."""
        protocol, transport = self._live()
        if protocol.closed or transport.is_closing():
            raise ConnectionError(f"connection to {self.address} is closed")
        transport.write(data)

    async def drain(self) -> None:
        """Wait while the write buffer is above its high-water mark (flow control)."""
        protocol, _ = self._live()
        await protocol.drain()

    def peer_closed(self) -> bool:
        """``True`` when the server already closed the stream (only asked while nothing is pending).

        The event loop reads a socket as soon as it is readable, so an EOF that arrived before the
        last loop iteration already shows on the protocol; one that arrived since shows as a readable
        socket (FlyMQ never sends unsolicited data, so readability alone means "closed").
        """
        protocol, transport = self._protocol, self._transport
        if protocol is None or transport is None or self._closed or transport.is_closing():
            return True
        if protocol.eof or protocol.closed:
            return True
        if _HAS_POLL and self._fileno >= 0:
            poller = select.poll()
            poller.register(self._fileno, _POLL_EVENTS)
            return bool(poller.poll(0))
        return False

    @property
    def ssl_object(self) -> ssl.SSLObject | None:
        """The TLS session (``None`` for plain TCP or before connecting)."""
        transport = self._transport
        return None if transport is None else transport.get_extra_info("ssl_object")

    @property
    def socket(self) -> socket.socket | None:
        """The underlying socket as the event loop exposes it (``None`` before connecting)."""
        transport = self._transport
        return None if transport is None else transport.get_extra_info("socket")


class AsyncTlsTransport(AsyncTcpTransport):
    """An asyncio TLS stream to one FlyMQ server (TLS-only listener; there is no STARTTLS)."""

    async def connect(self) -> None:
        if self._transport is None and not self._closed:
            build_ssl_context(self.options)  # fail on bad certificate files before dialling
        await super().connect()

    async def _attach(
        self, loop: asyncio.AbstractEventLoop, sock: socket.socket, protocol: _StreamProtocol
    ) -> asyncio.Transport:
        options = self.options
        context = build_ssl_context(options)
        if options.tls_insecure_skip_verify:
            warnings.warn(
                f"TLS certificate verification is disabled for {self.address} "
                "(tls_insecure_skip_verify=True): the connection can be intercepted. Testing only.",
                InsecureTransportWarning,
                stacklevel=2,
            )
        server_hostname = options.tls_server_hostname or self.address.host or "localhost"
        try:
            transport, _ = await loop.create_connection(
                lambda: protocol,
                sock=sock,
                ssl=context,
                server_hostname=server_hostname,
                ssl_handshake_timeout=options.connect_timeout,
            )
        except (ssl.SSLError, OSError) as exc:  # builtins.TimeoutError (asyncio's too, from 3.11)
            raise handshake_error(self.address, exc) from exc
        except asyncio.TimeoutError as exc:  # Python 3.10: not the builtin; the sync transport's
            raise handshake_error(self.address, builtins.TimeoutError("timed out")) from exc
        ssl_object = transport.get_extra_info("ssl_object")
        if ssl_object is not None:
            logger.debug(
                "TLS %s established with %s (%s)", ssl_object.version(), self.address, ssl_object.cipher()
            )
        return transport
