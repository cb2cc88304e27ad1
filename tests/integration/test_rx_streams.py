"""Reactive streams against the server under test: backpressure policies with a slow subscriber,
errors to ``on_error``, completion on ``stop()``, commits of delivered messages only, the reactive
producer's ordering and error path, and AsyncReactiveConsumer with an asyncio client."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
import reactivex as rx

from pyflymq import AsyncFlyMQClient, AsyncReactiveConsumer, ReactiveConsumer, ReactiveProducer
from pyflymq_core.errors import BufferFullError, ConfigurationError, ConnectionError, InvalidArgumentError


def wait_until(predicate: Callable[[], bool], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.005)


class Recorder:
    """An observer that can be held on its first message (a slow subscriber)."""

    def __init__(self, hold_first: bool = False) -> None:
        self.values: list[Any] = []
        self.errors: list[Exception] = []
        self.completed = threading.Event()
        self.ended = threading.Event()
        self.release = threading.Event()
        self.entered = threading.Event()
        if not hold_first:
            self.release.set()

    def on_next(self, value: Any) -> None:
        self.entered.set()
        self.release.wait(15)
        self.values.append(value)

    def on_error(self, error: Exception) -> None:
        self.errors.append(error)
        self.ended.set()

    def on_completed(self) -> None:
        self.completed.set()
        self.ended.set()


def fill(client: Any, topic: str, count: int) -> None:
    for i in range(count):
        client.produce(topic, f"m{i}".encode())


def test_block_policy_bounds_the_buffer_and_loses_nothing(
    flymq_client: Any, unique_topic: Callable[..., str]
) -> None:
    topic, group = unique_topic("rx-block"), unique_topic("g")
    fill(flymq_client, topic, 200)
    recorder = Recorder(hold_first=True)
    consumer = ReactiveConsumer(
        flymq_client, topic, group, buffer_size=20, backpressure="block", auto_offset_reset="earliest"
    )
    consumer.messages().subscribe(recorder.on_next, recorder.on_error, recorder.on_completed)
    consumer.start()
    assert recorder.entered.wait(15)
    wait_until(lambda: consumer.buffered == 20)  # full: the fetch loop waits
    time.sleep(0.1)
    assert consumer.buffered == 20 and consumer.dropped == 0
    recorder.release.set()
    wait_until(lambda: len(recorder.values) == 200)
    consumer.stop()
    assert recorder.completed.is_set() and not recorder.errors
    assert [m.decode() for m in recorder.values] == [f"m{i}" for i in range(200)]
    assert flymq_client.get_committed_offset(topic, group, 0) == 200


def test_drop_oldest_skips_messages_and_keeps_the_stream_live(
    flymq_client: Any, unique_topic: Callable[..., str]
) -> None:
    topic, group = unique_topic("rx-drop"), unique_topic("g")
    fill(flymq_client, topic, 300)
    recorder = Recorder(hold_first=True)
    consumer = ReactiveConsumer(
        flymq_client, topic, group, buffer_size=10, backpressure="drop_oldest", auto_offset_reset="earliest"
    )
    consumer.messages().subscribe(recorder.on_next, recorder.on_error, recorder.on_completed)
    consumer.start()
    assert recorder.entered.wait(15)
    # One message held by the subscriber, the newest 10 buffered, every other one dropped.
    wait_until(lambda: 1 + consumer.dropped + consumer.buffered == 300)
    assert consumer.buffered in (9, 10)  # 9 when the held one was taken after the last drop
    recorder.release.set()
    wait_until(lambda: bool(recorder.values) and recorder.values[-1].offset == 299)
    offsets = [m.offset for m in recorder.values]
    assert offsets == sorted(set(offsets)) and offsets[-10:] == list(range(290, 300))
    assert len(offsets) == 300 - consumer.dropped
    consumer.stop()
    assert recorder.completed.is_set()
    assert flymq_client.get_committed_offset(topic, group, 0) == 300  # dropped ones are skipped


def test_error_policy_ends_the_stream_with_buffer_full(
    flymq_client: Any, unique_topic: Callable[..., str]
) -> None:
    topic, group = unique_topic("rx-error"), unique_topic("g")
    fill(flymq_client, topic, 100)
    recorder = Recorder(hold_first=True)
    consumer = ReactiveConsumer(
        flymq_client, topic, group, buffer_size=5, backpressure="error", auto_offset_reset="earliest"
    )
    consumer.messages().subscribe(recorder.on_next, recorder.on_error, recorder.on_completed)
    consumer.start()
    assert recorder.entered.wait(15)
    # The first FETCH answered (however slow the server): its records overflow the buffer at once.
    wait_until(lambda: consumer.buffered > 0)
    time.sleep(0.1)
    recorder.release.set()
    assert recorder.ended.wait(15)
    assert len(recorder.errors) == 1 and isinstance(recorder.errors[0], BufferFullError)
    # The held message and the 5 that were buffered when the 6th (or 7th) did not fit: nothing lost
    # before the error, nothing delivered after it.
    delivered = [m.offset for m in recorder.values]
    assert delivered == list(range(len(delivered))) and len(delivered) in (5, 6)
    assert not recorder.completed.is_set() and not consumer.running
    consumer.stop()  # after an error: cleans up, no on_completed
    assert not recorder.completed.is_set()
    assert flymq_client.get_committed_offset(topic, group, 0) == len(delivered)


def test_subscriber_exception_goes_to_on_error(flymq_client: Any, unique_topic: Callable[..., str]) -> None:
    topic = unique_topic("rx-raise")
    fill(flymq_client, topic, 3)
    errors: list[Exception] = []
    ended = threading.Event()

    def explode(message: Any) -> None:
        raise ValueError(f"cannot handle {message.offset}")

    def on_error(error: Exception) -> None:
        errors.append(error)
        ended.set()

    consumer = ReactiveConsumer(flymq_client, topic, unique_topic("g"), auto_offset_reset="earliest")
    consumer.messages().subscribe(explode, on_error)
    with consumer:
        assert ended.wait(15)
    assert isinstance(errors[0], ValueError) and "cannot handle 0" in str(errors[0])
    assert consumer.error is errors[0]


def test_unreachable_server_goes_to_on_error_and_wait_ready(flymq_client: Any) -> None:
    import socket

    from pyflymq import FlyMQClient

    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    errors: list[Exception] = []
    ended = threading.Event()
    client = FlyMQClient(f"127.0.0.1:{port}", max_retries=0, keepalive_interval_ms=0)
    listener.close()  # the sync client connected; the consumer's own connection will be refused
    consumer = ReactiveConsumer(client, "t", "g")

    def on_error(error: Exception) -> None:
        errors.append(error)
        ended.set()

    consumer.messages().subscribe(on_error=on_error)
    consumer.start()
    with pytest.raises(ConnectionError):
        consumer.wait_ready(15)
    assert ended.wait(15) and isinstance(errors[0], ConnectionError)
    consumer.stop()
    client.close()


def test_stop_before_start_completes_and_restart_is_refused(flymq_client: Any) -> None:
    completed = threading.Event()
    consumer = ReactiveConsumer(flymq_client, "t", "g")
    consumer.messages().subscribe(on_completed=completed.set)
    consumer.stop()
    assert completed.is_set()
    with pytest.raises(ConnectionError, match="stopped"):
        consumer.start()


def test_reactive_producer_orders_metadata_and_reports_errors(
    flymq_client: Any, unique_topic: Callable[..., str]
) -> None:
    topic = unique_topic("rx-pub")
    producer = ReactiveProducer(flymq_client, topic)
    offsets: list[int] = []
    done = threading.Event()
    rx.from_iterable([f"v{i}" for i in range(100)]).pipe(producer.publish(max_in_flight=16)).subscribe(
        on_next=lambda r: offsets.append(r.offset), on_completed=done.set
    )
    assert done.wait(15) and offsets == list(range(100)) and producer.published == 100
    keyed: list[Any] = []
    rx.of(("k1", b"a"), ("k1", b"b")).pipe(producer.publish()).subscribe(keyed.append)
    assert [r.key_size for r in keyed] == [2, 2]
    by_function: list[Any] = []
    rx.of(b"x").pipe(producer.publish(key=lambda value: "fn")).subscribe(by_function.append)
    assert by_function[0].key_size == 2

    for window in (1, 4):
        errors: list[Exception] = []
        seen: list[Any] = []
        rx.of(b"ok", 12345, b"never").pipe(producer.publish(max_in_flight=window)).subscribe(
            on_next=seen.append, on_error=errors.append
        )
        assert len(errors) == 1 and isinstance(errors[0], InvalidArgumentError)
        assert len(seen) <= 1  # nothing after the error
    with pytest.raises(ConfigurationError):
        producer.publish(max_in_flight=0)


def test_async_reactive_consumer_with_an_async_client_and_drop_oldest(
    flymq_bootstrap: str, flymq_options: Any, flymq_client: Any, unique_topic: Callable[..., str]
) -> None:
    topic, group = unique_topic("rx-aio"), unique_topic("g")
    fill(flymq_client, topic, 120)

    async def main() -> list[int]:
        async with AsyncFlyMQClient(flymq_bootstrap, **flymq_options.client_kwargs()) as client:
            consumer = AsyncReactiveConsumer(
                client, topic, group, buffer_size=10, backpressure="drop_oldest", auto_offset_reset="earliest"
            )
            offsets: list[int] = []
            async with consumer:
                # The fetch task runs ahead of this loop: only the newest 10 stay buffered.
                deadline = time.monotonic() + 15
                while consumer.dropped + consumer.buffered < 120:
                    assert time.monotonic() < deadline, (consumer.dropped, consumer.buffered)
                    await asyncio.sleep(0.01)
                async for message in consumer:
                    offsets.append(message.offset)
                    if message.offset == 119:
                        await client.produce(topic, b"after")
                    if message.offset == 120:
                        break  # still live after dropping
            assert not client.closed  # not owned: left open
            return offsets

    offsets = asyncio.run(asyncio.wait_for(main(), 30))
    assert offsets == list(range(110, 121))
    assert flymq_client.get_committed_offset(topic, group, 0) == 121


def test_async_reactive_consumer_error_policy_raises_from_async_for(
    flymq_client: Any, unique_topic: Callable[..., str]
) -> None:
    topic = unique_topic("rx-aio-err")
    fill(flymq_client, topic, 50)

    async def main() -> list[int]:
        seen: list[int] = []
        consumer = AsyncReactiveConsumer(
            flymq_client,
            topic,
            unique_topic("g"),
            buffer_size=3,
            backpressure="error",
            auto_offset_reset="earliest",
        )
        with pytest.raises(BufferFullError):
            async with consumer:
                async for message in consumer:
                    seen.append(message.offset)
                    await asyncio.sleep(0.05)  # slower than the fetcher
        return seen

    seen = asyncio.run(asyncio.wait_for(main(), 30))
    assert seen == list(range(len(seen))) and len(seen) >= 3
