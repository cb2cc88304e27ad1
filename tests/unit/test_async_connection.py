"""AsyncConnection: pipelining, FIFO matching, cancellation, timeouts and failures, without sockets.

A scripted :class:`AsyncTransport` plays the server: every request frame it receives is queued, and
the test decides when (and whether) each is answered.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import pytest

from pyflymq_core.client import calls
from pyflymq_core.client.async_connection import AsyncConnection, wait_for_response
from pyflymq_core.client.calls import complete
from pyflymq_core.client.connection import NotSentError
from pyflymq_core.errors import ConnectionError, TimeoutError
from pyflymq_core.protocol import Frame, FrameParser, OpCode, encode_frame, encode_response
from pyflymq_transports.base import AsyncTransport, ServerAddress, TransportOptions

T = TypeVar("T")


def run(coro: Coroutine[Any, Any, T], timeout: float = 10.0) -> T:
    """Run ``coro`` with a bound, so a hang fails the test instead of stalling the suite."""
    return asyncio.run(asyncio.wait_for(coro, timeout))


async def until(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    """Yield to the loop until ``predicate()`` holds (bounded)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.001)


class ScriptedTransport(AsyncTransport):
    """Collects request frames; the test answers them with :meth:`answer` / :meth:`answer_all`."""

    def __init__(self, *, nowait: bool = True, write_delay: float = 0.0, direct: bool = False) -> None:
        super().__init__(ServerAddress("scripted", 1), TransportOptions())
        self.requests: list[Frame] = []
        self._parser = FrameParser()
        self._out = bytearray()
        self._readable: asyncio.Event | None = None
        self.closed = False
        self.eof = False
        self.fail_writes = False
        self.write_delay = write_delay
        self._on_data: Callable[[bytes], None] | None = None
        self._on_close: Callable[[BaseException | None], None] | None = None
        if nowait:
            self.write_nowait = self._write_nowait  # the optional capability
        if direct:
            self.set_receiver = self._set_receiver  # data handed over without a reader task

    def _set_receiver(
        self, on_data: Callable[[bytes], None], on_close: Callable[[BaseException | None], None]
    ) -> None:
        self._on_data, self._on_close = on_data, on_close

    async def connect(self) -> None:
        self._readable = asyncio.Event()

    def _write_nowait(self, data: bytes) -> None:
        if self.fail_writes:
            raise OSError("broken pipe")
        self.requests.extend(self._parser.feed(data))

    async def write(self, data: bytes) -> None:
        if self.write_delay:
            await asyncio.sleep(self.write_delay)
        self._write_nowait(data)

    async def read(self, max_bytes: int) -> bytes:
        assert self._readable is not None
        while not self._out:
            if self.eof or self.closed:
                return b""
            self._readable.clear()
            await self._readable.wait()
        data = bytes(self._out[:max_bytes])
        del self._out[:max_bytes]
        return data

    async def close(self) -> None:
        self.closed = True
        if self._readable is not None:
            self._readable.set()

    # -- the "server" ------------------------------------------------------------------------------

    def send_raw(self, data: bytes) -> None:
        if self._on_data is not None:
            self._on_data(data)
            return
        self._out += data
        assert self._readable is not None
        self._readable.set()

    def answer(self, index: int, fields: dict[str, Any]) -> None:
        op = self.requests[index].op
        self.send_raw(encode_frame(*encode_response(op, fields)))

    def hang_up(self) -> None:
        self.eof = True
        if self._on_close is not None:
            self._on_close(None)
            return
        assert self._readable is not None
        self._readable.set()


def topics(*names: str) -> dict[str, Any]:
    return {"topics": list(names)}


async def open_conn(transport: ScriptedTransport) -> AsyncConnection:
    return await AsyncConnection(transport, label="scripted:1").open()


async def list_topics(conn: AsyncConnection, timeout: float | None = None) -> list[str]:
    call = calls.list_topics()
    return complete(call, await conn.request(call.op, call.payload, timeout))


