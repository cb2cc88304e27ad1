"""The producer's shared state: queued records, memory accounting, flush generations, wake-ups.

Three kinds of threads meet here: application threads calling ``send()``/``flush()``/``get()``,
the sender thread (takes records, writes batches) and one receiver thread per connection
(completes batches).  Everything is guarded by one plain lock, taken once per ``send()`` and once
per *batch* on the I/O side.  Nothing here allocates a ``Condition`` or an ``Event`` per record:

* the sender sleeps on a binary semaphore (:attr:`RecordAccumulator.wake`) and says *why*
  (:attr:`sleep_reason`), so ``send()`` only pays for a wake-up when it can unblock the sender;
* a caller waiting for one record (``future.get()``) or for a flush allocates its own wake-up lock,
  registered under the state lock, released by the receiver that completes the record(s);
* ``send()`` on a full buffer waits on a ``Condition`` — only on that slow path.

Flush generations: every record is stamped with the current generation; ``flush()`` closes the
generation and waits until no record of it or of an older one is incomplete, so records sent by
other threads after the flush began do not keep it waiting.
"""

from __future__ import annotations

import _thread
import contextlib
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from itertools import chain, repeat
from typing import Any

from pyflymq_core.errors import BufferFullError, FlyMQError, ProducerClosedError
from pyflymq_core.producer.future import FAILED, PENDING, SUCCEEDED, RecordFuture, decode_metadata_of
from pyflymq_core.producer.policy import (
    buffer_full_error,
    frames_bytes,
    record_too_large_error,
    split_batches,
)

__all__ = ["ProducerClosedError", "RecordAccumulator"]

logger = logging.getLogger("pyflymq.producer")

_monotonic = time.monotonic
_allocate_lock = _thread.allocate_lock

#: Why the sender sleeps (what may wake it).
AWAKE = 0
NO_RECORDS = 1  # woken by send()
LINGERING = 2  # woken by send() when a batch is full, by flush(), or by its linger timeout
WAITING_IO = 3  # woken when a batch completes (window slot, drain) or by a backoff timeout

#: Failures kept for flush()/close() to report when nothing else did (the rest are only counted).
MAX_UNREPORTED = 10_000


