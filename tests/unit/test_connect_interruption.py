"""A connect in progress when the client closes, and what a failed connect says (TLS included).

``close()`` used to leave an asyncio call that was connecting to finish its connect (up to
``connect_timeout_ms``), succeed after ``close()``, and keep a live connection on a closed client.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from typing import Any, ClassVar

from pyflymq import AsyncFlyMQClient
from pyflymq_core.client.base import BootstrapPlan
from pyflymq_core.errors import ConnectionError
from pyflymq_transports.base import AsyncTransport, ServerAddress, TransportOptions, parse_address
from pyflymq_transports.tls import HANDSHAKE_HINT, VERIFY_HINT, handshake_error
from tests.support.aio import run


class _NeverConnects(AsyncTransport):
    """A server whose TCP or TLS handshake never completes."""

    opened: ClassVar[list[_NeverConnects]] = []

    def __init__(self, address: ServerAddress, options: TransportOptions) -> None:
        super().__init__(address, options)
        self.closed = False
        _NeverConnects.opened.append(self)

    async def connect(self) -> None:
        await asyncio.Event().wait()

    async def write(self, data: bytes) -> None:
        raise AssertionError("never connected")

    async def read(self, max_bytes: int) -> bytes:
        raise AssertionError("never connected")

    async def close(self) -> None:
        self.closed = True


def test_close_interrupts_a_connect_in_progress() -> None:
    async def main() -> None:
        _NeverConnects.opened.clear()
        client = AsyncFlyMQClient("127.0.0.1:1", transport_factory=_NeverConnects, connect_timeout_ms=60_000)
        call = asyncio.ensure_future(client.list_topics())
        await asyncio.sleep(0.05)
        assert _NeverConnects.opened  # connecting
        started = asyncio.get_running_loop().time()
        await client.close()
        try:
            await asyncio.wait_for(call, 5)
        except ConnectionError as exc:
            assert "closed" in str(exc)
        else:
            raise AssertionError("the call succeeded on a closed client")
        assert asyncio.get_running_loop().time() - started < 5  # not the 60 s connect timeout
        assert all(transport.closed for transport in _NeverConnects.opened)  # nothing left open

    run(main())


def test_a_handshake_cut_by_the_peer_names_the_cause() -> None:
    # A TLS client talking to a plaintext server: the peer hangs up, the exception has no text.
    error = handshake_error("127.0.0.1:9092", ConnectionResetError())
    assert str(error).endswith("failed: the server closed the connection (ConnectionResetError)")
    assert error.hint == HANDSHAKE_HINT
    verify = ssl.SSLCertVerificationError(1, "certificate verify failed")
    verify.verify_message = "self-signed certificate"
    assert handshake_error("h:1", verify).hint == VERIFY_HINT
    assert "timed out" in str(handshake_error("h:1", TimeoutError()))


def test_a_failover_search_keeps_the_advice_every_server_agreed_on() -> None:
    servers = [parse_address("a:1"), parse_address("b:2")]
    plan = BootstrapPlan(servers, 0, 0, 0.0)
    for address in servers:
        plan.failed(address, ConnectionError(f"TLS handshake with {address} failed", hint=VERIFY_HINT))
    assert plan.exhausted().hint == VERIFY_HINT  # not "is the server running?"
    mixed = BootstrapPlan(servers, 0, 0, 0.0)
    mixed.failed(servers[0], ConnectionError("TLS handshake failed", hint=VERIFY_HINT))
    mixed.failed(servers[1], ConnectionError("refused"))
    hint = mixed.exhausted().hint
    assert hint is not None and "Start a local one" in hint  # no agreement: the generic advice
    assert "within the time left" in str(mixed.out_of_time())


def test_a_caller_cancelled_as_its_connect_completes_leaves_no_connection_behind() -> None:
    # The connect finishes in the same loop turn as the caller's cancellation (a timeout firing):
    # the finished connection belongs to nobody, so it must be closed, not leaked.
    from pyflymq_transports.memory import AsyncMemoryTransport

    opened: list[AsyncMemoryTransport] = []

    async def main() -> None:
        caller: asyncio.Future[Any] | None = None

        class CancelsItsCaller(AsyncMemoryTransport):
            async def connect(self) -> None:
                await super().connect()
                opened.append(self)
                assert caller is not None
                asyncio.get_running_loop().call_soon(caller.cancel)

        client = AsyncFlyMQClient("memory://cancel-leak", transport_factory=CancelsItsCaller)
        caller = asyncio.ensure_future(client.connect())
        with contextlib.suppress(asyncio.CancelledError):
            await caller
        assert client._primary is None
        assert len(opened) == 1 and opened[0]._closed  # closed, not leaked
        await client.close()

    run(main())
