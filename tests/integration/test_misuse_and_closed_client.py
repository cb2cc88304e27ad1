"""What users get when they misuse the API or keep using parts of a closed client: a typed error with
a hint, at once, instead of a hang, a silent empty result or a ``TypeError`` from deep inside.

Found by a review written as a new user (sync and asyncio); each test failed before its fix.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from pyflymq import AsyncFlyMQClient, ConsumerGroup, FlyMQClient, Producer
from pyflymq_core.aio.consumer import AsyncConsumer
from pyflymq_core.aio.producer import AsyncProducer
from pyflymq_core.client.connection import NotSentError
from pyflymq_core.consumer.assignment import TopicPartition
from pyflymq_core.consumer.consumer import HighLevelConsumer
from pyflymq_core.errors import (
    ConnectionError,
    ConsumerClosedError,
    InvalidArgumentTypeError,
    ProducerClosedError,
)
from tests.support.aio import run


@pytest.fixture
def new_client(flymq_bootstrap: str, flymq_options: Any) -> Iterator[Callable[..., FlyMQClient]]:
    """Clients of the server under test that the test may close itself."""
    made: list[FlyMQClient] = []

    def make(**overrides: Any) -> FlyMQClient:
        client = FlyMQClient(flymq_bootstrap, **{**flymq_options.client_kwargs(), **overrides})
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()


def _filled_topic(client: FlyMQClient, name: str, records: int = 3) -> str:
    client.create_topic(name, partitions=1)
    for index in range(records):
        client.produce(name, f"r{index}".encode())
    return name


# --------------------------------------------------------------------------- a closed client


def test_a_consumer_of_a_closed_client_raises_instead_of_polling_forever(
    new_client: Callable[..., FlyMQClient], unique_topic: Callable[..., str]
) -> None:
    client = new_client()
    topic = _filled_topic(client, unique_topic("closed"))
    consumer = client.consumer(topic, "g", auto_offset_reset="earliest")
    assert len(consumer.poll(timeout_ms=5000, max_records=1)) == 1
    client.close()
    with pytest.raises(ConnectionError, match="client is closed"):
        consumer.poll(timeout_ms=200)
    with pytest.raises(ConnectionError, match="client is closed"):
        next(iter(consumer))


def test_a_consumer_group_stops_when_its_client_is_closed(
    new_client: Callable[..., FlyMQClient], unique_topic: Callable[..., str]
) -> None:
    client = new_client()
    topic = _filled_topic(client, unique_topic("closed-group"), records=1)
    seen = threading.Event()
    group = ConsumerGroup(client, topic, "g", lambda message: seen.set(), auto_offset_reset="earliest")
    group.start()
    assert seen.wait(10)
    client.close()
    deadline = time.monotonic() + 10
    while group.running and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not group.running  # the worker ended: retrying can never help a closed client
    assert isinstance(group.last_error, ConnectionError) and "client is closed" in str(group.last_error)
    group.stop()  # the application closed the client itself: nothing more to report


def test_nothing_new_can_be_built_on_a_closed_client(new_client: Callable[..., FlyMQClient]) -> None:
    client = new_client()
    client.close()
    for build in (client.producer, lambda: client.consumer("t", "g"), client.transaction, client.__enter__):
        with pytest.raises(ConnectionError, match="client is closed"):
            build()


def test_records_queued_when_the_client_closes_fail_at_once_naming_the_cause(
    new_client: Callable[..., FlyMQClient], unique_topic: Callable[..., str]
) -> None:
    client = new_client()
    topic = unique_topic("closed-producer")
    client.create_topic(topic, partitions=1)
    producer = client.producer(linger_ms=300, max_retries=5, retry_backoff_ms=60_000)
    future = producer.send(topic, b"x")  # still lingering when the client closes
    client.close()
    with pytest.raises(NotSentError, match="client is closed"):
        future.get(timeout_ms=10_000)  # once the linger ends, not after 5 retries a minute apart
    producer.close(timeout=5)  # the failure was seen (get): nothing more to report


def test_commit_on_a_closed_consumer_raises(
    new_client: Callable[..., FlyMQClient], unique_topic: Callable[..., str]
) -> None:
    client = new_client()
    topic = _filled_topic(client, unique_topic("commit-closed"), records=1)
    consumer = client.consumer(topic, "g", auto_offset_reset="earliest", enable_auto_commit=False)
    consumer.close()
    with pytest.raises(ConsumerClosedError):
        consumer.commit()
    with pytest.raises(ConsumerClosedError):
        consumer.commit_async()


# --------------------------------------------------------------------------- arguments


@pytest.mark.parametrize(
    "build",
    [
        lambda: Producer({"bootstrap.servers": "localhost:9092"}),  # confluent-kafka's spelling
        lambda: Producer("localhost:9092"),  # type: ignore[arg-type]
        lambda: HighLevelConsumer("localhost:9092", "t", "g"),  # type: ignore[arg-type]
        lambda: ConsumerGroup(None, "t", "g", print),  # type: ignore[arg-type]
    ],
)
def test_a_producer_or_consumer_needs_a_client(build: Callable[[], Any]) -> None:
    with pytest.raises(InvalidArgumentTypeError, match="needs a FlyMQ client") as caught:
        build()
    assert caught.value.hint is not None and "connect(" in caught.value.hint


@pytest.mark.parametrize("topics", [123, b"orders", 4.5])
def test_topics_of_the_wrong_type_are_refused(new_client: Callable[..., FlyMQClient], topics: Any) -> None:
    with pytest.raises(InvalidArgumentTypeError, match="topics must be a str or a list of str"):
        new_client().consumer(topics, "g")


def test_poll_arguments_are_checked_and_none_waits_for_records(
    new_client: Callable[..., FlyMQClient], unique_topic: Callable[..., str]
) -> None:
    client = new_client()
    topic = _filled_topic(client, unique_topic("poll-args"))
    consumer = client.consumer(topic, "g", auto_offset_reset="earliest", enable_auto_commit=False)
    with pytest.raises(InvalidArgumentTypeError, match="timeout_ms"):
        consumer.poll(timeout_ms="1000")  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentTypeError, match="max_records"):
        consumer.poll(max_records="5")  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentTypeError, match="max_records"):
        consumer.poll(max_records=2.5)  # type: ignore[arg-type]
    assert [m.offset for m in consumer.poll(timeout_ms=None)] == [0, 1, 2]  # confluent's "wait forever"
    with pytest.raises(InvalidArgumentTypeError, match="mapping of partition") as caught:
        consumer.commit([TopicPartition(topic, 0)])  # type: ignore[arg-type]
    assert caught.value.hint is not None and "commit({" in caught.value.hint
    consumer.close()


async def _async_cb() -> None:
    return None


@pytest.mark.parametrize("callback", ["not callable", 5, _async_cb])
def test_producer_callbacks_are_checked_when_sent(
    new_client: Callable[..., FlyMQClient], unique_topic: Callable[..., str], callback: Any
) -> None:
    client = new_client()
    topic = unique_topic("callbacks")
    client.create_topic(topic, partitions=1)
    with client.producer() as producer:
        with pytest.raises(InvalidArgumentTypeError, match="on_success"):
            producer.send(topic, b"x", on_success=callback)
        with pytest.raises(InvalidArgumentTypeError, match="on_error"):
            producer.send(topic, b"x", on_error=callback)
        assert len(producer) == 0  # nothing was queued
    consumer = client.consumer(topic, "g")
    with pytest.raises(InvalidArgumentTypeError, match="callback"):
        consumer.commit_async(callback)
    consumer.close()


# --------------------------------------------------------------------------- asyncio


def test_async_consumer_of_a_closed_client_raises(
    flymq_bootstrap: str, flymq_options: Any, unique_topic: Callable[..., str]
) -> None:
    async def main() -> None:
        client = AsyncFlyMQClient(flymq_bootstrap, **flymq_options.client_kwargs())
        topic = unique_topic("async-closed")
        await client.create_topic(topic, partitions=1)
        await client.produce(topic, b"x")
        consumer = client.consumer(topic, "g", auto_offset_reset="earliest")
        assert len(await consumer.poll(timeout_ms=5000)) == 1

        async def iterate() -> None:
            async for _ in consumer:
                pass

        task = asyncio.ensure_future(iterate())
        await asyncio.sleep(0.1)
        await client.close()
        with pytest.raises(ConnectionError, match="client is closed"):
            await asyncio.wait_for(task, 10)
        with pytest.raises(ConnectionError, match="client is closed"):
            await consumer.poll(timeout_ms=200)
        with pytest.raises(ConnectionError, match="client is closed"):
            client.producer()
        with pytest.raises(InvalidArgumentTypeError, match="needs a FlyMQ client"):
            AsyncProducer("localhost:9092")  # type: ignore[arg-type]
        with pytest.raises(InvalidArgumentTypeError, match="needs a FlyMQ client"):
            AsyncConsumer(None, "t", "g")  # type: ignore[arg-type]

    run(main())


def test_async_producer_callbacks_are_checked_when_sent(
    flymq_bootstrap: str, flymq_options: Any, unique_topic: Callable[..., str]
) -> None:
    async def main() -> None:
        async with AsyncFlyMQClient(flymq_bootstrap, **flymq_options.client_kwargs()) as client:
            topic = unique_topic("async-callbacks")
            await client.create_topic(topic, partitions=1)
            async with client.producer() as producer:
                with pytest.raises(InvalidArgumentTypeError, match="async function"):
                    await producer.send(topic, b"x", on_success=_async_cb)  # would never be awaited
                with pytest.raises(InvalidArgumentTypeError, match="must be callable"):
                    await producer.send(topic, b"x", on_error="nope")
                assert len(producer) == 0

    run(main())


def test_an_async_producer_never_closed_fails_its_records_loudly(
    flymq_bootstrap: str,
    flymq_options: Any,
    unique_topic: Callable[..., str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    # asyncio.run cancels every task left when main returns: the sender with its buffered records.
    topic = unique_topic("never-closed")
    futures: list[Any] = []

    async def main() -> None:
        client = AsyncFlyMQClient(flymq_bootstrap, **flymq_options.client_kwargs())
        await client.create_topic(topic, partitions=1)
        producer = client.producer(linger_ms=60_000)
        futures.append(await producer.send(topic, b"lingering"))
        # returns without closing the producer (or the client)

    with caplog.at_level(logging.ERROR, logger="pyflymq.producer"):
        asyncio.run(main())
    (future,) = futures
    assert isinstance(future.exception(), ProducerClosedError)
    assert "never closed" in str(future.exception())
    assert "was never closed" in caplog.text and "1 record(s) were not sent" in caplog.text
    assert "never retrieved" not in caplog.text
