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
from pyflymq_core.errors import (
    BufferFullError,
    ConfigurationError,
    ConnectionError,
    FlyMQError,
    InvalidArgumentError,
)


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


# --------------------------------------------------------------------------- found by a review


def _committed(client: Any, topic: str, group: str) -> int:
    try:
        return int(client.get_committed_offset(topic, group, 0))
    except FlyMQError:  # no commit yet
        return 0


def test_nothing_is_emitted_or_committed_while_nobody_is_subscribed(
    flymq_client: Any, unique_topic: Callable[..., str]
) -> None:
    # The only subscriber takes 5 and leaves: the rest must wait for the next subscriber, not be
    # emitted to nobody and committed as delivered.
    topic, group = unique_topic("rx-nobody"), unique_topic("g")
    fill(flymq_client, topic, 30)
    first: list[Any] = []
    consumer = ReactiveConsumer(
        flymq_client, topic, group, auto_offset_reset="earliest", auto_commit_interval_ms=50
    )
    consumer.messages().pipe(rx.operators.take(5)).subscribe(first.append)
    consumer.start()
    wait_until(lambda: len(first) == 5)
    wait_until(lambda: _committed(flymq_client, topic, group) == 5)
    time.sleep(1.2)  # more polls and auto-commit intervals with nobody subscribed
    assert _committed(flymq_client, topic, group) == 5
    late = Recorder()
    consumer.messages().subscribe(late.on_next, late.on_error, late.on_completed)
    wait_until(lambda: len(late.values) == 25)
    assert [m.offset for m in late.values] == list(range(5, 30))
    consumer.stop()
    assert flymq_client.get_committed_offset(topic, group, 0) == 30


def test_a_slow_subscriber_does_not_hold_back_auto_commits(
    flymq_client: Any, unique_topic: Callable[..., str]
) -> None:
    topic, group = unique_topic("rx-slow-commit"), unique_topic("g")
    fill(flymq_client, topic, 200)  # one poll's worth: the fetcher blocks on space in the middle of it
    seen: list[Any] = []

    def slow(message: Any) -> None:
        time.sleep(0.01)
        seen.append(message)

    consumer = ReactiveConsumer(
        flymq_client, topic, group, buffer_size=5, auto_offset_reset="earliest", auto_commit_interval_ms=100
    )
    consumer.messages().subscribe(slow)
    consumer.start()
    wait_until(lambda: _committed(flymq_client, topic, group) >= 10, timeout=5)
    assert len(seen) < 150  # committed while the fetcher waits for space, not after the whole poll
    consumer.stop()


def test_a_subscriber_without_on_error_does_not_keep_the_others_from_the_end(
    flymq_client: Any, unique_topic: Callable[..., str]
) -> None:
    topic = unique_topic("rx-no-on-error")
    fill(flymq_client, topic, 10)
    consumer = ReactiveConsumer(flymq_client, topic, None, auto_offset_reset="earliest")

    def bad(message: Any) -> None:  # subscribed like the README: no on_error
        if message.offset == 3:
            raise ValueError("boom at 3")

    consumer.messages().subscribe(bad)
    other = Recorder()
    consumer.messages().subscribe(other.on_next, other.on_error, other.on_completed)
    consumer.start()
    assert other.ended.wait(15)
    assert [m.offset for m in other.values] == [0, 1, 2]
    assert len(other.errors) == 1 and "boom at 3" in str(other.errors[0])
    consumer.stop()


def test_on_completed_never_overlaps_an_on_next_still_running(
    flymq_client: Any, unique_topic: Callable[..., str]
) -> None:
    topic = unique_topic("rx-stop-slow")
    fill(flymq_client, topic, 3)
    events: list[tuple[str, str]] = []
    entered = threading.Event()

    def slow(message: Any) -> None:
        events.append(("next-start", threading.current_thread().name))
        entered.set()
        time.sleep(0.6)
        events.append(("next-end", threading.current_thread().name))

    consumer = ReactiveConsumer(flymq_client, topic, None, auto_offset_reset="earliest")
    done = threading.Event()
    consumer.messages().subscribe(slow, on_completed=lambda: (events.append(("done", "")), done.set()))
    consumer.start()
    assert entered.wait(15)
    consumer.stop(timeout=0.1)  # returns while on_next still runs
    assert done.wait(5)
    kinds = [kind for kind, _ in events]
    assert kinds[-2:] == ["next-end", "done"]  # completion only after on_next returned


