"""The producer's shared state: batching, memory bound, flush generations, completion bookkeeping."""

from __future__ import annotations

import threading
import time

import pytest

from pyflymq_core.errors import BufferFullError, ConnectionError, InvalidArgumentError
from pyflymq_core.producer.accumulator import (
    NO_RECORDS,
    ProducerClosedError,
    RecordAccumulator,
    run_callbacks,
)
from pyflymq_core.producer.future import RecordFuture


def _acc(**overrides: int) -> RecordAccumulator:
    settings = {
        "buffer_memory": 1_000_000,
        "max_block_ms": 1_000,
        "batch_size": 100,
        "max_batch_messages": 3,
        "linger_ms": 0,
    }
    settings.update(overrides)
    return RecordAccumulator(**settings)


def _record(acc: RecordAccumulator, size: int = 40, **callbacks: object) -> RecordFuture:
    fut = RecordFuture(acc, "t", b"", b"x" * size, callbacks.get("on_success"), callbacks.get("on_error"))  # type: ignore[arg-type]
    acc.append(fut, size)
    return fut


def test_take_closes_batches_by_bytes_and_by_count_and_keeps_order() -> None:
    acc = _acc()
    sizes = [40, 40, 40, 90, 10, 10, 10, 10]
    futures = [_record(acc, size) for size in sizes]
    batches = acc.take(10)
    # 40+40 (a third 40 would pass 100 bytes); 40 (90 does not fit); 90+10 (= 100 bytes); then three 10s
    # (max_batch_messages=3).
    assert [[len(f._frame) for f in batch] for batch in batches] == [
        [40, 40],
        [40],
        [90, 10],
        [10, 10, 10],
    ]
    assert [f for batch in batches for f in batch] == futures
    assert acc.queued_bytes == 0


def test_take_stops_at_max_batches_and_leaves_the_rest_queued() -> None:
    acc = _acc(max_batch_messages=2, batch_size=10_000)
    futures = [_record(acc) for _ in range(7)]
    batches = acc.take(2)
    assert [len(b) for b in batches] == [2, 2]
    assert list(acc.queue) == futures[4:]
    assert acc.queued_bytes == 3 * 40
    with acc.lock:
        acc.put_back(batches[1])  # retries go first
    assert acc.take(1) == [futures[2:4]]


def test_take_swaps_the_whole_queue_when_it_fits_and_puts_overflow_back() -> None:
    acc = _acc(batch_size=100, max_batch_messages=10)
    futures = [_record(acc, size) for size in (60, 60, 60, 20)]  # 200 bytes: "fits" 2 batches...
    batches = acc.take(2)  # ...but greedy cutting needs 3: the last one goes back to the front
    assert batches == [[futures[0]], [futures[1]]]
    assert list(acc.retry) == futures[2:] and acc.queued_bytes == 80


def test_a_record_larger_than_the_buffer_is_refused_at_once() -> None:
    acc = _acc(buffer_memory=100)
    with pytest.raises(InvalidArgumentError, match="larger than the producer's buffer_memory"):
        _record(acc, 101)


def test_send_blocks_on_a_full_buffer_then_raises_buffer_full() -> None:
    acc = _acc(buffer_memory=100, max_block_ms=50)
    _record(acc, 60)
    started = time.monotonic()
    with pytest.raises(BufferFullError, match="max_block_ms=50"):
        _record(acc, 60)
    assert 0.04 <= time.monotonic() - started < 2


def test_send_unblocks_when_a_completion_frees_space() -> None:
    acc = _acc(buffer_memory=100, max_block_ms=5_000)
    first = _record(acc, 60)
    (batch,) = acc.take(1)
    with acc.lock:
        acc.in_flight_batches += 1
    done = threading.Event()

    def blocked_send() -> None:
        _record(acc, 60)
        done.set()

    thread = threading.Thread(target=blocked_send)
    thread.start()
    assert not done.wait(0.1)
    first._payload = b""
    acc.complete([first], [], [], batches=1)
    assert done.wait(5)
    thread.join()
    assert batch == [first]