class RecordAccumulator:
    """Queued and in-flight records of one producer (see the module docstring)."""

    def __init__(
        self,
        *,
        buffer_memory: int,
        max_block_ms: int,
        batch_size: int,
        max_batch_messages: int,
        linger_ms: int,
    ) -> None:
        self.lock = threading.Lock()
        self.buffer_memory = buffer_memory
        self.max_block_s = max_block_ms / 1000.0
        self.batch_size = batch_size
        self.max_batch_messages = max_batch_messages
        self.linger_s = linger_ms / 1000.0
        #: Records not yet handed to a connection, in send order.
        self.queue: deque[RecordFuture] = deque()
        #: Records to send again before anything in :attr:`queue` (retries keep their order).
        self.retry: deque[RecordFuture] = deque()
        self.queued_bytes = 0
        self.first_queued_at = 0.0
        #: Bytes of every incomplete record (queued or in flight): what ``buffer_memory`` bounds.
        self.buffered = 0
        self.incomplete = 0
        self.in_flight_batches = 0
        # flush generations
        self.gen = 0
        self.gen_count = 0
        self.old_gens: dict[int, int] = {}
        self.flush_waiters: list[tuple[int, _thread.LockType]] = []
        self.flushing = 0
        # sender sleep / wake
        self.sleep_reason = AWAKE
        #: With WAITING_IO: wake the sender once at most this many batches are in flight (it sets
        #: this when it sleeps: below a full window for the window, one less for anything else).
        self.wake_threshold = 0
        self.wake = _allocate_lock()
        self.wake.acquire()
        # send() blocked on a full buffer
        self.space = threading.Condition(self.lock)
        self.space_waiters = 0
        # lifecycle and recovery
        self.closing = False
        self.aborted = False
        self.recovering = False
        self.retry_at = 0.0
        #: Thread ids of the producer's own threads (callbacks run there; they must not block on it).
        self.io_threads: set[int] = set()
        #: Failed records no callback or future consumer has seen yet (reported by flush/close).
        self.unreported: list[RecordFuture] = []
        self.unreported_dropped = 0
        # counters (under the lock, per batch)
        self.acknowledged = 0
        self.failed = 0
        self.retried = 0

    # ================================================================== application side

    def append(self, fut: RecordFuture, size: int) -> None:
        """Queue a record (``send()``); blocks up to ``max_block_ms`` while the buffer is full.

        The common case takes the lock with explicit ``acquire``/``release`` (about half the cost of
        a ``with`` block) around statements that cannot raise; anything else goes to the slow path.
        """
        lock = self.lock
        lock.acquire()
        if self.closing or self.buffered + size > self.buffer_memory:
            lock.release()
            self._append_slow(fut, size)
            return
        # _queue_locked(), inlined: this runs once per record.
        self.buffered += size
        self.incomplete += 1
        fut._gen = self.gen
        self.gen_count += 1
        queue = self.queue
        if not queue:
            self.first_queued_at = _monotonic()
        queue.append(fut)
        self.queued_bytes += size
        if self.sleep_reason:
            self._wake_for_record()
        lock.release()

    def _wake_for_record(self) -> None:
        """Under the lock, after queuing: wake the sender if a new record is what it waits for."""
        reason = self.sleep_reason
        if reason == NO_RECORDS or (
            reason == LINGERING
            and (self.queued_bytes >= self.batch_size or len(self.queue) >= self.max_batch_messages)
        ):
            self.sleep_reason = AWAKE
            self.wake.release()

    def _append_slow(self, fut: RecordFuture, size: int) -> None:
        with self.lock:
            if self.closing:
                raise ProducerClosedError("the producer is closed; the record was not sent")
            if self.buffered + size > self.buffer_memory:
                self._wait_for_space(size)
            self._queue_locked(fut, size)

    def _queue_locked(self, fut: RecordFuture, size: int) -> None:
        self.buffered += size
        self.incomplete += 1
        fut._gen = self.gen
        self.gen_count += 1
        queue = self.queue
        if not queue:
            self.first_queued_at = _monotonic()
        queue.append(fut)
        self.queued_bytes += size
        if self.sleep_reason:
            self._wake_for_record()

    def _wait_for_space(self, size: int) -> None:
        """Under the lock: wait until ``size`` more bytes fit in ``buffer_memory``."""
        if size > self.buffer_memory:
            raise record_too_large_error(size, self.buffer_memory)
        if _thread.get_ident() in self.io_threads:
            raise BufferFullError(
                f"the producer's buffer is full ({self.buffered} of {self.buffer_memory} bytes) and send() "
                "was called from a producer callback, which cannot wait for space",
                hint="Do not send from on_success/on_error callbacks on a saturated producer; hand the "
                "record to another thread instead.",
            )
        deadline = _monotonic() + self.max_block_s
        self.space_waiters += 1
        try:
            while self.buffered + size > self.buffer_memory:
                if self.closing:
                    raise ProducerClosedError("the producer was closed while send() waited for buffer space")
                remaining = deadline - _monotonic()
                if remaining <= 0 or not self.space.wait(remaining):
                    if self.buffered + size <= self.buffer_memory:
                        break
                    raise buffer_full_error(
                        self.buffered, self.buffer_memory, self.max_block_s * 1000, self.incomplete
                    )
        finally:
            self.space_waiters -= 1

    def wait_for(self, fut: RecordFuture, timeout: float | None) -> bool:
        """Block until ``fut`` is complete; ``False`` after ``timeout`` seconds."""
        with self.lock:
            if fut._state != PENDING:
                return True
            waiter = fut._waiter
            if waiter is None:
                waiter = fut._waiter = _allocate_lock()
                waiter.acquire()
        if timeout is None:
            waiter.acquire()
            waiter.release()  # let other threads waiting on the same future through
            return True
        if waiter.acquire(timeout=timeout):
            waiter.release()
            return True
        return fut._state != PENDING

    def start_flush(self) -> tuple[int, _thread.LockType | None]:
        """Close the current generation; returns it and a lock to wait on (``None`` = nothing to wait)."""
        with self.lock:
            gen = self.gen
            self.gen = gen + 1
            if self.gen_count:
                self.old_gens[gen] = self.gen_count
            self.gen_count = 0
            if not self.old_gens or min(self.old_gens) > gen:
                return gen, None
            waiter = _allocate_lock()
            waiter.acquire()
            self.flush_waiters.append((gen, waiter))
            self.flushing += 1
            if self.sleep_reason == LINGERING:
                self.sleep_reason = AWAKE
                self.wake.release()
            return gen, waiter

    def end_flush(self, gen: int, waiter: _thread.LockType | None) -> tuple[int, int]:
        """After waiting: deregister; returns ``(still queued, still in flight)`` of gens <= ``gen``."""
        with self.lock:
            if waiter is not None:
                self.flushing -= 1
                # (already gone when the completion that released it removed it)
                with contextlib.suppress(ValueError):
                    self.flush_waiters.remove((gen, waiter))
            pending = sum(count for g, count in self.old_gens.items() if g <= gen)
            queued = sum(1 for fut in self.queue if fut._gen <= gen) + sum(
                1 for fut in self.retry if fut._gen <= gen
            )
            return queued, pending - queued

    def take_unreported(self, gen: int | None) -> tuple[list[RecordFuture], int]:
        """Failures of generations <= ``gen`` nobody has seen (marked reported), plus dropped count."""
        with self.lock:
            keep: list[RecordFuture] = []
            found: list[RecordFuture] = []
            for fut in self.unreported:
                if fut._observed:
                    continue
                if gen is None or fut._gen <= gen:
                    fut._observed = True
                    found.append(fut)
                else:
                    keep.append(fut)
            self.unreported = keep
            dropped, self.unreported_dropped = self.unreported_dropped, 0
            return found, dropped

    # ================================================================== sender side

    def sleep(self, timeout: float | None) -> None:
        """Sender, *without* the lock, after setting :attr:`sleep_reason` under it: sleep until woken
        for that reason, or ``timeout`` seconds."""
        woken = self.wake.acquire() if timeout is None else self.wake.acquire(timeout=max(timeout, 0.0))
        if not woken:
            with self.lock:
                if self.sleep_reason == AWAKE:
                    # Woken between the timeout and here: consume the release so the next sleep blocks.
                    self.wake.acquire()
                else:
                    self.sleep_reason = AWAKE

    def wake_sender(self) -> None:
        """Under the lock: wake the sender whatever it waits for."""
        if self.sleep_reason != AWAKE:
            self.sleep_reason = AWAKE
            self.wake.release()

    def take(self, max_batches: int) -> list[list[RecordFuture]]:
        """Up to ``max_batches`` batches from the front, retries first (sender; takes the lock).

        A batch closes at ``max_batch_messages`` records, or when the next record would take it past
        ``batch_size`` bytes (a batch always holds at least one record).  When everything queued fits,
        the whole queue is swapped out at once, so the lock is held for O(1), not per record, and
        cut into batches outside it; otherwise the batches are cut while the records are taken (one
        pass over them).
        """
        max_messages = self.max_batch_messages
        batch_size = self.batch_size
        with self.lock:
            queue = self.queue
            if (
                not self.retry
                and len(queue) <= max_batches * max_messages
                and self.queued_bytes <= max_batches * batch_size
            ):
                records = queue
                self.queue = deque()
                self.queued_bytes = 0
            else:
                batches = self._cut_locked(max_batches, max_messages, batch_size)
                if queue:
                    self.first_queued_at = _monotonic()
                return batches
        batches = split_batches(records, batch_size, max_messages)
        if len(batches) > max_batches:
            leftover = [fut for batch in batches[max_batches:] for fut in batch]
            with self.lock:
                self.put_back(leftover)
            del batches[max_batches:]
        return batches

    def _cut_locked(self, max_batches: int, max_messages: int, batch_size: int) -> list[list[RecordFuture]]:
        """Under the lock: the first ``max_batches`` batches :func:`split_batches` cuts from the
        front (retries first), taken off the queues."""
        batches = split_batches(chain(self.retry, self.queue), batch_size, max_messages, max_batches)
        left = sum(map(len, batches))
        for source in (self.retry, self.queue):
            count = min(left, len(source))
            if count == len(source):
                source.clear()
            else:
                popleft = source.popleft
                for _ in repeat(None, count):
                    popleft()
            left -= count
        self.queued_bytes -= frames_bytes(chain.from_iterable(batches))
        return batches

    def put_back(self, records: list[RecordFuture]) -> None:
        """Under the lock: return taken records to the front, in order (they were not sent)."""
        self.retry.extendleft(reversed(records))
        self.queued_bytes += frames_bytes(records)

    # ================================================================== receiver side

    def complete(
        self,
        succeeded: list[RecordFuture],
        failed: list[tuple[RecordFuture, FlyMQError]],
        retries: list[RecordFuture],
        callbacks: list[RecordFuture] | None = None,
        *,
        backoff_s: float = 0.0,
        batches: int = 0,
        inflight: deque[Any] | None = None,
    ) -> list[RecordFuture]:
        """Record the outcome of settled records (receiver thread, *without* the lock held); returns
        the records whose callback is to run (:func:`run_callbacks`).

        ``succeeded`` futures already carry their answer (``_payload``); all lists are in send
        order.  ``callbacks`` are the
        records, in send order, whose ``on_success``/``on_error`` callback is due: a record that is
        no longer pending here (abandoned by ``close(timeout)``, already failed and reported) is
        skipped with its callback.  ``batches`` in-flight batches ended; ``inflight``: the pipeline
        queue whose head they are, popped under the same lock as the counters change (the sender
        must never see one without the other).

        Under the lock: only the state flips and the counters — so ``send()`` in application
        threads is rarely kept waiting by a completing batch.
        """
        freed = 0
        acknowledged = 0
        #: Acknowledged records per flush generation older than the current one (rare: a flush ran).
        tally: dict[int, int] = {}
        skipped: set[int] | None = None
        with self.lock:
            gen_now = self.gen
            for fut in succeeded:
                if fut._state == PENDING:
                    fut._state = SUCCEEDED
                    acknowledged += 1
                    freed += len(fut._frame)
                    fut._frame = b""
                    waiter = fut._waiter
                    if waiter is not None:
                        waiter.release()
                    g = fut._gen
                    if g != gen_now:
                        tally[g] = tally.get(g, 0) + 1
                else:  # abandoned by close(timeout): already failed, counted and reported
                    if skipped is None:
                        skipped = set()
                    skipped.add(id(fut))
            tally[gen_now] = acknowledged - sum(tally.values())
            gen_emptied = self._settle_generations(tally)
            for fut, error in failed:
                if fut._state != PENDING:
                    if skipped is None:
                        skipped = set()
                    skipped.add(id(fut))
                    continue
                freed += len(fut._frame)
                self.incomplete -= 1
                gen_emptied |= self._fail_locked(fut, error)
            self.incomplete -= acknowledged
            self.acknowledged += acknowledged
            self.buffered -= freed
            if retries:
                retries = [fut for fut in retries if fut._state == PENDING]
                if retries:
                    self.retried += len(retries)
                    self.retry.extend(retries)
                    self.queued_bytes += frames_bytes(retries)
                    self.recovering = True
                    self.retry_at = max(self.retry_at, _monotonic() + backoff_s)
            if batches:
                self.in_flight_batches -= batches
                if inflight is not None:
                    for _ in range(batches):
                        inflight.popleft()
            reason = self.sleep_reason
            if (reason == WAITING_IO and (self.in_flight_batches <= self.wake_threshold or retries)) or (
                retries and reason == NO_RECORDS
            ):
                self.sleep_reason = AWAKE
                self.wake.release()
            if gen_emptied and self.flush_waiters:
                self._release_flushers()
            if freed and self.space_waiters:
                self.space.notify_all()
        if not callbacks:
            return []
        if skipped is None:
            return callbacks
        return [fut for fut in callbacks if id(fut) not in skipped]

    def _settle_generations(self, tally: dict[int, int]) -> bool:
        """Under the lock: ``tally[gen]`` records of each generation ended; True if one emptied."""
        emptied = False
        gen_now = self.gen
        old_gens = self.old_gens
        for g, count in tally.items():
            if not count:
                continue
            if g == gen_now:
                self.gen_count -= count
            else:
                left = old_gens[g] - count
                if left:
                    old_gens[g] = left
                else:
                    del old_gens[g]
                    emptied = True
        return emptied

    def fail(self, records: list[RecordFuture], error: FlyMQError) -> list[RecordFuture]:
        """Under the lock: fail records that were never sent (or abandoned); returns the records
        whose ``on_error`` callback is due."""
        callbacks: list[RecordFuture] = []
        freed = 0
        emptied = False
        for fut in records:
            if fut._state != PENDING:
                continue
            freed += len(fut._frame)
            self.incomplete -= 1
            emptied |= self._fail_locked(fut, error)
            if fut._on_error is not None:
                callbacks.append(fut)
        self.buffered -= freed
        if emptied and self.flush_waiters:
            self._release_flushers()
        if freed and self.space_waiters:
            self.space.notify_all()
        return callbacks

    def _fail_locked(self, fut: RecordFuture, error: FlyMQError) -> bool:
        """Mark one record failed (an ``on_error`` callback reports it, else flush()/close() will);
        returns whether its flush generation became complete."""
        fut._frame = b""
        fut._error = error
        fut._state = FAILED
        self.failed += 1
        emptied = self._settle_generations({fut._gen: 1})
        waiter = fut._waiter
        if waiter is not None:
            waiter.release()
        if fut._on_error is not None:
            fut._observed = True
        elif len(self.unreported) < MAX_UNREPORTED:
            self.unreported.append(fut)
        else:
            self.unreported_dropped += 1
        return emptied

    def _release_flushers(self) -> None:
        oldest = min(self.old_gens) if self.old_gens else None
        keep = []
        for gen, waiter in self.flush_waiters:
            if oldest is None or oldest > gen:
                waiter.release()
            else:
                keep.append((gen, waiter))
        self.flush_waiters = keep


def run_callbacks(records: list[RecordFuture]) -> None:
    """Run the due callbacks of completed records (never under a lock): ``on_success(metadata)``
    (the answer decoded here, once: the future keeps it) or ``on_error(error)``.  Their exceptions
    are logged, not raised."""
    decode_metadata_of(records)
    for fut in records:
        try:
            if fut._state == SUCCEEDED:
                fn: Callable[[Any], Any] | None = fut._on_success
                arg: Any = fut._metadata
                if arg is None:
                    arg = fut.metadata
            else:
                fn, arg = fut._on_error, fut._error
            if fn is not None:
                fn(arg)
        except Exception:
            logger.exception("producer callback of the record to %r failed", fut.topic)