def test_pipelined_publish_ends_on_any_error_and_reports_what_was_written(
    flymq_client: Any, unique_topic: Callable[..., str]
) -> None:
    topic = unique_topic("rx-pub-errors")
    producer = ReactiveProducer(flymq_client, topic)
    source: rx.subject.Subject[Any] = rx.subject.Subject()
    seen: list[Any] = []
    errors: list[Exception] = []
    completed: list[bool] = []

    def key(value: Any) -> str:
        return {"a": "ka", "b": "kb"}[value.decode()]  # KeyError for anything else

    source.pipe(producer.publish(key=key, max_in_flight=4)).subscribe(
        seen.append, errors.append, lambda: completed.append(True)
    )
    source.on_next(b"a")
    source.on_next(b"zz")  # the key function raises KeyError: the stream ends here
    source.on_next(b"b")
    source.on_completed()
    assert len(errors) == 1 and isinstance(errors[0], KeyError) and not completed
    assert [r.offset for r in seen] == [0]  # b"a" was written: reported before the error
    assert [m.value for m in flymq_client.fetch(topic, 0, 0, 10)] == [b"a"]


def test_leaving_async_with_keeps_the_exception_that_left_it(
    flymq_client: Any, unique_topic: Callable[..., str], flymq_bootstrap: str, flymq_options: Any
) -> None:
    topic = unique_topic("rx-async-exit")
    fill(flymq_client, topic, 3)

    async def main() -> None:
        async with AsyncFlyMQClient(flymq_bootstrap, **flymq_options.client_kwargs()) as client:
            consumer = AsyncReactiveConsumer(client, topic, unique_topic("g"), auto_offset_reset="earliest")
            with pytest.raises(LookupError, match="mine"):
                async with consumer:
                    async for _ in consumer:
                        await client.close()  # the final commit will fail: it must not replace ours
                        raise LookupError("mine")

    asyncio.run(main())


def test_a_fetch_error_while_nobody_is_subscribed_ends_the_stream(
    flymq_client: Any, unique_topic: Callable[..., str]
) -> None:
    topic = unique_topic("rx-err-unsubscribed")
    fill(flymq_client, topic, 50)
    consumer = ReactiveConsumer(
        flymq_client, topic, None, buffer_size=5, backpressure="error", auto_offset_reset="earliest"
    )
    consumer.start()
    wait_until(lambda: consumer.error is not None)  # the buffer overflowed with nobody reading
    assert isinstance(consumer.error, BufferFullError) and not consumer.running
    late = Recorder()
    consumer.messages().subscribe(late.on_next, late.on_error, late.on_completed)
    assert late.errors and isinstance(late.errors[0], BufferFullError) and not late.completed.is_set()
    consumer.stop(timeout=5)


def test_on_completed_comes_after_the_final_commit(
    flymq_client: Any, unique_topic: Callable[..., str]
) -> None:
    topic, group = unique_topic("rx-complete-after-commit"), unique_topic("g")
    fill(flymq_client, topic, 5)
    consumer = ReactiveConsumer(
        flymq_client, topic, group, auto_offset_reset="earliest", auto_commit_interval_ms=60_000
    )
    seen: list[Any] = []
    committed_at_completion: list[int] = []
    consumer.messages().subscribe(
        seen.append,
        on_completed=lambda: committed_at_completion.append(_committed(flymq_client, topic, group)),
    )
    consumer.start()
    wait_until(lambda: len(seen) == 5)
    consumer.stop()
    assert committed_at_completion == [5]  # "completed" may be taken as "offsets stored"


def test_pipelined_publish_lets_a_downstream_exception_propagate_as_the_default_does(
    flymq_client: Any, unique_topic: Callable[..., str]
) -> None:
    # ops.map (the default publish) does not turn the downstream observer's own exception into an
    # on_error for that same observer; the pipelined operator behaves the same.
    producer = ReactiveProducer(flymq_client, unique_topic("rx-pub-downstream"))
    source: rx.subject.Subject[Any] = rx.subject.Subject()
    errors: list[Exception] = []
    calls: list[int] = []

    def explode(metadata: Any) -> None:
        calls.append(metadata.offset)
        raise LookupError("downstream")

    source.pipe(producer.publish(max_in_flight=2)).subscribe(explode, errors.append)
    source.on_next(b"a")  # in flight, nothing emitted yet
    with pytest.raises(LookupError, match="downstream"):
        source.on_next(b"b")  # the window is full: "a" is emitted, and its observer raises
    assert errors == [] and calls == [0]  # called once: not again as a "written before the error" report
