"""The transport seam: what a client needs from a byte stream to one server, sync and asyncio.

Deliberately small (in the spirit of httpx's transports and nats.py's): framing, pipelining, auth and
failover live above, in the client; a transport only moves bytes. Third-party transports implement
these classes and register a factory under a URL scheme through the ``pyflymq`` entry points.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field

from pyflymq_core.errors import ConfigurationError

DEFAULT_PORT = 9092


@dataclass(frozen=True)
class ServerAddress:
    """One bootstrap entry: ``scheme://host:port`` (``flymq`` = TCP, ``flymqs`` = TLS, ``memory``)."""

    host: str
    port: int
    scheme: str = "flymq"

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    @property
    def url(self) -> str:
        """The address as a URL (``flymq://host:port``), the form ``connect()`` and logs accept."""
        return f"{self.scheme}://{self}"


def parse_address(text: str, *, default_scheme: str = "flymq") -> ServerAddress:
    """Parse ``host:port``, ``scheme://host:port``, ``[::1]:9092`` or ``memory://name``.

    A missing port means 9092; a missing host (``:9092``, as a standalone server reports its own
    address) is kept empty so the caller can substitute the host it bootstrapped with.
    """
    raw = text.strip()
    if not raw:
        raise ConfigurationError("empty server address", hint="Use host:port, e.g. localhost:9092.")
    scheme = default_scheme
    if "://" in raw:
        scheme, raw = raw.split("://", 1)
        scheme = scheme.lower()
        if not scheme:
            raise ConfigurationError(f"invalid server address {text!r}: empty scheme")
    if scheme == "memory":
        return ServerAddress(raw or "default", 0, scheme)
    host, port_text = raw, ""
    if raw.startswith("["):
        end = raw.find("]")
        if end < 0:
            raise ConfigurationError(f"invalid server address {text!r}: unclosed '['")
        host, rest = raw[1:end], raw[end + 1 :]
        if rest.startswith(":"):
            port_text = rest[1:]
        elif rest:
            raise ConfigurationError(f"invalid server address {text!r}")
    elif raw.count(":") == 1:
        host, port_text = raw.split(":", 1)
    elif raw.count(":") > 1:
        raise ConfigurationError(
            f"invalid server address {text!r}", hint="Write IPv6 addresses in brackets: [::1]:9092."
        )
    port = DEFAULT_PORT
    if port_text:
        if not port_text.isdigit() or not 0 < int(port_text) < 65536:
            raise ConfigurationError(
                f"invalid port in server address {text!r}", hint="Ports are 1-65535, e.g. localhost:9092."
            )
        port = int(port_text)
    return ServerAddress(host, port, scheme)


@dataclass(frozen=True)
class TransportOptions:
    """Connection settings a transport may use (TLS ones only matter to TLS transports)."""

    connect_timeout: float | None = 10.0
    tls_ca_file: str | None = None
    tls_cert_file: str | None = None
    tls_key_file: str | None = None
    tls_insecure_skip_verify: bool = False
    tls_server_hostname: str | None = None
    socket_buffer_size: int | None = 4 * 1024 * 1024
    extra: dict[str, object] = field(default_factory=dict)


class Transport(abc.ABC):
    """A blocking byte stream to one server. Not thread-safe: the connection above serialises use.

    Optional capabilities (defaults keep third-party transports written against the four abstract
    methods working unchanged):

    * ``full_duplex = True`` promises that one thread may block in :meth:`recv_timeout` while another
      calls :meth:`send_timeout`; the connection then reads and writes without a shared lock.  Leave
      it ``False`` and the connection serialises every call.
    * :meth:`recv_timeout` / :meth:`send_timeout` carry their own timeout, so concurrent callers do not
      fight over one socket-wide ``settimeout``; the defaults fall back to ``settimeout``.
    * :meth:`peer_closed` lets the connection notice, before writing, that an idle stream was closed
      by the server (FlyMQ closes connections idle for 5 minutes without a word).
    * :meth:`recv_view` may hand back a view of the transport's read buffer instead of new bytes
      (the connection reads through it); the default returns :meth:`recv_timeout`'s bytes.
    """

    #: ``True`` when :meth:`recv_timeout` and :meth:`send_timeout` may run concurrently.
    full_duplex: bool = False

    def __init__(self, address: ServerAddress, options: TransportOptions) -> None:
        self.address = address
        self.options = options

    def recv_timeout(self, max_bytes: int, timeout: float | None) -> bytes:
        """Read up to ``max_bytes`` waiting at most ``timeout`` seconds (builtin ``TimeoutError``)."""
        self.settimeout(timeout)
        return self.recv(max_bytes)

    def recv_view(self, max_bytes: int, timeout: float | None) -> bytes | memoryview:
        """:meth:`recv_timeout`, allowed to return a view of the transport's own read buffer,
        valid only until the next read (the connection parses it at once, saving a copy of every
        response; FETCH answers are hundreds of KiB).  The default returns :meth:`recv_timeout`'s
        bytes."""
        return self.recv_timeout(max_bytes, timeout)

    def send_timeout(self, data: bytes, timeout: float | None) -> None:
        """Write all of ``data`` within ``timeout`` seconds (builtin ``TimeoutError`` otherwise)."""
        self.settimeout(timeout)
        self.sendall(data)

    def peer_closed(self) -> bool:
        """Best-effort, non-blocking: ``True`` when the server already closed the stream.

        Only meaningful while no response is outstanding (the server never sends unsolicited data).
        The default cannot tell and answers ``False``.
        """
        return False

    @abc.abstractmethod
    def connect(self) -> None:
        """Open the stream within ``options.connect_timeout``; raise ``pyflymq`` ConnectionError."""

    @abc.abstractmethod
    def sendall(self, data: bytes) -> None:
        """Write all of ``data`` (callers pass whole frames, so each frame is one write)."""

    @abc.abstractmethod
    def recv(self, max_bytes: int) -> bytes:
        """Read up to ``max_bytes``; ``b""`` means the server closed the stream."""

    @abc.abstractmethod
    def settimeout(self, timeout: float | None) -> None:
        """Bound how long ``recv``/``sendall`` may block (``None``: forever)."""

    @abc.abstractmethod
    def close(self) -> None:
        """Close the stream; idempotent."""


class AsyncTransport(abc.ABC):
    """The asyncio twin of :class:`Transport`."""

    def __init__(self, address: ServerAddress, options: TransportOptions) -> None:
        self.address = address
        self.options = options

    @abc.abstractmethod
    async def connect(self) -> None:
        """Open the stream within ``options.connect_timeout``."""

    @abc.abstractmethod
    async def write(self, data: bytes) -> None:
        """Write ``data`` and wait until the buffer drains below its high-water mark."""

    @abc.abstractmethod
    async def read(self, max_bytes: int) -> bytes:
        """Read up to ``max_bytes``; ``b""`` on EOF."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Close the stream; idempotent."""