def test_flush_waits_only_for_its_generation() -> None:
    acc = _acc()
    old = _record(acc)
    gen, waiter = acc.start_flush()
    assert waiter is not None
    newer = _record(acc)  # sent after the flush began: not waited for
    assert acc.take(1) == [[old, newer]]
    with acc.lock:
        acc.put_back([newer])
    acc.complete([old], [], [])
    assert waiter.acquire(timeout=1)
    assert acc.end_flush(gen, waiter) == (0, 0)
    assert not newer.done()
    gen2, waiter2 = acc.start_flush()
    assert waiter2 is not None
    assert acc.end_flush(gen2, waiter2) == (1, 0)  # still queued, not waited for here


def test_flush_with_nothing_pending_returns_no_waiter() -> None:
    acc = _acc()
    assert acc.start_flush()[1] is None


def test_completion_runs_each_callback_once_and_records_unreported_failures() -> None:
    acc = _acc()
    calls: list[object] = []
    ok = _record(acc, on_success=calls.append)
    bad = _record(acc, on_error=calls.append)
    silent = _record(acc)
    error = ConnectionError("boom")
    ok._metadata = "metadata"  # type: ignore[assignment]  # what settle() decodes for on_success
    callbacks = acc.complete([ok], [(bad, error), (silent, error)], [], [ok, bad])
    again = acc.complete([ok], [(bad, error)], [], [ok, bad])  # already settled: ignored
    assert callbacks == [ok, bad] and again == []
    assert ok.succeeded() and bad.failed() and silent.failed()
    assert bad.exception() is error and ok._frame == b"" and bad._frame == b""
    assert acc.incomplete == 0 and acc.buffered == 0
    assert acc.acknowledged == 1 and acc.failed == 2
    assert [f for f in acc.unreported] == [silent]
    failures, dropped = acc.take_unreported(None)
    assert failures == [silent] and dropped == 0
    assert acc.take_unreported(None) == ([], 0)
    # on_success gets the metadata, on_error the error; a callback that raises is only logged
    raising = _record(acc, on_error=lambda _: 1 / 0)
    with acc.lock:
        acc.fail([raising], error)
    run_callbacks([*callbacks, raising])
    assert calls == ["metadata", error]


def test_retries_go_back_in_order_and_switch_to_recovery() -> None:
    acc = _acc(batch_size=10_000, max_batch_messages=10)
    futures = [_record(acc) for _ in range(4)]
    (batch,) = acc.take(1)
    with acc.lock:
        acc.in_flight_batches += 1
    futures[0]._payload = b""
    acc.complete([futures[0]], [], futures[1:], backoff_s=0.5, batches=1)
    with acc.lock:
        assert acc.recovering and acc.retry_at > time.monotonic()
        assert list(acc.retry) == futures[1:]
        assert acc.in_flight_batches == 0
    assert batch == futures


def test_callbacks_of_records_abandoned_meanwhile_are_dropped_the_rest_keep_their_order() -> None:
    acc = _acc()
    first, second, third = (_record(acc) for _ in range(3))
    error = ConnectionError("x")
    with acc.lock:
        acc.fail([second], error)  # e.g. close(timeout) abandoned it: reported then
    callbacks = acc.complete([first, second], [(third, error)], [], [first, second, third])
    assert callbacks == [first, third]
    assert first.succeeded() and second.failed() and third.failed()
    assert acc.incomplete == 0 and acc.buffered == 0 and acc.acknowledged == 1


def test_get_waits_for_completion_from_another_thread() -> None:
    acc = _acc()
    fut = _record(acc)
    assert not acc.wait_for(fut, 0.01)

    def complete_later() -> None:
        time.sleep(0.05)
        acc.complete([], [(fut, ConnectionError("lost"))], [])

    threading.Thread(target=complete_later).start()
    with pytest.raises(ConnectionError, match="lost"):
        fut.get(timeout_ms=5_000)
    assert fut.exception() is not None


def test_closed_accumulator_refuses_records_and_sender_wakeups() -> None:
    acc = _acc()
    with acc.lock:
        acc.sleep_reason = NO_RECORDS
        acc.wake_sender()
        assert acc.wake.acquire(blocking=False)  # released once for the sleeping sender
        acc.wake.acquire(blocking=False)
        acc.closing = True
    with pytest.raises(ProducerClosedError):
        _record(acc)