@pytest.mark.parametrize(
    ("nowait", "direct"),
    [(True, True), (True, False), (False, False)],
    ids=["direct-delivery", "reader-task", "write-lock"],
)
def test_concurrent_requests_are_pipelined_and_matched_in_order(nowait: bool, direct: bool) -> None:
    async def main() -> None:
        transport = ScriptedTransport(nowait=nowait, direct=direct)
        conn = await open_conn(transport)
        tasks = [asyncio.ensure_future(list_topics(conn)) for _ in range(50)]
        await until(lambda: len(transport.requests) == 50)
        assert conn.in_flight == 50  # all written before any answer: pipelined
        # Answer in one burst (many frames in one read), each with its own index.
        transport.send_raw(
            b"".join(encode_frame(*encode_response(OpCode.LIST_TOPICS, topics(f"t{i}"))) for i in range(50))
        )
        results = await asyncio.gather(*tasks)
        assert results == [[f"t{i}"] for i in range(50)]
        assert conn.in_flight == 0
        await conn.close()

    run(main())


@pytest.mark.parametrize("direct", [True, False], ids=["direct-delivery", "reader-task"])
def test_cancelled_call_keeps_the_connection_in_step(direct: bool) -> None:
    async def main() -> None:
        transport = ScriptedTransport(direct=direct)
        conn = await open_conn(transport)
        first = asyncio.ensure_future(list_topics(conn))
        await until(lambda: len(transport.requests) == 1)
        first.cancel()
        with pytest.raises(asyncio.CancelledError):
            await first
        second = asyncio.ensure_future(list_topics(conn))
        await until(lambda: len(transport.requests) == 2)
        transport.answer(0, topics("for-the-cancelled-call"))
        transport.answer(1, topics("for-the-second-call"))
        assert await second == ["for-the-second-call"]
        assert not conn.closed and conn.in_flight == 0
        await conn.close()

    run(main())


def test_asyncio_wait_for_around_a_call_drops_its_late_response() -> None:
    async def main() -> None:
        transport = ScriptedTransport()
        conn = await open_conn(transport)
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(list_topics(conn), 0.05)
        later = asyncio.ensure_future(list_topics(conn))
        await until(lambda: len(transport.requests) == 2)
        transport.answer(0, topics("late"))
        transport.answer(1, topics("mine"))
        assert await later == ["mine"]
        assert not conn.closed
        await conn.close()

    run(main())


def test_request_timeout_fails_the_call_and_closes_the_connection() -> None:
    async def main() -> None:
        transport = ScriptedTransport()
        conn = await open_conn(transport)
        slow = asyncio.ensure_future(list_topics(conn, timeout=0.05))
        other = asyncio.ensure_future(list_topics(conn))  # no timeout of its own
        await until(lambda: len(transport.requests) == 2)
        with pytest.raises(TimeoutError, match="no response to LIST_TOPICS"):
            await slow
        with pytest.raises(ConnectionError, match="another request timed out"):
            await other
        assert conn.closed and conn.close_reason == "a request timed out"
        await until(lambda: transport.closed)
        with pytest.raises(NotSentError):
            await list_topics(conn)

    run(main())


def test_the_watchdog_rearms_for_later_deadlines() -> None:
    async def main() -> None:
        transport = ScriptedTransport()
        conn = await open_conn(transport)
        first = asyncio.ensure_future(list_topics(conn, timeout=0.2))
        await until(lambda: len(transport.requests) == 1)
        transport.answer(0, topics("a"))
        assert await first == ["a"]
        second = asyncio.ensure_future(list_topics(conn, timeout=0.2))
        with pytest.raises(TimeoutError):
            await second  # expired although the timer was first armed for the answered request
        await conn.close()

    run(main())


@pytest.mark.parametrize("direct", [True, False], ids=["direct-delivery", "reader-task"])
def test_server_close_fails_pending_requests_and_marks_the_connection_closed(direct: bool) -> None:
    async def main() -> None:
        transport = ScriptedTransport(direct=direct)
        conn = await open_conn(transport)
        pending = asyncio.ensure_future(list_topics(conn))
        await until(lambda: len(transport.requests) == 1)
        transport.hang_up()
        with pytest.raises(ConnectionError, match="closed the connection before answering"):
            await pending
        assert conn.closed and conn.close_reason == "closed by the server"
        with pytest.raises(NotSentError):
            await list_topics(conn)

    run(main())


