"""AsyncProducer failure semantics against scripted servers: the sync producer's rules — what is
retried, what fails and how, bounded buffer, close/flush timeouts, failures nobody observed."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from pyflymq import AsyncFlyMQClient, ProducerConfig
from pyflymq_core.aio.producer import DeliveryError, ProducerClosedError
from pyflymq_core.client import async_connection
from pyflymq_core.errors import (
    BufferFullError,
    ConnectionError,
    InvalidArgumentError,
    SerializationError,
    TimeoutError,
)
from pyflymq_core.plugins import get_plugin_manager, hookimpl
from pyflymq_core.protocol import OpCode
from tests.integration.fake_server import CLOSE, NO_REPLY, Error, FakeConn, FakeServer, MiniBroker, Reply
from tests.support.aio import run

FAST: dict[str, Any] = {
    "max_retries": 0,
    "retry_delay_ms": 10,
    "connect_timeout_ms": 2000,
    "keepalive_interval_ms": 0,
}


@pytest.fixture
def server() -> Iterator[FakeServer]:
    with FakeServer() as srv:
        yield srv


def test_records_never_written_are_retried_in_order(
    server: FakeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(async_connection, "STALE_CHECK_AFTER_S", 0.0)

    async def main() -> None:
        async with AsyncFlyMQClient(server.address, **FAST) as client:
            async with client.producer(retry_backoff_ms=10, max_retries=2) as producer:
                first = await producer.send("t", b"0")
                await first
                server.drop_connections()  # the server's idle close: the next write finds it dead
                await asyncio.sleep(0.05)
                futures = [await producer.send("t", f"{i}".encode()) for i in range(1, 20)]
            assert [f.result().offset for f in futures] == list(range(1, 20))
            assert producer.metrics()["failed"] == 0

    run(main())
    values = [value for value in (v for _, v in server.handler.topics["t"][0])]  # type: ignore[attr-defined]
    assert values == [f"{i}".encode() for i in range(20)]


def _closing_after(count: int) -> Any:
    """A broker that stores ``count`` produces, then drops the connection once."""
    broker = MiniBroker()
    seen = {"n": 0, "closed": False}
    lock = threading.Lock()

    def handler(conn: FakeConn, op: int, fields: dict[str, Any]) -> Reply:
        if op == OpCode.PRODUCE:
            with lock:
                seen["n"] += 1
                if seen["n"] > count and not seen["closed"]:
                    seen["closed"] = True
                    return CLOSE
        return broker(conn, op, fields)

    return broker, handler


def test_lost_acknowledgement_fails_by_default_saying_so() -> None:
    broker, handler = _closing_after(5)

    async def main(srv: FakeServer) -> None:
        async with AsyncFlyMQClient(srv.address, **FAST) as client:
            producer = client.producer(max_retries=3)
            futures = [await producer.send("t", f"{i}".encode()) for i in range(20)]
            with pytest.raises(DeliveryError) as info:
                await producer.flush()
            assert len(info.value.futures) == 15
            assert [f.result().offset for f in futures[:5]] == list(range(5))
            error = futures[5].exception()
            assert isinstance(error, ConnectionError)
            assert "may or may not have been written" in str(error) and "at-most-once" in str(error)
            await producer.close()

    with FakeServer(handler) as srv:
        run(main(srv))
    assert len(broker.topics["t"][0]) == 5


def test_retry_unacknowledged_resends_in_order() -> None:
    broker, handler = _closing_after(5)

    async def main(srv: FakeServer) -> None:
        async with AsyncFlyMQClient(srv.address, **FAST) as client:
            async with client.producer(retry_unacknowledged=True, retry_backoff_ms=10) as producer:
                futures = [await producer.send("t", f"{i}".encode(), key="k") for i in range(20)]
            assert all(f.succeeded() for f in futures)
            assert producer.metrics()["retried"] >= 1

    with FakeServer(handler) as srv:
        run(main(srv))
    assert [v for _, v in broker.topics["t"][0]] == [f"{i}".encode() for i in range(20)]


def test_rejected_records_fail_and_unobserved_failures_are_raised_by_flush() -> None:
    broker = MiniBroker()

    def handler(conn: FakeConn, op: int, fields: dict[str, Any]) -> Reply:
        if op == OpCode.PRODUCE and fields["topic"] == "bad":
            return Error("invalid topic name")
        return broker(conn, op, fields)

    errors: list[Exception] = []

    async def main(srv: FakeServer) -> None:
        async with AsyncFlyMQClient(srv.address, **FAST) as client:
            producer = client.producer(max_retries=5)
            await producer.send("bad", b"fire-and-forget")
            await producer.send("good", b"ok")
            with pytest.raises(DeliveryError, match="1 record"):
                await producer.flush()
            await producer.flush()  # reported once
            # With on_error, or awaited: reported there, not by flush.
            await producer.send("bad", b"x", on_error=errors.append)
            awaited = await producer.send("bad", b"y")
            with pytest.raises(Exception, match="invalid topic"):
                await awaited
            await producer.close()

    with FakeServer(handler) as srv:
        run(main(srv))
        assert srv.ops().count(OpCode.PRODUCE) == 4  # server rejections are final: not retried
    assert len(errors) == 1


def test_full_buffer_blocks_then_raises_buffer_full() -> None:
    def handler(conn: FakeConn, op: int, fields: dict[str, Any]) -> Reply:
        return NO_REPLY  # nothing is ever acknowledged

    async def main(srv: FakeServer) -> None:
        async with AsyncFlyMQClient(srv.address, **FAST) as client:
            producer = client.producer(buffer_memory=2_000, max_block_ms=200)
            futures = [await producer.send("t", b"x" * 100) for _ in range(10)]
            loop = asyncio.get_running_loop()
            started = loop.time()
            with pytest.raises(BufferFullError, match="max_block_ms=200"):
                for _ in range(100):
                    futures.append(await producer.send("t", b"x" * 100))
            assert 0.15 < loop.time() - started < 5
            with pytest.raises(TimeoutError, match=r"close\(\) timed out"):
                await producer.close(timeout=0.2)
            unknown = [f for f in futures if isinstance(f.exception(), TimeoutError)]
            unsent = [f for f in futures if isinstance(f.exception(), ProducerClosedError)]
            assert unknown and len(unknown) + len(unsent) == len(futures)

    with FakeServer(handler) as srv:
        run(main(srv))


def test_flush_timeout_leaves_records_queued() -> None:
    release = threading.Event()
    broker = MiniBroker()

    def handler(conn: FakeConn, op: int, fields: dict[str, Any]) -> Reply:
        if op == OpCode.PRODUCE:
            release.wait(10)
        return broker(conn, op, fields)

    async def main(srv: FakeServer) -> None:
        async with AsyncFlyMQClient(srv.address, **FAST) as client:
            producer = client.producer()
            future = await producer.send("t", b"slow")
            with pytest.raises(TimeoutError, match=r"flush\(\) timed out"):
                await producer.flush(timeout=0.1)
            release.set()
            await producer.flush(timeout=10)
            assert (await future).offset == 0
            await producer.close()

    with FakeServer(handler) as srv:
        run(main(srv))


def test_cancelled_future_does_not_break_bookkeeping(server: FakeServer) -> None:
    async def main() -> None:
        async with AsyncFlyMQClient(server.address, **FAST) as client, client.producer() as producer:
            future = await producer.send("t", b"v")
            future.cancel()
            await producer.flush(timeout=5)
            assert len(producer) == 0 and producer.metrics()["acknowledged"] == 1

    run(main())


def test_retry_unacknowledged_from_the_config_and_the_safe_default() -> None:
    async def main(srv: FakeServer) -> None:
        async with AsyncFlyMQClient(srv.address, **FAST) as client:
            assert client.producer().config.retry_unacknowledged is False
            config = ProducerConfig(retry_unacknowledged=True, retry_backoff_ms=10)
            async with client.producer(config=config) as producer:
                futures = [await producer.send("t", f"{i}".encode()) for i in range(20)]
            assert all(f.succeeded() for f in futures)

    broker, handler = _closing_after(5)
    with FakeServer(handler) as srv:
        run(main(srv))
    assert [v for _, v in broker.topics["t"][0]] == [f"{i}".encode() for i in range(20)]


def test_serializers_and_a_value_that_cannot_be_serialized(server: FakeServer) -> None:
    async def main() -> None:
        async with AsyncFlyMQClient(server.address, **FAST) as client:
            async with client.producer(serializer="json", key_serializer="string") as producer:
                first = await producer.send("t", {"n": 1}, key="user-1")
                with pytest.raises(SerializationError) as info:
                    await producer.send("t", {"n": object()})
                assert info.value.codec == "json" and info.value.topic == "t"
                assert len(producer) <= 1 and producer.metrics()["queued"] <= 1  # nothing more queued
            assert (await first).offset == 0

    run(main())
    assert server.handler.topics["t"][0] == [(b"user-1", b'{"n":1}')]  # type: ignore[attr-defined]


def test_a_record_larger_than_the_buffer_is_refused_at_once(server: FakeServer) -> None:
    async def main() -> None:
        async with AsyncFlyMQClient(server.address, **FAST) as client:
            producer = client.producer(buffer_memory=1024)
            with pytest.raises(InvalidArgumentError, match="larger than the producer's buffer_memory"):
                await producer.send("t", b"x" * 2000)
            await producer.close()

    run(main())


class _Recorder:
    def __init__(self) -> None:
        self.before: list[tuple[int, int]] = []
        self.after: list[tuple[int, int | None, str | None]] = []

    @hookimpl
    def pyflymq_before_request(self, client: Any, op: int, payload_size: int) -> None:
        self.before.append((op, payload_size))

    @hookimpl
    def pyflymq_after_response(
        self, client: Any, op: int, resp_op: int | None, elapsed_s: float, error: BaseException | None
    ) -> None:
        self.after.append((op, resp_op, None if error is None else type(error).__name__))


def test_produce_frames_go_through_the_lifecycle_hooks() -> None:
    broker = MiniBroker()

    def handler(conn: FakeConn, op: int, fields: dict[str, Any]) -> Reply:
        if op == OpCode.PRODUCE and fields["value"] == b"bad":
            return Error("EOF")
        return broker(conn, op, fields)

    recorder = _Recorder()

    async def main(srv: FakeServer) -> dict[str, Any]:
        async with AsyncFlyMQClient(srv.address, **FAST) as client:
            get_plugin_manager().register(recorder, name="producer-recorder")
            try:
                async with client.producer() as producer:
                    for value in (b"a", b"bad", b"c"):
                        await producer.send("t", value, on_error=lambda e: None)
            finally:
                get_plugin_manager().unregister(recorder)
            return client.metrics()

    with FakeServer(handler) as srv:
        metrics = run(main(srv))
    produce, error = int(OpCode.PRODUCE), int(OpCode.ERROR)
    produces = [entry for entry in recorder.after if entry[0] == produce]
    assert produces == [
        (produce, produce, None),
        (produce, error, "PartitionFullError"),
        (produce, produce, None),
    ]
    assert [op for op, _ in recorder.before].count(produce) == 3
    assert metrics["requests"] >= 3 and metrics["errors"] >= 1
