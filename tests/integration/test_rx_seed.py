"""The seed README's "Reactive Streams (RxPY)" and "Async Consumer" snippets, as written (server
address and names substituted), against the server under test.

The Async Consumer snippet loops forever, like the seed's; the test runs it as a task, produces
until it has printed what was produced after it started, then cancels it (bounded waits only).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest


def wait_until(predicate: Callable[[], bool], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.01)


def test_reactive_streams_rxpy(
    flymq_bootstrap: str,
    flymq_client_kwargs: dict[str, Any],
    unique_topic: Callable[..., str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    my_topic, my_group = unique_topic("my-topic"), unique_topic("my-group")
    batches: list[list[str]] = []
    done = threading.Event()

    def process_batch(batch: list[str]) -> None:
        batches.append(batch)
        done.set()

    # --- the seed snippet -------------------------------------------------------------------
    from reactivex import operators as ops

    from pyflymq import FlyMQClient, ReactiveConsumer, ReactiveProducer

    client = FlyMQClient(flymq_bootstrap, **flymq_client_kwargs)

    # Reactive consumer
    consumer = ReactiveConsumer(client, my_topic, my_group)
    consumer.messages().pipe(
        ops.filter(lambda m: b"important" in m.data),  # type: ignore[attr-defined]
        ops.map(lambda m: m.decode()),  # type: ignore[attr-defined]
        ops.buffer_with_count(10),
    ).subscribe(on_next=process_batch)

    consumer.start()

    # Reactive producer
    producer = ReactiveProducer(client, my_topic)
    import reactivex as rx

    source = rx.of(b"msg1", b"msg2", b"msg3")
    source.pipe(producer.publish()).subscribe(on_next=lambda r: print(f"Published at {r.offset}"))
    # --- end of the snippet -----------------------------------------------------------------

    assert capsys.readouterr().out.splitlines() == ["Published at 0", "Published at 1", "Published at 2"]
    assert consumer.wait_ready(15)
    for i in range(12):
        client.produce(my_topic, f"important event {i}".encode())
        client.produce(my_topic, f"routine event {i}".encode())
    assert done.wait(15), "no batch of 10 important messages arrived"
    consumer.stop()
    assert batches[0] == [f"important event {i}" for i in range(10)]
    # stop() completes the stream: buffer_with_count then emits what it holds (up to 2 more).
    delivered = [item for batch in batches for item in batch]
    assert delivered == [f"important event {i}" for i in range(len(delivered))] and len(delivered) <= 12
    client.close()


def test_async_consumer(
    flymq_bootstrap: str,
    flymq_client_kwargs: dict[str, Any],
    unique_topic: Callable[..., str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    topic_name, group_name = unique_topic("topic"), unique_topic("group")

    # --- the seed snippet (its last line, asyncio.run(consume()), is run under supervision below) ---
    from pyflymq import AsyncReactiveConsumer, FlyMQClient

    client = FlyMQClient(flymq_bootstrap, **flymq_client_kwargs)

    async def consume() -> None:
        async with AsyncReactiveConsumer(client, topic_name, group_name) as consumer:
            async for message in consumer:
                print(message.decode())

    # --- end of the snippet -----------------------------------------------------------------

    async def supervise() -> list[str]:
        task = asyncio.ensure_future(consume())
        printed: list[str] = []
        deadline = time.monotonic() + 15
        # Until the consumer is assigned, "latest" may skip what is produced: produce markers until one
        # is printed, then the messages under test.
        while not printed:
            assert time.monotonic() < deadline, "the consumer printed nothing"
            assert not task.done(), task
            client.produce(topic_name, b"marker")
            await asyncio.sleep(0.05)
            printed += capsys.readouterr().out.splitlines()
        for i in range(5):
            client.produce(topic_name, f"payload {i}".encode())
        while sum(line.startswith("payload") for line in printed) < 5:
            assert time.monotonic() < deadline, printed
            await asyncio.sleep(0.02)
            printed += capsys.readouterr().out.splitlines()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return printed

    printed = asyncio.run(asyncio.wait_for(supervise(), 30))
    assert [line for line in printed if line != "marker"] == [f"payload {i}" for i in range(5)]
    # Leaving the "async with" (here by cancellation) committed what was delivered.
    latest = client.get_lag(topic_name, group_name, 0).latest_offset
    assert client.get_committed_offset(topic_name, group_name, 0) == latest
    client.close()
