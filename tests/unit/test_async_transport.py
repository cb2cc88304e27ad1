"""The asyncio TCP transport: socket options, connect errors and timeouts, EOF, idle-close detection.
(TLS against a real handshake is in tests/integration/test_async_tls.py.)"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Coroutine
from typing import Any, TypeVar

import pytest

from pyflymq_core.errors import ConnectionError
from pyflymq_transports import aio
from pyflymq_transports.aio import AsyncTcpTransport, AsyncTlsTransport
from pyflymq_transports.base import ServerAddress, TransportOptions

T = TypeVar("T")


def run(coro: Coroutine[Any, Any, T], timeout: float = 10.0) -> T:
    return asyncio.run(asyncio.wait_for(coro, timeout))


async def echo_server() -> tuple[asyncio.Server, int, list[asyncio.StreamWriter]]:
    """A loopback server echoing what it reads; the writers let a test hang up on the client."""
    writers: list[asyncio.StreamWriter] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.append(writer)
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    return server, port, writers


def test_tcp_transport_tunes_the_socket_and_moves_bytes() -> None:
    async def main() -> None:
        server, port, _ = await echo_server()
        transport = AsyncTcpTransport(ServerAddress("127.0.0.1", port), TransportOptions())
        await transport.connect()
        await transport.connect()  # idempotent
        sock: Any = transport.socket
        assert sock is not None
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
        # Linux doubles the value set; anything well above the default shows it was applied first.
        assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF) >= 1024 * 1024
        payload = b"x" * 300_000
        await transport.write(payload)
        received = b""
        while len(received) < len(payload):
            received += await transport.read(1 << 20)
        assert received == payload
        assert not transport.peer_closed()
        await transport.close()
        await transport.close()
        assert transport.peer_closed()
        with pytest.raises(ConnectionError, match="closed"):
            await transport.read(10)
        server.close()
        await server.wait_closed()

    run(main())


def test_peer_close_is_seen_without_reading() -> None:
    async def main() -> None:
        server, port, writers = await echo_server()
        transport = AsyncTcpTransport(ServerAddress("127.0.0.1", port), TransportOptions())
        await transport.connect()
        while not writers:
            await asyncio.sleep(0.001)
        writers[0].close()  # the server's idle close
        for _ in range(500):
            if transport.peer_closed():
                break
            await asyncio.sleep(0.002)
        assert transport.peer_closed()
        assert await transport.read(10) == b""  # EOF
        await transport.close()
        server.close()

    run(main())


def test_connection_refused_names_the_address_and_reason() -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    listener.close()

    async def main() -> None:
        transport = AsyncTcpTransport(ServerAddress("127.0.0.1", port), TransportOptions())
        with pytest.raises(
            ConnectionError, match=rf"cannot connect to 127\.0\.0\.1:{port}: Connection refused"
        ):
            await transport.connect()

    run(main())


def test_connect_timeout_is_honoured(monkeypatch: pytest.MonkeyPatch) -> None:
    async def never(self: Any, sock: socket.socket, address: Any) -> None:
        await asyncio.sleep(3600)

    monkeypatch.setattr(asyncio.selector_events.BaseSelectorEventLoop, "sock_connect", never)

    async def main() -> None:
        transport = AsyncTcpTransport(ServerAddress("127.0.0.1", 9), TransportOptions(connect_timeout=0.1))
        loop = asyncio.get_running_loop()
        started = loop.time()
        with pytest.raises(ConnectionError, match=r"timed out after 0\.1 s"):
            await transport.connect()
        assert loop.time() - started < 2

    run(main())


def test_unresolvable_host() -> None:
    async def main() -> None:
        transport = AsyncTcpTransport(ServerAddress("no-such-host.invalid", 9092), TransportOptions())
        with pytest.raises(ConnectionError, match="cannot resolve"):
            await transport.connect()

    run(main())


def test_tls_transport_reports_bad_certificate_files_before_dialling(tmp_path: Any) -> None:
    missing = str(tmp_path / "missing-ca.pem")

    async def main() -> None:
        options = TransportOptions(tls_ca_file=missing)
        transport = AsyncTlsTransport(ServerAddress("127.0.0.1", 9), options)
        with pytest.raises(ConnectionError, match="cannot load the CA file"):
            await transport.connect()

    run(main())


def test_tls_handshake_against_a_plain_server_fails_with_a_hint() -> None:
    async def main() -> None:
        server, port, _ = await echo_server()
        transport = AsyncTlsTransport(
            ServerAddress("127.0.0.1", port),
            TransportOptions(tls_insecure_skip_verify=True, connect_timeout=2),
        )
        with pytest.warns(Warning, match="verification is disabled"), pytest.raises(ConnectionError) as info:
            await transport.connect()
        assert "TLS handshake" in str(info.value)
        server.close()

    run(main())


def test_direct_delivery_hands_chunks_and_the_end_to_the_receiver() -> None:
    async def main() -> None:
        server, port, writers = await echo_server()
        transport = AsyncTcpTransport(ServerAddress("127.0.0.1", port), TransportOptions())
        await transport.connect()
        chunks: list[bytes] = []
        ended: asyncio.Future[BaseException | None] = asyncio.get_running_loop().create_future()
        transport.set_receiver(chunks.append, ended.set_result)
        transport.write_nowait(b"ping")
        await transport.drain()
        while b"".join(chunks) != b"ping":
            await asyncio.sleep(0.001)
        writers[0].close()  # the server hangs up
        assert await asyncio.wait_for(ended, 5) is None
        await transport.close()
        server.close()

    run(main())


def test_reading_pauses_above_the_high_water_mark() -> None:
    async def main() -> None:
        server, port, _ = await echo_server()
        transport = AsyncTcpTransport(ServerAddress("127.0.0.1", port), TransportOptions())
        await transport.connect()
        payload = b"y" * (aio.READ_HIGH_WATER * 2)
        transport.write_nowait(payload)
        await asyncio.sleep(0.3)  # the echo comes back while nobody reads
        protocol = transport._protocol
        assert protocol is not None and len(protocol.buffer) <= aio.READ_HIGH_WATER + 1024 * 1024
        received = 0
        while received < len(payload):
            received += len(await transport.read(1 << 20))
        await transport.drain()
        await transport.close()
        server.close()

    run(main())
