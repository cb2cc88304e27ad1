"""The embedded broker on TCP (optionally TLS): an asyncio server around the broker state machine.

One :class:`~pyflymq_broker.Session` per connection.  Each chunk read is fed to the session and
whatever it answers is written straight back, so pipelined requests are answered in order, exactly
as the real server's one-goroutine-per-connection loop does.  When the session says the real
server would hang up (bad magic, wrong version, oversize frame) the connection is closed without a
word after the replies already produced are flushed.

The loop uses ``asyncio.Protocol`` callbacks rather than streams: a chunk goes from the socket to
the state machine and back without a task switch, which is what the throughput targets need.

:class:`BrokerServer` serves both worlds: ``start()``/``stop()`` (or ``with``) run the loop in a
background thread for synchronous code and tests; ``await serve()`` / ``async with`` run it on the
caller's loop.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
import threading
from collections.abc import Callable
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

from pyflymq_core.errors import ConfigurationError

if TYPE_CHECKING:
    from pyflymq_broker import Broker, BrokerConfig, Session

__all__ = [
    "DEFAULT_HOST",
    "DEFAULT_IDLE_TIMEOUT",
    "DEFAULT_TICK_INTERVAL",
    "BrokerServer",
    "make_server_ssl_context",
]

logger = logging.getLogger("pyflymq.broker")

T = TypeVar("T")

DEFAULT_HOST = "127.0.0.1"
#: How often delayed messages are delivered and transactions expired (seconds).
DEFAULT_TICK_INTERVAL = 0.1
#: The real server closes a connection on which no whole frame arrived for 5 minutes.
DEFAULT_IDLE_TIMEOUT = 300.0
#: The real server's socket buffer sizes.
SOCKET_BUFFER_SIZE = 4 * 1024 * 1024
#: TLS 1.2 suites the real server allows (ECDHE with AES-GCM or ChaCha20); TLS 1.3 suites are fixed.
TLS12_CIPHERS = "ECDHE+AESGCM:ECDHE+CHACHA20"
#: On stop, how long connections may take to flush their replies before they are aborted (seconds).
CLOSE_GRACE_PERIOD = 1.0


def make_server_ssl_context(cert_file: str, key_file: str, ca_file: str | None = None) -> ssl.SSLContext:
    """A server context like the real server's: TLS >= 1.2, ECDHE AEAD suites, no client certificates.

    A CA file is loaded (the real server sets it as ``ClientCAs``) but, as there, client
    certificates are neither requested nor verified.
    """
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.set_ciphers(TLS12_CIPHERS)
    try:
        context.load_cert_chain(cert_file, key_file)
        if ca_file:
            context.load_verify_locations(ca_file)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigurationError(
            f"cannot load the broker's TLS certificate/key ({cert_file}, {key_file}): {exc}",
            hint="Pass PEM files: a certificate (chain) and its unencrypted private key.",
        ) from exc
    context.verify_mode = ssl.CERT_NONE
    return context


def _format_address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class _Connection(asyncio.Protocol):
    """One client connection: bytes in, session, bytes out."""

    __slots__ = ("_closing", "_feed", "_peer", "_server", "_session", "_transport", "last_active")

    def __init__(self, server: BrokerServer) -> None:
        self._server = server
        self._transport: asyncio.Transport | None = None
        self._session: Session | None = None
        self._feed: Callable[[bytes], Any] | None = None
        self._closing = False
        self._peer = "?"
        self.last_active = 0.0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        sock = transport.get_extra_info("socket")
        if sock is not None:
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SOCKET_BUFFER_SIZE)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, SOCKET_BUFFER_SIZE)
            except OSError as exc:  # some platforms cap buffer sizes; not fatal for a test broker
                logger.debug("could not set socket options: %s", exc)
        peer = transport.get_extra_info("peername")
        if isinstance(peer, tuple) and len(peer) >= 2:
            self._peer = _format_address(str(peer[0]), int(peer[1]))
        server = self._server
        self.last_active = server.loop_time()
        self._session = server.broker.open_session(client_addr=self._peer)
        self._feed = self._session.feed
        server._connections.add(self)
        logger.debug("connection from %s", self._peer)

    def data_received(self, data: bytes) -> None:
        feed = self._feed
        if self._closing or feed is None:
            return
        try:
            result = feed(data)
        except Exception:
            logger.exception("the broker failed on a request from %s; closing that connection", self._peer)
            self.close()
            return
        output = result.output
        if output:
            assert self._transport is not None
            self._transport.write(output)
            self.last_active = self._server.loop_time()
        if result.close:
            logger.debug("framing violation from %s: closing silently", self._peer)
            self.close()

    def eof_received(self) -> bool:
        return False  # close our side too (a half-sent frame is discarded, as on the real server)

    def connection_lost(self, exc: Exception | None) -> None:
        self._closing = True
        self._feed = None
        self._server._connections.discard(self)
        session, self._session = self._session, None
        if session is not None:
            try:
                session.close()
            except Exception:
                logger.exception("the broker failed to clean up the session of %s", self._peer)
        if exc is not None:
            logger.debug("connection from %s lost: %s", self._peer, exc)
        else:
            logger.debug("connection from %s closed", self._peer)

    def pause_writing(self) -> None:
        # The client is not reading its replies: stop reading its requests until it catches up.
        if self._transport is not None and not self._closing:
            self._transport.pause_reading()

    def resume_writing(self) -> None:
        if self._transport is not None and not self._closing:
            self._transport.resume_reading()

    def close(self) -> None:
        """Flush what was already answered, then close (the transport does both)."""
        self._closing = True
        if self._transport is not None:
            self._transport.close()

    def abort(self) -> None:
        """Close now, dropping unsent replies."""
        self._closing = True
        if self._transport is not None:
            self._transport.abort()


class BrokerServer:
    """Serve a :class:`~pyflymq_broker.Broker` on TCP or TLS.

    ``broker`` defaults to a fresh ``Broker(config or BrokerConfig())``, closed when the server
    stops (a broker passed in stays the caller's to close).  ``port=0`` binds an
    ephemeral port; :attr:`address` tells which once started.  TLS is on when ``ssl_context`` or
    ``tls_cert_file``/``tls_key_file`` are given (the listener is then TLS-only, like the real
    server's).
    """

    def __init__(
        self,
        broker: Broker | None = None,
        *,
        config: BrokerConfig | None = None,
        host: str = DEFAULT_HOST,
        port: int = 0,
        ssl_context: ssl.SSLContext | None = None,
        tls_cert_file: str | None = None,
        tls_key_file: str | None = None,
        tls_ca_file: str | None = None,
        tick_interval: float = DEFAULT_TICK_INTERVAL,
        idle_timeout: float | None = DEFAULT_IDLE_TIMEOUT,
    ) -> None:
        if broker is not None and config is not None:
            raise ConfigurationError("pass either a broker or a config to BrokerServer, not both")
        #: A broker the server made itself is closed with it (it may hold files under data_dir).
        self._owns_broker = broker is None
        if broker is None:
            from pyflymq_broker import Broker, BrokerConfig

            broker = Broker(config if config is not None else BrokerConfig())
        if not 0 <= port < 65536:
            raise ConfigurationError(f"invalid port {port}", hint="Ports are 0-65535 (0 = any free port).")
        if (tls_cert_file is None) != (tls_key_file is None):
            raise ConfigurationError("TLS needs both a certificate file and a key file")
        if ssl_context is None and tls_cert_file is not None and tls_key_file is not None:
            ssl_context = make_server_ssl_context(tls_cert_file, tls_key_file, tls_ca_file)
        if tick_interval <= 0:
            raise ConfigurationError(f"tick_interval must be positive, not {tick_interval}")
        self.broker: Broker = broker
        self.host = host
        self.ssl_context = ssl_context
        self.tick_interval = tick_interval
        self.idle_timeout = idle_timeout
        self._requested_port = port
        self._port: int | None = None
        self._bound_host = host
        self._connections: set[_Connection] = set()
        self._server: asyncio.AbstractServer | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop_event: asyncio.Event | None = None
        self._tick_handle: asyncio.TimerHandle | None = None
        self._closed = False
        # background-thread mode
        self._thread: threading.Thread | None = None
        self._started = threading.Event()
        self._start_error: BaseException | None = None

    # ------------------------------------------------------------------ properties

    @property
    def tls(self) -> bool:
        """Whether the server speaks TLS (its URL is then ``flymqs://``)."""
        return self.ssl_context is not None

    @property
    def port(self) -> int:
        """The bound port (the ephemeral one when created with ``port=0``)."""
        if self._port is None:
            raise RuntimeError("the broker server is not started")
        return self._port

    @property
    def address(self) -> str:
        """``host:port`` to give clients (``[v6]:port`` for IPv6 hosts)."""
        return _format_address(self._bound_host, self.port)

    @property
    def url(self) -> str:
        """``flymq://host:port`` or ``flymqs://host:port``."""
        return f"{'flymqs' if self.tls else 'flymq'}://{self.address}"

    @property
    def connection_count(self) -> int:
        """Open client connections, for tests that check clients close theirs."""
        return len(self._connections)

    @property
    def running(self) -> bool:
        """Whether the server accepts connections (started and not yet stopped)."""
        return self._server is not None and not self._closed

    def loop_time(self) -> float:
        """The serving loop's clock, which idle timeouts are measured on (0 before start)."""
        return self._loop.time() if self._loop is not None else 0.0

    def __repr__(self) -> str:
        where = self.address if self._port is not None else "not started"
        return f"<BrokerServer {where}{' tls' if self.tls else ''}>"

    # ------------------------------------------------------------------ asyncio API

    async def start_serving(self) -> None:
        """Bind and start accepting connections on the running loop; returns once bound."""
        if self._server is not None:
            return
        if self._closed:
            raise RuntimeError("a stopped BrokerServer cannot be restarted; create a new one")
        loop = asyncio.get_running_loop()
        self._loop = loop
        self._stop_event = asyncio.Event()
        try:
            server = await loop.create_server(
                lambda: _Connection(self),
                self.host,
                self._requested_port,
                ssl=self.ssl_context,
                reuse_address=True,
                backlog=512,
            )
        except OSError as exc:
            raise ConfigurationError(
                f"cannot listen on {_format_address(self.host, self._requested_port)}: {exc.strerror or exc}",
                hint="Pick another port (0 = any free port) or stop whatever is using it.",
            ) from exc
        self._server = server
        sockname = server.sockets[0].getsockname()
        self._bound_host, self._port = str(sockname[0]), int(sockname[1])
        self._advertise_bound_address()
        self._tick_handle = loop.call_later(self.tick_interval, self._tick)
        logger.info("embedded FlyMQ broker listening on %s%s", self.address, " (TLS)" if self.tls else "")

    def _advertise_bound_address(self) -> None:
        """Make the broker report where it really listens.

        The broker reports a configured address as CLUSTER_METADATA ``leader_addr`` (``bind_addr``;
        in cluster mode ``advertise_addr`` when set), and clients route by it; on an ephemeral port
        the configured one would send them elsewhere. A configured address that already names this
        port (``":9092"`` included) is kept verbatim, as the real server reports it.
        """
        broker = self.broker
        field = broker.topology.leader_addr_field(broker.config)
        configured = broker.topology.leader_addr(broker.config)
        host, _, port = configured.rpartition(":")
        host = host.strip("[]")
        if port.isdigit() and int(port) == self.port and host in ("", self._bound_host):
            return
        with broker.lock:
            broker.config = broker.config.model_copy(update={field: self.address})
        logger.debug("broker reports %s %s (configured %r)", field, self.address, configured)

    async def serve(self) -> None:
        """Start (if needed) and serve until :meth:`request_stop`, ``stop()`` or cancellation."""
        await self.start_serving()
        assert self._stop_event is not None
        try:
            await self._stop_event.wait()
        finally:
            await self.aclose()

    def request_stop(self) -> None:
        """Ask :meth:`serve` to return; callable from any thread and from signal handlers."""
        loop, event = self._loop, self._stop_event
        if loop is None or event is None or loop.is_closed():
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            event.set()
        else:
            loop.call_soon_threadsafe(event.set)

    async def aclose(self) -> None:
        """Stop listening, close every connection and stop ticking; idempotent."""
        if self._closed:
            return
        self._closed = True
        if self._tick_handle is not None:
            self._tick_handle.cancel()
            self._tick_handle = None
        server = self._server
        if server is not None:
            server.close()
        for conn in list(self._connections):
            conn.close()
        # Closing flushes pending replies first; a client that never reads them gets cut off.
        loop = asyncio.get_running_loop()
        deadline = loop.time() + CLOSE_GRACE_PERIOD
        while self._connections and loop.time() < deadline:
            await asyncio.sleep(0.01)
        for conn in list(self._connections):
            conn.abort()
        if server is not None:
            await server.wait_closed()
        if self._owns_broker:
            self.broker.close()
        logger.info("embedded FlyMQ broker on %s stopped", self.address if self._port else "?")

    async def __aenter__(self) -> BrokerServer:
        await self.start_serving()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    # ------------------------------------------------------------------ thread API

    def start(self, timeout: float = 10.0) -> BrokerServer:
        """Run the server in a daemon thread; return once it is bound (raises if binding failed)."""
        if self._thread is not None:
            raise RuntimeError("this BrokerServer was already started")
        self._thread = threading.Thread(target=self._run_thread, name="pyflymq-broker", daemon=True)
        self._thread.start()
        if not self._started.wait(timeout):
            raise RuntimeError(f"the embedded broker did not start within {timeout} s")
        if self._start_error is not None:
            self._thread.join(timeout)
            raise self._start_error
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Stop a server started with :meth:`start` and wait for its thread; idempotent."""
        thread = self._thread
        if thread is None:
            return
        self.request_stop()
        thread.join(timeout)
        if thread.is_alive():
            raise RuntimeError(f"the embedded broker thread did not stop within {timeout} s")

    def call(self, func: Callable[..., T], *args: Any, timeout: float = 10.0) -> T:
        """Run ``func(*args)`` on the server's loop thread and return its result.

        The broker is not locked against the server's own connections; use this to inspect or
        change it from another thread (``server.call(lambda: ...)``) while clients are connected.
        """
        loop = self._loop
        if self._thread is None or loop is None:
            return func(*args)

        async def run() -> T:
            return func(*args)

        return asyncio.run_coroutine_threadsafe(run(), loop).result(timeout)

    def __enter__(self) -> BrokerServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def _run_thread(self) -> None:
        loop = asyncio.new_event_loop()
        try:
            loop.run_until_complete(self._thread_main())
        except BaseException:
            logger.exception("the embedded broker thread failed")
            raise
        finally:
            loop.close()

    async def _thread_main(self) -> None:
        try:
            await self.start_serving()
        except BaseException as exc:
            self._start_error = exc
            self._started.set()
            return
        self._started.set()
        await self.serve()

    # ------------------------------------------------------------------ timers

    def _tick(self) -> None:
        loop = self._loop
        if self._closed or loop is None:
            return
        try:
            self.broker.tick()
        except Exception:
            logger.exception("broker tick failed (delayed delivery / transaction expiry)")
        if self.idle_timeout is not None:
            limit = loop.time() - self.idle_timeout
            for conn in [c for c in self._connections if c.last_active < limit]:
                logger.debug("closing a connection idle for more than %s s", self.idle_timeout)
                conn.close()
        self._tick_handle = loop.call_later(self.tick_interval, self._tick)
