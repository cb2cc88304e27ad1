"""AsyncFlyMQClient against the server under test (embedded broker, or ``--flymq-bootstrap``).

The same operations as the sync client, awaited; results are checked against what the sync client
(``flymq_client``) reads back from the same server.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import pytest

from pyflymq import AsyncFlyMQClient, connect_async
from pyflymq_core.errors import (
    AuthenticationError,
    FeatureDisabledError,
    GroupNotFoundError,
    OffsetOutOfRangeError,
    TopicNotFoundError,
)
from tests.support.aio import run as run_guarded

T = TypeVar("T")


def run(coro: Coroutine[Any, Any, T], timeout: float = 60.0) -> T:
    """Integration calls get a longer bound (a real server may be remote)."""
    return run_guarded(coro, timeout)


def test_produce_consume_fetch(
    flymq_bootstrap: str,
    flymq_client_kwargs: dict[str, Any],
    flymq_client: Any,
    unique_topic: Callable[..., str],
) -> None:
    topic = unique_topic("aio")

    async def main() -> None:
        async with AsyncFlyMQClient(flymq_bootstrap, **flymq_client_kwargs) as client:
            meta = await client.produce(topic, b"Hello, FlyMQ!")
            assert (meta.topic, meta.partition, meta.offset) == (topic, 0, 0)
            keyed = await client.produce(topic, "text value", key="user-123")
            assert keyed.key_size == len("user-123")
            msg = await client.consume(topic, 0)
            assert msg.decode() == "Hello, FlyMQ!" and msg.key is None
            assert (await client.consume_zero_copy(topic, 1)).decode_key() == "user-123"
            batch = await client.fetch(topic, 0, 0, 10)
            assert [m.value for m in batch] == [b"Hello, FlyMQ!", b"text value"] and batch.next_offset == 2
            assert [m.offset for m in await client.fetch_binary(topic, 0, 1, 10)] == [1]
            assert [m.offset for m in await client.fetch(topic, 0, 0, 10, filter="text")] == [1]
            with pytest.raises(OffsetOutOfRangeError):
                await client.consume(topic, 5)

    run(main())
    assert [m.value for m in flymq_client.fetch(topic, 0, 0, 10)] == [b"Hello, FlyMQ!", b"text value"]


def test_eight_tasks_share_one_connection(
    flymq_bootstrap: str,
    flymq_client_kwargs: dict[str, Any],
    flymq_client: Any,
    unique_topic: Callable[..., str],
) -> None:
    topic = unique_topic("aio-pipeline")
    tasks, per_task = 8, 1000

    async def worker(client: AsyncFlyMQClient, index: int) -> list[int]:
        return [(await client.produce(topic, f"{index}:{i}".encode())).offset for i in range(per_task)]

    async def main() -> list[list[int]]:
        async with AsyncFlyMQClient(flymq_bootstrap, **flymq_client_kwargs) as client:
            await client.create_topic(topic, 1)
            results = await asyncio.gather(*(worker(client, i) for i in range(tasks)))
            assert client.metrics()["connections"] == 1
            return list(results)

    results = run(main())
    offsets = sorted(o for offsets in results for o in offsets)
    assert offsets == list(range(tasks * per_task))  # unique and complete
    for own in results:
        assert own == sorted(own)  # each task's records in its call order
    stored: dict[int, bytes] = {}
    offset = 0
    while offset < tasks * per_task:
        batch = flymq_client.fetch(topic, 0, offset, 1000)
        stored.update((m.offset, m.value) for m in batch)
        offset = batch.next_offset
    for index, own in enumerate(results):
        assert [stored[o] for o in own] == [f"{index}:{i}".encode() for i in range(per_task)]


def test_gather_of_concurrent_requests_is_pipelined(
    flymq_bootstrap: str, flymq_client_kwargs: dict[str, Any], unique_topic: Callable[..., str]
) -> None:
    topic = unique_topic("aio-gather")

    async def main() -> None:
        client = await connect_async(flymq_bootstrap, **flymq_client_kwargs)
        try:
            metas = await asyncio.gather(*(client.produce(topic, f"m{i}") for i in range(300)))
            assert sorted(m.offset for m in metas) == list(range(300))
            fetched = await asyncio.gather(*(client.fetch(topic, 0, o, 100) for o in range(0, 300, 100)))
            assert [m.decode() for batch in fetched for m in batch] == [f"m{i}" for i in range(300)]
        finally:
            await client.close()

    run(main())


def test_topics_and_metadata(
    flymq_bootstrap: str, flymq_client_kwargs: dict[str, Any], unique_topic: Callable[..., str]
) -> None:
    topic = unique_topic("aio-meta")

    async def main() -> None:
        async with AsyncFlyMQClient(flymq_bootstrap, **flymq_client_kwargs) as client:
            await client.create_topic(topic, partitions=3)
            meta = await client.get_topic_metadata(topic)
            assert meta.partition_count == 3 and [p.partition for p in meta.partitions] == [0, 1, 2]
            assert (await client.cluster_metadata(topic)).topic(topic) is not None
            assert topic in await client.list_topics()
            await client.delete_topic(topic)
            assert topic not in await client.list_topics()
            with pytest.raises(TopicNotFoundError):
                await client.get_topic_metadata(topic)

    run(main())


def test_consumer_group_offsets(
    flymq_bootstrap: str, flymq_client_kwargs: dict[str, Any], unique_topic: Callable[..., str]
) -> None:
    topic, group = unique_topic("aio-groups"), unique_topic("g")

    async def main() -> None:
        async with AsyncFlyMQClient(flymq_bootstrap, **flymq_client_kwargs) as client:
            for i in range(5):
                await client.produce(topic, f"m{i}".encode())
            assert await client.subscribe(topic, group, 0, "earliest") == 0
            batch = await client.fetch(topic, 0, 0, 3)
            await client.commit_offset(topic, group, 0, batch.next_offset)
            assert await client.get_committed_offset(topic, group, 0) == 3
            assert await client.subscribe(topic, group, 0, "commit") == 3
            lag = await client.get_lag(topic, group, 0)
            assert (lag.committed_offset, lag.latest_offset, lag.lag) == (3, 5, 2)
            await client.reset_offset(topic, group, 0, "offset", offset=1)
            assert await client.get_committed_offset(topic, group, 0) == 1
            try:
                info = await client.describe_group(topic, group)
                assert {(o.partition, o.offset) for o in info.offsets} == {(0, 1)}
                assert any(g.group_id == group for g in await client.list_groups())
                await client.delete_group(topic, group)
                with pytest.raises(GroupNotFoundError):
                    await client.describe_group(topic, group)
            except AuthenticationError:
                pytest.skip("group administration needs an admin user on this server")

    run(main())


def test_schemas_dlq_delayed_ttl(
    flymq_bootstrap: str,
    flymq_client_kwargs: dict[str, Any],
    flymq_options: Any,
    unique_topic: Callable[..., str],
) -> None:
    schema_name, topic = unique_topic("aio-schema"), unique_topic("aio-users")
    schema = {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]}

    async def main() -> None:
        async with AsyncFlyMQClient(flymq_bootstrap, **flymq_client_kwargs) as client:
            await client.register_schema(schema_name, "json", schema)
            info = await client.get_schema(schema_name)
            assert (info.name, info.version) == (schema_name, 1)
            assert await client.validate_schema(schema_name, json.dumps({"name": "Alice"}))
            assert not (await client.validate_schema(schema_name, b'{"age": 1}')).valid
            assert [s.id for s in await client.list_schemas(schema_name)] == [f"{schema_name}-v1"]
            meta = await client.produce_with_schema(topic, json.dumps({"name": "Bob"}), schema_name)
            assert meta.topic == topic
            await client.delete_schema(schema_name, 1)
            assert await client.fetch_dlq(topic) == []  # also what a server with its DLQ off answers
            try:
                await client.purge_dlq(topic)
            except FeatureDisabledError:
                if flymq_options.embedded:  # the embedded broker's DLQ is on
                    raise
            assert (await client.produce_with_ttl(topic, b"ttl", 60_000)).topic == topic
            assert (await client.produce_delayed(topic, b"later", 1)).topic == topic

    run(main())


def test_transactions(
    flymq_bootstrap: str,
    flymq_client_kwargs: dict[str, Any],
    flymq_client: Any,
    unique_topic: Callable[..., str],
) -> None:
    first, second = unique_topic("aio-tx1"), unique_topic("aio-tx2")

    async def main() -> None:
        async with AsyncFlyMQClient(flymq_bootstrap, **flymq_client_kwargs) as client:
            async with client.transaction() as txn:
                txn.produce(first, b"Message 1")
                txn.produce(second, b"Message 2")
            assert txn.state == "committed"
            txn = client.begin_transaction()
            txn.produce(first, b"rolled back")
            txn.rollback()
            with pytest.raises(RuntimeError):
                async with client.transaction() as failing:
                    failing.produce(first, b"never")
                    raise RuntimeError("boom")
            assert failing.state == "rolled back"

    run(main())
    assert [m.value for m in flymq_client.fetch(first, 0, 0, 10)] == [b"Message 1"]
    assert [m.value for m in flymq_client.fetch(second, 0, 0, 10)] == [b"Message 2"]


def test_memory_transport_by_url(flymq_memory_url: str) -> None:
    async def main() -> None:
        async with AsyncFlyMQClient(flymq_memory_url) as client:
            assert (await client.produce("in-process", b"x")).offset == 0
            assert (await client.consume("in-process", 0)).value == b"x"
            metas = await asyncio.gather(*(client.produce("in-process", b"y") for _ in range(100)))
            assert sorted(m.offset for m in metas) == list(range(1, 101))

    run(main())
