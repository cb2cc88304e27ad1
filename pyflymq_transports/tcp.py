"""Plain TCP transport (URL scheme ``flymq://``, the default).

Why it looks the way it does:

* ``TCP_NODELAY`` is on and the connection hands over whole frames, so every request leaves in one
  segment train without waiting for the server's delayed ACK (SEMANTICS_NOTES #42: without it a
  client stalls ~40 ms per request once frames exceed the split point).
* 4 MiB send/receive buffers, set *before* ``connect`` so the TCP window scale is negotiated for them
  (the server uses the same size).
* The socket stays in blocking mode and reads and writes carry their own deadlines: a read is one
  blocking ``recv_into`` bounded by ``SO_RCVTIMEO`` (Linux; one syscall, no ``poll`` first), a write
  is ``send(MSG_DONTWAIT)`` completed with ``poll``.  One thread may wait for a response with its own
  request timeout while another writes with its own, which a socket-wide ``settimeout`` cannot
  express.  That is what lets the connection above pipeline requests from many threads
  (``full_duplex``).
* Reads land in one preallocated 256 KiB buffer: ``recv(256 KiB)`` would allocate that much per
  call (an ``mmap`` with glibc), costing more than the read itself for small responses.  The
  connection parses frames straight out of it (:meth:`~TcpTransport.recv_view`), so each response
  payload is copied once, from that buffer into its own ``bytes``.

On platforms without ``poll``/``MSG_DONTWAIT`` (Windows) the transport falls back to ``settimeout``
and reports ``full_duplex = False``, so the connection serialises reads and writes.
"""

from __future__ import annotations

import builtins
import logging
import math
import select
import socket
import struct
import sys
import time

from pyflymq_core.errors import ConnectionError
from pyflymq_transports.base import ServerAddress, Transport, TransportOptions

__all__ = ["Socket", "TcpTransport", "wait_for"]

#: ``socket.socket`` (an alias: inside TcpTransport the name ``socket`` is the property).
Socket = socket.socket

logger = logging.getLogger("pyflymq.transport")

_DONTWAIT = getattr(socket, "MSG_DONTWAIT", 0)
_PEEK = getattr(socket, "MSG_PEEK", 0)
_HAS_POLL = hasattr(select, "poll") and _DONTWAIT != 0
_POLLIN = getattr(select, "POLLIN", 1)
_POLLOUT = getattr(select, "POLLOUT", 4)
#: ``struct timeval`` for SO_RCVTIMEO; Linux only (other platforms use poll + MSG_DONTWAIT).
_RCVTIMEO = struct.Struct("@ll") if sys.platform.startswith("linux") else None
RECV_BUFFER = 256 * 1024
_monotonic = time.monotonic
_POLL_FAILURE = (
    getattr(select, "POLLERR", 8) | getattr(select, "POLLHUP", 16) | getattr(select, "POLLNVAL", 32)
)


def _poll_ms(timeout: float | None) -> int | None:
    """``poll`` wants whole milliseconds; round up so a short wait never becomes a busy loop."""
    if timeout is None:
        return None
    return max(0, math.ceil(timeout * 1000.0))


def wait_for(sock: socket.socket, events: int, timeout: float | None) -> None:
    """Block until ``sock`` is ready for ``events`` or ``timeout`` passes (builtin ``TimeoutError``)."""
    deadline = None if timeout is None else time.monotonic() + timeout
    if _HAS_POLL:
        poller = select.poll()
        poller.register(sock, events | _POLL_FAILURE)
        while True:
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                raise builtins.TimeoutError("timed out")
            if poller.poll(_poll_ms(remaining)):
                return
    else:  # pragma: no cover - platforms without poll
        remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
        readers = [sock] if events & _POLLIN else []
        writers = [sock] if events & _POLLOUT else []
        ready = select.select(readers, writers, [sock], remaining)
        if not any(ready):
            raise builtins.TimeoutError("timed out")


