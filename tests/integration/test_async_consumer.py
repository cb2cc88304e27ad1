"""AsyncConsumer against the server under test: ``async for``, ``poll`` with its timeout, commits
of the next offset, resume after restart, seek/position, static membership, ``latest`` on an empty
partition, pause/resume."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import pytest

from pyflymq import AsyncFlyMQClient
from pyflymq_core.aio.consumer import AsyncConsumer, ConsumerClosedError
from pyflymq_core.consumer.assignment import TopicPartition, assign_partitions
from pyflymq_core.errors import InvalidArgumentError, PartitionNotFoundError, SerializationError
from pyflymq_core.protocol import OpCode
from tests.support.aio import run as run_guarded
from tests.unit.lifecycle_recorder import recording

T = TypeVar("T")


def run(coro: Coroutine[Any, Any, T], timeout: float = 60.0) -> T:
    """The shared guarded runner with this file's bound."""
    return run_guarded(coro, timeout)


@pytest.fixture
def client_kwargs(flymq_options: Any) -> dict[str, Any]:
    kwargs: dict[str, Any] = flymq_options.client_kwargs()
    return kwargs


async def take(consumer: AsyncConsumer, count: int) -> list[Any]:
    out: list[Any] = []
    async for message in consumer:
        out.append(message)
        if len(out) == count:
            break
    return out


def test_async_for_reads_every_partition_and_commits(
    flymq_bootstrap: str, client_kwargs: dict[str, Any], flymq_client: Any, unique_topic: Callable[..., str]
) -> None:
    topic, group = unique_topic("aio-c"), unique_topic("g")
    flymq_client.create_topic(topic, 3)
    for i in range(300):
        flymq_client.produce(topic, f"m{i}", key=f"k{i % 7}")

    async def main() -> None:
        async with AsyncFlyMQClient(flymq_bootstrap, **client_kwargs) as client:
            async with client.consumer(topic, group, auto_offset_reset="earliest") as consumer:
                messages = await take(consumer, 300)
                assert sorted(m.decode() for m in messages) == sorted(f"m{i}" for i in range(300))
                assert len({(m.partition, m.offset) for m in messages}) == 300
                for partition in range(3):
                    own = [m.offset for m in messages if m.partition == partition]
                    assert own == sorted(own) and await consumer.position(partition) == own[-1] + 1
                assert await consumer.poll(timeout_ms=100) == []
            # close() committed the next offset of every partition (auto-commit)
            for partition in range(3):
                latest = (await client.get_lag(topic, group, partition)).latest_offset
                assert await client.get_committed_offset(topic, group, partition) == latest

    run(main())


def test_poll_honours_timeout_and_max_records(
    flymq_bootstrap: str, client_kwargs: dict[str, Any], flymq_client: Any, unique_topic: Callable[..., str]
) -> None:
    topic, group = unique_topic("aio-poll"), unique_topic("g")
    flymq_client.create_topic(topic, 1)

    async def main() -> None:
        async with AsyncFlyMQClient(flymq_bootstrap, **client_kwargs) as client:
            consumer = client.consumer(
                topics=[topic], group_id=group, auto_commit=False, auto_offset_reset="earliest"
            )
            started = time.monotonic()
            assert await consumer.poll(timeout_ms=300, max_records=100) == []
            assert 0.25 <= time.monotonic() - started < 3
            for i in range(25):
                await client.produce(topic, f"v{i}")
            got: list[Any] = []
            while len(got) < 25:
                batch = await consumer.poll(timeout_ms=2000, max_records=10)
                assert batch and len(batch) <= 10
                got.extend(batch)
            assert [m.decode() for m in got] == [f"v{i}" for i in range(25)]
            assert await consumer.committed(0) is None  # auto_commit=False: nothing yet
            await consumer.commit()
            assert await consumer.committed(0) == 25
            assert await client.get_committed_offset(topic, group, 0) == 25
            await consumer.close()
            with pytest.raises(ConsumerClosedError):
                await consumer.poll(10)

    run(main())


