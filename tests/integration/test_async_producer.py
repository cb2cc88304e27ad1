"""AsyncProducer against the server under test: the seed's producer patterns, awaited — futures,
callbacks, batching, per-key ordering, flush/close — with results read back by the sync client."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import pytest
from pydantic import BaseModel

from pyflymq import AsyncFlyMQClient, RecordMetadata
from pyflymq_core.aio.producer import AsyncRecordFuture, ProducerClosedError
from pyflymq_core.errors import InvalidArgumentError, SerializationError
from pyflymq_core.plugins import get_plugin_manager, hookimpl
from pyflymq_core.protocol import OpCode
from tests.support.aio import run as run_guarded

T = TypeVar("T")


def run(coro: Coroutine[Any, Any, T], timeout: float = 60.0) -> T:
    """The shared guarded runner with this file's bound."""
    return run_guarded(coro, timeout)


@pytest.fixture
def client_kwargs(flymq_options: Any) -> dict[str, Any]:
    kwargs: dict[str, Any] = flymq_options.client_kwargs()
    return kwargs


def read_all(client: Any, topic: str, partition: int = 0) -> list[Any]:
    out: list[Any] = []
    offset = 0
    while True:
        batch = client.fetch(topic, partition, offset, 1000)
        if not batch.messages:
            return out
        out.extend(batch.messages)
        offset = batch.next_offset


def test_send_with_callbacks_and_future_get(
    flymq_bootstrap: str, client_kwargs: dict[str, Any], unique_topic: Callable[..., str]
) -> None:
    events = unique_topic("events")
    sent: list[RecordMetadata] = []
    failed: list[Exception] = []

    async def main() -> None:
        client = AsyncFlyMQClient(flymq_bootstrap, **client_kwargs)
        async with client.producer(batch_size=100, linger_ms=10) as producer:

            def on_success(metadata: RecordMetadata) -> None:
                sent.append(metadata)

            def on_error(error: Exception) -> None:
                failed.append(error)

            future = await producer.send(
                topic=events,
                value=b'{"event": "click"}',
                key="user-123",
                on_success=on_success,
                on_error=on_error,
            )
            assert isinstance(future, AsyncRecordFuture) and isinstance(future, asyncio.Future)
            metadata = await future.get(timeout_ms=5000)
            assert metadata.topic == events and metadata.offset == 0
            assert await future is metadata and future.succeeded() and not future.failed()
        assert producer.closed
        await client.close()

    run(main())
    assert [m.offset for m in sent] == [0] and not failed


def test_high_throughput_pattern_batches_writes(
    flymq_bootstrap: str, client_kwargs: dict[str, Any], flymq_client: Any, unique_topic: Callable[..., str]
) -> None:
    topic = unique_topic("aio-bulk")
    count = 10_000

    async def main() -> dict[str, int]:
        async with AsyncFlyMQClient(flymq_bootstrap, **client_kwargs) as client:
            await client.create_topic(topic, 1)
            producer = client.producer(batch_size=16_384, linger_ms=5, max_retries=3, retry_backoff_ms=100)
            futures = [await producer.send(topic, f"event-{i}".encode()) for i in range(count)]
            await producer.flush()
            assert all(f.done() for f in futures)
            offsets = [f.result().offset for f in futures]
            assert offsets == list(range(count))  # one connection: acknowledged in send order
            await producer.close()
            with pytest.raises(ProducerClosedError):
                await producer.send(topic, b"late")
            return producer.metrics()

    metrics = run(main())
    assert metrics["acknowledged"] == count and metrics["failed"] == 0 and metrics["incomplete"] == 0
    assert metrics["writes"] < count / 10  # many records per write
    assert [m.value for m in read_all(flymq_client, topic)] == [f"event-{i}".encode() for i in range(count)]


def test_records_with_one_key_keep_their_order(
    flymq_bootstrap: str, client_kwargs: dict[str, Any], flymq_client: Any, unique_topic: Callable[..., str]
) -> None:
    topic = unique_topic("aio-keys")
    keys = [f"user-{k}" for k in range(6)]

    async def main() -> list[RecordMetadata]:
        async with AsyncFlyMQClient(flymq_bootstrap, **client_kwargs) as client:
            await client.create_topic(topic, 4)
            async with client.producer(linger_ms=2, max_batch_messages=50) as producer:
                futures = [
                    await producer.send(topic, f"{keys[i % len(keys)]}:{i}", keys[i % len(keys)])
                    for i in range(1200)
                ]
            return [f.result() for f in futures]

    metas = run(main())
    per_key: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for i, meta in enumerate(metas):
        per_key[keys[i % len(keys)]].append((meta.partition, meta.offset))
    for placements in per_key.values():
        assert len({p for p, _ in placements}) == 1  # one key, one partition
        assert [o for _, o in placements] == sorted(o for _, o in placements)
    for partition in range(4):
        values = [m.decode() for m in read_all(flymq_client, topic, partition)]
        for key in keys:
            sequence = [int(v.split(":")[1]) for v in values if v.startswith(key + ":")]
            assert sequence == sorted(sequence)