@pytest.mark.parametrize("direct", [True, False], ids=["direct-delivery", "reader-task"])
def test_unsolicited_response_is_an_out_of_step_connection(direct: bool) -> None:
    async def main() -> None:
        transport = ScriptedTransport(direct=direct)
        conn = await open_conn(transport)
        transport.send_raw(encode_frame(*encode_response(OpCode.LIST_TOPICS, topics())))
        await until(lambda: conn.closed)
        assert conn.close_reason is not None and "nobody asked" in conn.close_reason

    run(main())


def test_failed_write_fails_the_request_with_connection_error() -> None:
    async def main() -> None:
        transport = ScriptedTransport()
        conn = await open_conn(transport)
        transport.fail_writes = True
        with pytest.raises(ConnectionError, match="failed while writing LIST_TOPICS"):
            await list_topics(conn)
        assert conn.closed

    run(main())


def test_cancelling_a_suspended_write_closes_the_connection() -> None:
    """Without ``write_nowait`` a transport may suspend mid-write: the stream position is unknown."""

    async def main() -> None:
        transport = ScriptedTransport(nowait=False, write_delay=1.0)
        conn = await open_conn(transport)
        call = asyncio.ensure_future(list_topics(conn))
        await asyncio.sleep(0.01)
        call.cancel()
        with pytest.raises(asyncio.CancelledError):
            await call
        assert conn.closed and conn.close_reason == "write cancelled"

    run(main())


def test_submit_returns_the_future_without_waiting() -> None:
    async def main() -> None:
        transport = ScriptedTransport()
        conn = await open_conn(transport)
        call = calls.list_topics()
        futures = [await conn.submit(call.op, call.payload) for _ in range(3)]
        assert not any(f.done() for f in futures) and conn.in_flight == 3
        for i in range(3):
            transport.answer(i, topics(str(i)))
        frames = await asyncio.gather(*futures)
        assert [complete(call, f) for f in frames] == [["0"], ["1"], ["2"]]
        await conn.close()

    run(main())


def test_close_fails_pending_requests_and_is_idempotent() -> None:
    async def main() -> None:
        transport = ScriptedTransport()
        conn = await open_conn(transport)
        pending = asyncio.ensure_future(list_topics(conn))
        await until(lambda: len(transport.requests) == 1)
        await conn.close()
        await conn.close()
        with pytest.raises(ConnectionError, match="was closed"):
            await pending
        assert transport.closed

    run(main())


def test_idle_connection_closed_by_the_peer_is_not_written_to() -> None:
    """After a second idle, ``peer_closed()`` is asked before writing: nothing is sent on a dead stream."""

    async def main() -> None:
        transport = ScriptedTransport()
        transport.peer_closed = lambda: True  # type: ignore[attr-defined]
        conn = await open_conn(transport)
        conn.last_activity -= 5.0
        with pytest.raises(NotSentError, match="closed the idle connection"):
            await list_topics(conn)
        assert transport.requests == []

    run(main())


def test_wait_for_response_returns_none_in_time_and_leaves_the_request_in_flight() -> None:
    async def main() -> None:
        transport = ScriptedTransport()
        conn = await open_conn(transport)
        call = calls.list_topics()
        future = await conn.submit(call.op, call.payload, timeout=5)
        loop = asyncio.get_running_loop()
        started = loop.time()
        assert await wait_for_response(future, 0.05) is None
        assert loop.time() - started >= 0.04
        assert not future.done() and not conn.closed and conn.in_flight == 1
        assert await wait_for_response(future, 0) is None
        transport.answer(0, topics("a"))
        frame = await wait_for_response(future, 5)
        assert frame is not None and complete(call, frame) == ["a"]
        assert complete(call, await future) == ["a"]  # still the caller's to await
        await conn.close()

    run(main())


def test_wait_for_response_raises_the_requests_failure() -> None:
    async def main() -> None:
        transport = ScriptedTransport()
        conn = await open_conn(transport)
        call = calls.list_topics()
        future = await conn.submit(call.op, call.payload)
        await until(lambda: len(transport.requests) == 1)
        transport.hang_up()
        with pytest.raises(ConnectionError, match="closed the connection"):
            await wait_for_response(future, 5)

    run(main())