def test_restart_resumes_from_the_committed_offset(
    flymq_bootstrap: str, client_kwargs: dict[str, Any], flymq_client: Any, unique_topic: Callable[..., str]
) -> None:
    topic, group = unique_topic("aio-resume"), unique_topic("g")
    for i in range(20):
        flymq_client.produce(topic, f"m{i}")

    async def main() -> None:
        async with AsyncFlyMQClient(flymq_bootstrap, **client_kwargs) as client:
            async with client.consumer(topic, group, auto_offset_reset="earliest") as first:
                assert [m.decode() for m in await take(first, 8)] == [f"m{i}" for i in range(8)]
            async with client.consumer(topic, group) as second:  # "latest", but the group has a commit
                assert await second.position(0) == 8
                assert [m.decode() for m in await take(second, 12)] == [f"m{i}" for i in range(8, 20)]

    run(main())


def test_seek_position_beginning_end(
    flymq_bootstrap: str, client_kwargs: dict[str, Any], flymq_client: Any, unique_topic: Callable[..., str]
) -> None:
    topic, group = unique_topic("aio-seek"), unique_topic("g")
    for i in range(200):
        flymq_client.produce(topic, f"m{i}")

    async def main() -> None:
        async with AsyncFlyMQClient(flymq_bootstrap, **client_kwargs) as client:
            consumer = client.consumer(topic, group)
            await consumer.seek(partition=0, offset=100)
            assert await consumer.position(partition=0) == 100
            assert [m.offset for m in await consumer.poll(1000, 3)] == [100, 101, 102]
            await consumer.seek_to_beginning()
            assert [m.offset for m in await consumer.poll(1000, 2)] == [0, 1]
            await consumer.seek_to_end()
            assert await consumer.position(0) == 200
            assert await consumer.poll(100) == []
            await client.produce(topic, b"new")
            assert [m.value for m in await consumer.poll(3000)] == [b"new"]
            assert await consumer.assignment() == {TopicPartition(topic, 0)}
            assert await consumer.end_offsets() == {TopicPartition(topic, 0): 201}
            with pytest.raises(InvalidArgumentError):
                await consumer.seek(partition=5, offset=0)
            await consumer.close()
            assert await client.get_committed_offset(topic, group, 0) == 201

    run(main())


def test_static_membership_splits_partitions_without_overlap(
    flymq_bootstrap: str, client_kwargs: dict[str, Any], flymq_client: Any, unique_topic: Callable[..., str]
) -> None:
    topic, group = unique_topic("aio-members"), unique_topic("g")
    flymq_client.create_topic(topic, 8)
    for i in range(400):
        flymq_client.produce(topic, f"m{i}", key=f"key-{i}")

    async def member(client: AsyncFlyMQClient, index: int) -> list[Any]:
        async with client.consumer(
            topic, group, member_index=index, member_count=2, auto_offset_reset="earliest"
        ) as consumer:
            assigned = {tp.partition for tp in await consumer.assignment()}
            assert assigned == set(assign_partitions(topic, 8, member_index=index, member_count=2))
            share = sum((await consumer.end_offsets()).values())  # what its partitions hold
            out: list[Any] = []
            deadline = time.monotonic() + 20
            while len(out) < share:  # not "until an empty poll": a remote server may answer late
                assert time.monotonic() < deadline, f"member {index} got {len(out)} of {share} records"
                out.extend(await consumer.poll(timeout_ms=1000))
            assert await consumer.poll(timeout_ms=200) == []  # and nothing more
            return out

    async def main() -> None:
        async with AsyncFlyMQClient(flymq_bootstrap, **client_kwargs) as client:
            first, second = await asyncio.gather(member(client, 0), member(client, 1))
        seen_first = {(m.partition, m.offset) for m in first}
        seen_second = {(m.partition, m.offset) for m in second}
        assert not seen_first & seen_second  # no duplicates
        assert len(first) + len(second) == 400  # no gap
        assert {m.partition for m in first}.isdisjoint({m.partition for m in second})

    run(main())