def test_callbacks_run_once_and_invalid_records_raise_at_send(
    flymq_bootstrap: str, client_kwargs: dict[str, Any], unique_topic: Callable[..., str]
) -> None:
    topic = unique_topic("aio-cb")
    calls: list[int] = []

    async def main() -> None:
        async with AsyncFlyMQClient(flymq_bootstrap, **client_kwargs) as client:
            producer = client.producer()
            with pytest.raises(InvalidArgumentError):
                await producer.send("", b"no topic")
            for i in range(100):

                def on_success(meta: RecordMetadata, i: int = i) -> None:
                    calls.append(i)

                await producer.send(topic, b"v", on_success=on_success)
            await producer.close()
            assert len(producer) == 0

    run(main())
    assert sorted(calls) == list(range(100))


def test_gather_and_wait_for_accept_record_futures(
    flymq_bootstrap: str, client_kwargs: dict[str, Any], unique_topic: Callable[..., str]
) -> None:
    topic = unique_topic("aio-gather-futures")

    async def main() -> None:
        async with (
            AsyncFlyMQClient(flymq_bootstrap, **client_kwargs) as client,
            client.producer() as producer,
        ):
            futures = [await producer.send(topic, f"{i}") for i in range(50)]
            metas = await asyncio.gather(*futures)
            assert [m.offset for m in metas] == list(range(50))
            assert (await asyncio.wait_for(await producer.send(topic, b"x"), 5)).offset == 50

    run(main())


def test_acknowledgements_decoded_on_demand_behave_like_futures(
    flymq_bootstrap: str, client_kwargs: dict[str, Any], unique_topic: Callable[..., str]
) -> None:
    """Fire-and-forget records keep their answers undecoded; every way of looking at the future
    still gives the RecordMetadata."""
    topic = unique_topic("aio-lazy")

    async def main() -> None:
        async with (
            AsyncFlyMQClient(flymq_bootstrap, **client_kwargs) as client,
            client.producer() as producer,
        ):
            futures = [await producer.send(topic, f"{i}") for i in range(6)]
            await producer.flush()
            assert all(f.done() and f.succeeded() and not f.cancelled() for f in futures)
            assert not futures[0].cancel()  # done: cannot be cancelled
            assert "finished" in repr(futures[0]) and futures[0].result().offset == 0
            assert futures[1].exception() is None
            assert [m.offset for m in await asyncio.gather(futures[2], futures[3])] == [2, 3]
            done, pending = await asyncio.wait([futures[4]])
            assert done == {futures[4]} and not pending
            seen: list[int] = []
            futures[5].add_done_callback(lambda f: seen.append(f.result().offset))
            await asyncio.sleep(0)
            assert seen == [5] and (await futures[5].get(timeout_ms=10)).offset == 5

    run(main())


class _Click(BaseModel):
    user: str
    n: int


def test_pydantic_models_round_trip_through_the_json_serializer(
    flymq_bootstrap: str, client_kwargs: dict[str, Any], flymq_client: Any, unique_topic: Callable[..., str]
) -> None:
    topic = unique_topic("aio-models")
    clicks = [_Click(user=f"u{i}", n=i) for i in range(5)]

    async def main() -> None:
        async with AsyncFlyMQClient(flymq_bootstrap, **client_kwargs) as client:
            async with client.producer(serializer="json", key_serializer="string") as producer:
                for click in clicks:
                    await producer.send(topic, click, key=click.user)
                with pytest.raises(SerializationError):
                    await producer.send(topic, {"when": object()})
            assert await client.consume_object(topic, 0, deserializer=_Click) == clicks[0]

    run(main())
    stored = read_all(flymq_client, topic)
    assert [m.key for m in stored] == [c.user.encode() for c in clicks]
    assert [_Click.model_validate_json(m.value) for m in stored] == clicks


def test_metrics_plugins_count_the_producers_records(
    flymq_bootstrap: str, client_kwargs: dict[str, Any], unique_topic: Callable[..., str]
) -> None:
    topic = unique_topic("aio-observed")
    after: list[tuple[int, int | None]] = []

    class Recorder:
        @hookimpl
        def pyflymq_after_response(
            self, client: Any, op: int, resp_op: int | None, elapsed_s: float, error: BaseException | None
        ) -> None:
            after.append((op, resp_op))

    recorder = Recorder()

    async def main() -> None:
        async with AsyncFlyMQClient(flymq_bootstrap, **client_kwargs) as client:
            await client.create_topic(topic, 1)
            get_plugin_manager().register(recorder, name="aio-producer-metrics")
            try:
                async with client.producer(linger_ms=5) as producer:
                    for i in range(200):
                        await producer.send(topic, f"m{i}".encode())
            finally:
                get_plugin_manager().unregister(recorder)

    run(main())
    produce = int(OpCode.PRODUCE)
    assert after.count((produce, produce)) == 200