def open_socket(address: ServerAddress, options: TransportOptions) -> socket.socket:
    """Resolve and connect within ``options.connect_timeout``; tune the socket for FlyMQ.

    Raises :class:`pyflymq_core.errors.ConnectionError` naming the address and the reason.
    """
    host = address.host or "localhost"
    timeout = options.connect_timeout
    deadline = None if timeout is None else time.monotonic() + timeout
    try:
        infos = socket.getaddrinfo(host, address.port, type=socket.SOCK_STREAM)
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
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if options.socket_buffer_size:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, options.socket_buffer_size)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, options.socket_buffer_size)
            sock.settimeout(remaining)
            sock.connect(sockaddr)
            sock.settimeout(None)
        except builtins.TimeoutError:
            sock.close()
            reasons.append(f"timed out after {timeout:g} s" if timeout is not None else "timed out")
            continue
        except OSError as exc:
            sock.close()
            reasons.append(exc.strerror or str(exc))
            continue
        return sock
    reason = "; ".join(dict.fromkeys(reasons)) or "no address to connect to"
    raise ConnectionError(f"cannot connect to {address}: {reason}")


class TcpTransport(Transport):
    """A blocking TCP stream to one FlyMQ server."""

    full_duplex = _HAS_POLL

    def __init__(self, address: ServerAddress, options: TransportOptions) -> None:
        super().__init__(address, options)
        self._sock: Socket | None = None
        self._closed = False
        self._read_poll: select.poll | None = None
        self._timeout: float | None = None
        #: Reads land in one preallocated buffer: ``recv(256 KiB)`` would allocate (and on glibc
        #: mmap) 256 KiB per call, which costs more than the read itself for small responses.
        self._buffer = bytearray(RECV_BUFFER)
        self._view = memoryview(self._buffer)
        self._rcvtimeo = 0.0  # current SO_RCVTIMEO in seconds; 0 = none (block)
        self._rcvtimeo_low = self._rcvtimeo_high = 0.0
        self._set_rcvtimeo_range(0.0)

    @property
    def socket(self) -> Socket:
        """The connected socket (``ConnectionError`` when not connected or closed)."""
        sock = self._sock
        if sock is None or self._closed:
            raise ConnectionError(f"connection to {self.address} is closed")
        return sock

    @classmethod
    def from_socket(
        cls, sock: Socket, address: ServerAddress, options: TransportOptions | None = None
    ) -> TcpTransport:
        """Wrap an already connected stream socket (e.g. one end of ``socket.socketpair()``)."""
        transport = cls(address, options or TransportOptions())
        sock.settimeout(None)
        transport._adopt(sock)
        return transport

    def connect(self) -> None:
        if self._sock is not None:
            return
        self._adopt(open_socket(self.address, self.options))

    def _adopt(self, sock: Socket) -> None:
        self._sock = sock
        if _HAS_POLL:
            poller = select.poll()
            poller.register(sock, _POLLIN | _POLL_FAILURE)
            self._read_poll = poller

    # -- generic ABC interface (used by callers that do not know the timeout-carrying methods) ----

    def settimeout(self, timeout: float | None) -> None:
        self._timeout = timeout
        self.socket.settimeout(timeout)

    def sendall(self, data: bytes) -> None:
        self.socket.sendall(data)

    def recv(self, max_bytes: int) -> bytes:
        return self.socket.recv(max_bytes)

    # -- the paths the connection uses --------------------------------------------------------------

    def recv_timeout(self, max_bytes: int, timeout: float | None) -> bytes:
        data = self.recv_view(max_bytes, timeout)
        return data if type(data) is bytes else bytes(data)

    def recv_view(self, max_bytes: int, timeout: float | None) -> bytes | memoryview:
        sock = self._sock
        if sock is None or self._closed:
            raise ConnectionError(f"connection to {self.address} is closed")
        size = max_bytes if max_bytes < RECV_BUFFER else RECV_BUFFER
        if _RCVTIMEO is None:  # pragma: no cover - not Linux
            return self._recv_polled(sock, size, timeout)
        # One blocking recv per read: SO_RCVTIMEO bounds it without a poll() syscall first.  The
        # option is changed (to half the time left, so it is not reset on every call) only when it
        # could overshoot this call's deadline or is far shorter than it (outside the kept range,
        # see _set_rcvtimeo); EAGAIN means "not yet".
        if timeout is None:
            if self._rcvtimeo != 0.0:
                self._set_rcvtimeo(0.0)
            return self._view[: sock.recv_into(self._buffer, size)]
        if not self._rcvtimeo_low <= timeout <= self._rcvtimeo_high:
            self._set_rcvtimeo(max(0.001, timeout / 2 if timeout > 0.01 else timeout))
        try:
            return self._view[: sock.recv_into(self._buffer, size)]
        except BlockingIOError:
            # SO_RCVTIMEO ran out (the clock is read only now, off the fast path).
            deadline = _monotonic() + timeout - self._rcvtimeo
        while True:
            timeout = deadline - _monotonic()
            if timeout <= 0:
                raise builtins.TimeoutError("timed out")
            if self._rcvtimeo > timeout:
                self._set_rcvtimeo(max(0.001, timeout))
            try:
                return self._view[: sock.recv_into(self._buffer, size)]
            except BlockingIOError:
                continue

    def _recv_polled(
        self, sock: Socket, size: int, timeout: float | None
    ) -> bytes:  # pragma: no cover - platforms without SO_RCVTIMEO
        poller = self._read_poll
        if poller is None:  # no poll on this platform
            sock.settimeout(timeout)
            return sock.recv(size)
        if timeout is None:
            return sock.recv(size)
        deadline = _monotonic() + timeout
        while True:
            if not poller.poll(_poll_ms(timeout)):
                raise builtins.TimeoutError("timed out")
            try:
                return sock.recv(size, _DONTWAIT)
            except BlockingIOError:
                timeout = deadline - _monotonic()
                if timeout <= 0:
                    raise builtins.TimeoutError("timed out") from None

    def _set_rcvtimeo(self, seconds: float) -> None:
        if seconds == self._rcvtimeo:
            return
        assert _RCVTIMEO is not None
        whole = int(seconds)
        self.socket.setsockopt(
            socket.SOL_SOCKET, socket.SO_RCVTIMEO, _RCVTIMEO.pack(whole, int((seconds - whole) * 1e6))
        )
        self._set_rcvtimeo_range(seconds)

    def _set_rcvtimeo_range(self, seconds: float) -> None:
        """Record SO_RCVTIMEO = ``seconds`` and the read timeouts it serves unchanged: those it
        cannot overshoot and that are at most 8 times longer (none while it is 0, i.e. blocking)."""
        self._rcvtimeo = seconds
        self._rcvtimeo_low = seconds if seconds else math.inf
        self._rcvtimeo_high = seconds * 8.0 if seconds else -math.inf

    def send_timeout(self, data: bytes, timeout: float | None) -> None:
        sock = self._sock
        if sock is None or self._closed:
            raise ConnectionError(f"connection to {self.address} is closed")
        if not _HAS_POLL:  # pragma: no cover - no poll on this platform
            sock.settimeout(timeout)
            sock.sendall(data)
            return
        try:
            sent = sock.send(data, _DONTWAIT)
        except BlockingIOError:
            sent = 0
        if sent == len(data):
            return
        deadline = None if timeout is None else _monotonic() + timeout
        view = memoryview(data)[sent:]
        while view:
            remaining = None if deadline is None else deadline - _monotonic()
            wait_for(sock, _POLLOUT, remaining)
            try:
                sent = sock.send(view, _DONTWAIT)
            except BlockingIOError:
                continue
            view = view[sent:]

    def peer_closed(self) -> bool:
        sock = self._sock
        if sock is None or self._closed:
            return True
        if not _HAS_POLL:  # pragma: no cover
            return False
        try:
            data = sock.recv(1, _PEEK | _DONTWAIT)
        except BlockingIOError:
            return False
        except OSError as exc:
            logger.debug("connection to %s is broken: %s", self.address, exc)
            return True
        if data:
            logger.warning("unsolicited data from %s on an idle connection; dropping it", self.address)
        # b"" is an orderly close; any byte is unsolicited data, which FlyMQ never sends.
        return True

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        sock = self._sock
        if sock is None:
            return
        try:
            # shutdown wakes a thread blocked in recv/poll on this socket; close alone does not.
            sock.shutdown(socket.SHUT_RDWR)
        except OSError as exc:
            logger.debug("shutdown of the connection to %s: %s", self.address, exc)
        sock.close()