def test_latest_on_an_empty_partition_does_not_skip_the_first_message(
    flymq_bootstrap: str, client_kwargs: dict[str, Any], flymq_client: Any, unique_topic: Callable[..., str]
) -> None:
    topic, group = unique_topic("aio-latest"), unique_topic("g")
    flymq_client.create_topic(topic, 1)

    async def main() -> None:
        async with AsyncFlyMQClient(flymq_bootstrap, **client_kwargs) as client:
            async with client.consumer(topic, group) as consumer:  # auto_offset_reset="latest"
                assert await consumer.position(0) == 0  # the server says 1 here
                await client.produce(topic, b"first ever")
                assert [m.value for m in await consumer.poll(3000)] == [b"first ever"]
            async with client.consumer(topic) as groupless:  # no group: end offset without a group
                assert await groupless.position(0) == 1
                with pytest.raises(InvalidArgumentError, match="needs a group_id"):
                    await groupless.commit()

    run(main())


def test_topic_created_after_start_is_picked_up(
    flymq_bootstrap: str, client_kwargs: dict[str, Any], unique_topic: Callable[..., str]
) -> None:
    topic, group = unique_topic("aio-late"), unique_topic("g")

    async def main() -> None:
        async with (
            AsyncFlyMQClient(flymq_bootstrap, **client_kwargs) as client,
            client.consumer(topic, group, auto_offset_reset="earliest") as consumer,
        ):
            assert await consumer.assignment() == set()
            await client.produce(topic, b"one")
            await client.produce(topic, b"two")
            got: list[Any] = []
            deadline = time.monotonic() + 10
            while len(got) < 2 and time.monotonic() < deadline:
                got.extend(await consumer.poll(500))
            assert [m.value for m in got] == [b"one", b"two"]

    run(main())


def test_pause_resume_and_several_topics(
    flymq_bootstrap: str, client_kwargs: dict[str, Any], flymq_client: Any, unique_topic: Callable[..., str]
) -> None:
    first, second, group = unique_topic("aio-t1"), unique_topic("aio-t2"), unique_topic("g")
    for i in range(5):
        flymq_client.produce(first, f"a{i}")
        flymq_client.produce(second, f"b{i}")

    async def main() -> None:
        async with AsyncFlyMQClient(flymq_bootstrap, **client_kwargs) as client:
            consumer = client.consumer([first, second], group, auto_offset_reset="earliest")
            await consumer.pause((second, 0))
            assert consumer.paused() == {TopicPartition(second, 0)}
            got: list[Any] = []
            while len(got) < 5:
                got.extend(await consumer.poll(1000))
            assert {m.topic for m in got} == {first}
            assert await consumer.poll(200) == []
            await consumer.resume([TopicPartition(second, 0)])
            got = await consumer.poll(2000)
            assert [m.decode() for m in got] == [f"b{i}" for i in range(5)]
            with pytest.raises(InvalidArgumentError, match="reads 2 topics"):
                await consumer.position(0)
            assert await consumer.position(0, topic=first) == 5
            await consumer.close()

    run(main())


def test_deserializers_and_a_record_that_does_not_deserialize(
    flymq_bootstrap: str, client_kwargs: dict[str, Any], flymq_client: Any, unique_topic: Callable[..., str]
) -> None:
    topic, group = unique_topic("aio-deser"), unique_topic("g")
    flymq_client.create_topic(topic, 1)
    for value, key in ((b'{"n": 0}', "a"), (b'{"n": 1}', "b"), (b"{oops", "c"), (b'{"n": 3}', "d")):
        flymq_client.produce(topic, value, key=key)

    async def main() -> None:
        async with AsyncFlyMQClient(flymq_bootstrap, **client_kwargs) as client:
            consumer = client.consumer(
                topic, group, auto_offset_reset="earliest", deserializer="json", key_deserializer="string"
            )
            first = await take(consumer, 2)
            assert [(m.deserialized, m.deserialized_key) for m in first] == [({"n": 0}, "a"), ({"n": 1}, "b")]
            for _ in range(2):  # raised again until the application moves on
                with pytest.raises(SerializationError) as info:
                    await consumer.poll(2000)
                assert (info.value.topic, info.value.partition, info.value.offset) == (topic, 0, 2)
                assert await consumer.position(0) == 2
            await consumer.seek(0, 3)
            (last,) = await consumer.poll(2000)
            assert last.deserialized == {"n": 3}
            await consumer.close()

    run(main())


def test_unknown_explicit_partitions_fail_at_start(
    flymq_bootstrap: str, client_kwargs: dict[str, Any], flymq_client: Any, unique_topic: Callable[..., str]
) -> None:
    topic = unique_topic("aio-parts")
    flymq_client.create_topic(topic, 2)

    async def main() -> None:
        async with AsyncFlyMQClient(flymq_bootstrap, **client_kwargs) as client:
            consumer = client.consumer(topic, unique_topic("g"), partitions=[0, 4])
            with pytest.raises(PartitionNotFoundError) as info:
                await consumer.start()
            assert (info.value.topic, info.value.partition) == (topic, 4)
            await consumer.close()

    run(main())


def test_fetch_and_commit_go_through_the_lifecycle_hooks(
    flymq_bootstrap: str, client_kwargs: dict[str, Any], flymq_client: Any, unique_topic: Callable[..., str]
) -> None:
    topic, group = unique_topic("aio-hooks"), unique_topic("g")
    flymq_client.create_topic(topic, 1)
    flymq_client.produce(topic, b"v")

    async def main() -> None:
        async with AsyncFlyMQClient(flymq_bootstrap, **client_kwargs) as client:
            consumer = client.consumer(topic, group, auto_offset_reset="earliest", auto_commit=False)
            assert len(await consumer.poll(2000)) == 1
            await consumer.commit()
            await consumer.close()

    with recording() as recorder:
        run(main())
    after = [detail for kind, detail in recorder.events if kind == "after"]
    assert (OpCode.FETCH, OpCode.FETCH, None) in after and (OpCode.COMMIT, OpCode.COMMIT, None) in after


def test_commit_async_reports_through_its_callback_and_future(
    flymq_bootstrap: str, client_kwargs: dict[str, Any], flymq_client: Any, unique_topic: Callable[..., str]
) -> None:
    topic, group = unique_topic("aio-commit-async"), unique_topic("g")
    for i in range(5):
        flymq_client.produce(topic, f"m{i}")
    reported: list[tuple[dict[TopicPartition, int], BaseException | None]] = []

    async def main() -> None:
        async with AsyncFlyMQClient(flymq_bootstrap, **client_kwargs) as client:
            consumer = client.consumer(topic, group, auto_offset_reset="earliest", enable_auto_commit=False)
            async with consumer:
                assert len(await take(consumer, 5)) == 5
                future = consumer.commit_async(lambda offsets, error: reported.append((offsets, error)))
                assert await future == {TopicPartition(topic, 0): 5}  # the next offset to read
                assert await consumer.committed(0) == 5

    run(main())
    assert reported == [({TopicPartition(topic, 0): 5}, None)]
    assert flymq_client.get_committed_offset(topic, group, 0) == 5


def test_auto_commit_stores_the_position_on_its_interval(
    flymq_bootstrap: str, client_kwargs: dict[str, Any], flymq_client: Any, unique_topic: Callable[..., str]
) -> None:
    topic, group = unique_topic("aio-auto-commit"), unique_topic("g")
    for i in range(3):
        flymq_client.produce(topic, f"m{i}")

    async def main() -> None:
        async with AsyncFlyMQClient(flymq_bootstrap, **client_kwargs) as client:
            consumer = client.consumer(topic, group, auto_offset_reset="earliest", auto_commit_interval_ms=50)
            async with consumer:
                assert len(await take(consumer, 3)) == 3
                deadline = time.monotonic() + 10
                while flymq_client.get_committed_offset(topic, group, 0) != 3:
                    assert time.monotonic() < deadline, "auto-commit did not store the position"
                    await consumer.poll(timeout_ms=50)  # polling drives the interval

    run(main())
