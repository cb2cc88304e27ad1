"""The producer's I/O: one sender thread that writes batches, one receiver thread per connection.

FlyMQ has no batch produce opcode, so a "batch" here is a run of PRODUCE frames written with one
``send`` (:func:`~pyflymq_core.producer.wire.submit_frames`); the server answers each frame, in
order.  The sender keeps at most ``max_in_flight`` batches unanswered per connection; the receiver
of that connection waits for the answers of the oldest batch (the connection's reader role, see
:mod:`pyflymq_core.client.connection`), then settles every record of it at once.

Retries and ordering (Kafka's "stop the pipeline, retry in order" rule):

* Retriable: the record was provably not written — ``NotSentError`` (dead connection found before
  the write, or no server reachable) or a ``not leader`` answer.  With ``retry_unacknowledged``
  also a lost answer (``ConnectionError``/``TimeoutError`` after the write): at-least-once, and
  the server has no deduplication, so such a retry may write the record twice.
* A retriable failure puts the record on the retry queue (in order: batches of a connection are
  settled in send order) and switches the sender to *recovering*: it sends nothing new until every
  in-flight batch of every connection is settled and ``retry_backoff_ms`` has passed, then sends
  the retry queue first.  So a retried record is never overtaken by a younger record of its
  partition sent on another connection.  (Younger records already in flight on the same
  connection before the failure was seen are answered by the same server in order; with
  ``not leader`` they fail the same way and are retried behind.)
* A connection replaced by a reconnect is drained (all its batches settled) before anything is
  written on the new one.
"""

from __future__ import annotations

import _thread
import contextlib
import logging
import threading
import time
from collections import deque
from typing import TYPE_CHECKING

from pyflymq_core.client import calls
from pyflymq_core.client.connection import Connection, NotSentError, PendingResponse
from pyflymq_core.error_mapping import error_from_server
from pyflymq_core.errors import (
    ConnectionError,
    FlyMQError,
    NotLeaderError,
    ProtocolError,
    TimeoutError,
)
from pyflymq_core.producer.accumulator import (
    LINGERING,
    NO_RECORDS,
    WAITING_IO,
    Callback,
    RecordAccumulator,
    run_callbacks,
    split_batches,
)
from pyflymq_core.producer.encoding import PRODUCE_OP
from pyflymq_core.producer.future import RecordFuture
from pyflymq_core.producer.wire import submit_frames
from pyflymq_core.protocol import OpCode, decode_error_payload

if TYPE_CHECKING:
    from pyflymq_core.client.sync_client import FlyMQClient

__all__ = ["Sender"]

logger = logging.getLogger("pyflymq.producer")

_monotonic = time.monotonic
_ERROR_OP = int(OpCode.ERROR)
#: Sender actions besides the sleep reasons (which are > 0).
_SEND = 0
_EXIT = -1


class _Batch:
    """Records written together: their pending responses, or the error that stopped the write."""

    __slots__ = ("deadline", "error", "pendings", "records")

    def __init__(
        self,
        records: list[RecordFuture],
        pendings: list[PendingResponse] | None,
        error: FlyMQError | None,
        deadline: float,
    ) -> None:
        self.records = records
        self.pendings = pendings
        self.error = error
        self.deadline = deadline


class Pipeline:
    """The batches in flight on one connection, settled in order by its receiver thread."""

    def __init__(self, sender: Sender, conn: Connection) -> None:
        self.sender = sender
        self.conn = conn
        self.inflight: deque[_Batch] = deque()
        self.sleeping = False
        self.exited = False
        self.wake = _thread.allocate_lock()
        self.wake.acquire()
        self.thread = threading.Thread(
            target=self._run, name=f"pyflymq-producer-recv-{conn.label}", daemon=True
        )

    def push(self, batch: _Batch) -> None:
        """Under the accumulator lock: queue a written (or failed) batch for settling."""
        self.inflight.append(batch)
        self.sender.acc.in_flight_batches += 1
        if self.sleeping:
            self.sleeping = False
            self.wake.release()

    def wake_up(self) -> None:
        """Under the accumulator lock: wake the receiver (shutdown)."""
        if self.sleeping:
            self.sleeping = False
            self.wake.release()

    def _run(self) -> None:
        sender = self.sender
        acc = sender.acc
        lock = acc.lock
        acc.io_threads.add(threading.get_ident())
        try:
            while True:
                with lock:
                    batch = self.inflight[0] if self.inflight else None
                    if batch is None:
                        if acc.aborted or self.conn.closed:
                            self.exited = True
                            if sender.pipelines.get(self.conn) is self:
                                del sender.pipelines[self.conn]
                            return
                        self.sleeping = True
                if batch is None:
                    self.wake.acquire()
                    continue
                run_callbacks(sender.settle(self, batch))
        except BaseException:
            logger.exception("the producer's receiver thread for %s failed", self.conn.label)
            with lock:  # never leave records hanging: fail what this thread can no longer settle
                records = [fut for batch in self.inflight for fut in batch.records]
                acc.in_flight_batches -= len(self.inflight)
                self.inflight.clear()
                self.exited = True
                if sender.pipelines.get(self.conn) is self:
                    del sender.pipelines[self.conn]
                callbacks = acc.fail(
                    records,
                    ProducerThreadError(
                        "the producer's receiver thread failed; the record may or may not have been written"
                    ),
                )
                acc.wake_sender()
            run_callbacks(callbacks)
            raise


class Sender:
    """Owns the producer's threads; see the module docstring for the protocol."""

    def __init__(
        self,
        client: FlyMQClient,
        acc: RecordAccumulator,
        *,
        max_in_flight: int,
        max_retries: int,
        retry_backoff_ms: int,
        retry_unacknowledged: bool,
        request_timeout: float,
        name: str,
    ) -> None:
        self.client = client
        self.acc = acc
        self.max_in_flight = max_in_flight
        self.max_retries = max_retries
        self.backoff_s = retry_backoff_ms / 1000.0
        self.retry_unacknowledged = retry_unacknowledged
        self.request_timeout = request_timeout
        #: Connection -> its pipeline (guarded by the accumulator lock).
        self.pipelines: dict[Connection, Pipeline] = {}
        self.batches_sent = 0
        self.writes = 0
        self.thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> None:
        self.thread.start()

    # ================================================================== sender thread

    def _run(self) -> None:
        acc = self.acc
        acc.io_threads.add(threading.get_ident())
        try:
            while self._step():
                pass
        except BaseException:
            logger.exception("the producer's sender thread failed")
            with acc.lock:
                callbacks = acc.fail(
                    [*acc.retry, *acc.queue],
                    ProducerThreadError("the producer's sender thread failed; the record was not sent"),
                )
                acc.retry.clear()
                acc.queue.clear()
                acc.closing = True
            run_callbacks(callbacks)
            raise

    def _step(self) -> bool:
        """One round: wait for something to do, then write one group of batches.  False = exit."""
        acc = self.acc
        with acc.lock:
            action, timeout = self._next_action()
            if action > 0:
                acc.sleep_reason = action
                acc.wake_threshold = acc.in_flight_batches - 1  # any completion
        if action == _EXIT:
            return False
        if action > 0:
            acc.sleep(timeout)
            return True

        client = self.client
        try:
            conn = client._primary_connection()
        except FlyMQError as exc:
            self._connection_failed(exc)
            return True

        with acc.lock:
            pipe = self.pipelines.get(conn)
            free = self.max_in_flight - (len(pipe.inflight) if pipe is not None else 0)
            if free <= 0:
                # Window full: sleep until half of it drained, then write several batches at once
                # (one wake-up per write instead of one per answered batch).
                acc.sleep_reason = WAITING_IO
                acc.wake_threshold = acc.in_flight_batches - max(1, self.max_in_flight // 2)
        if free <= 0:
            acc.sleep(None)
            return True
        batches = acc.take(free)
        if not batches:
            return True
        if client._metadata.standalone or not any(fut.key for batch in batches for fut in batch):
            self._write(conn, batches)  # everything goes to the bootstrap connection
        else:
            self._write_routed(conn, batches)
        return True

    def _next_action(self) -> tuple[int, float | None]:
        """Under the lock: ``(_SEND, None)``, ``(_EXIT, None)`` or ``(sleep reason, timeout)``."""
        acc = self.acc
        if acc.aborted:
            return _EXIT, None
        now = _monotonic()
        if acc.recovering:
            if acc.in_flight_batches:
                return WAITING_IO, None
            if now < acc.retry_at:
                return WAITING_IO, acc.retry_at - now
            acc.recovering = False
        queue = acc.queue
        if not acc.retry and not queue:
            if acc.closing and not acc.incomplete:
                return _EXIT, None
            return (WAITING_IO if acc.closing else NO_RECORDS), None
        if (
            acc.linger_s
            and not acc.retry
            and not acc.flushing
            and not acc.closing
            and acc.queued_bytes < acc.batch_size
            and len(queue) < acc.max_batch_messages
        ):
            deadline = acc.first_queued_at + acc.linger_s
            if now < deadline:
                return LINGERING, deadline - now
        if self._draining_dead():
            return WAITING_IO, None
        return _SEND, None

    def _draining_dead(self) -> bool:
        """Under the lock: a replaced (closed) connection still has batches to settle."""
        return any(pipe.inflight and pipe.conn.closed for pipe in self.pipelines.values())

    def _connection_failed(self, error: FlyMQError) -> None:
        """No connection could be made: every queued record used up one attempt (none was sent)."""
        acc = self.acc
        logger.warning("producer: no connection to FlyMQ (%s); retrying in %g s", error, self.backoff_s)
        with acc.lock:
            give_up: list[RecordFuture] = []
            for source in (acc.retry, acc.queue):
                keep: list[RecordFuture] = []
                for fut in source:
                    fut._attempts += 1
                    (give_up if fut._attempts > self.max_retries else keep).append(fut)
                if len(keep) != len(source):
                    source.clear()
                    source.extend(keep)
            acc.queued_bytes = sum(len(f._frame) for f in (*acc.retry, *acc.queue))
            failure = NotSentError(
                f"the record was not sent: no FlyMQ server could be reached after {self.max_retries + 1} "
                f"attempts ({error})",
                hint=error.hint,
            )
            failure.__cause__ = error
            callbacks = acc.fail(give_up, failure)
            acc.recovering = True
            acc.retry_at = _monotonic() + self.backoff_s
        run_callbacks(callbacks)

    def _write_routed(self, primary: Connection, batches: list[list[RecordFuture]]) -> None:
        """Cluster (or not yet known standalone): keyed records go to their partition leader."""
        client = self.client
        metadata = client._metadata
        produce_spec = calls.PRODUCE
        groups: dict[Connection, list[RecordFuture]] = {}
        order: list[Connection] = []
        #: topic -> True when its keyed records need per-key routing (a known cluster topic).
        per_key: dict[str, bool] = {}
        for batch in batches:
            for fut in batch:
                conn = primary
                if fut.key and per_key.get(fut.topic, True):
                    try:
                        conn = client._route(calls.Call(produce_spec, b"", fut.topic, None, None, fut.key))
                    except FlyMQError as exc:
                        logger.info(
                            "producer: routing %r failed (%s); using %s", fut.topic, exc, primary.label
                        )
                    if fut.topic not in per_key:
                        # After the first lookup the cache knows the topic: skip the routing call
                        # for the rest of this write when it is unknown or not a cluster topic.
                        entry = metadata.get(fut.topic)
                        per_key[fut.topic] = bool(
                            not metadata.standalone
                            and entry is not None
                            and entry.topic is not None
                            and entry.cluster_id not in (None, "standalone")
                        )
                if conn not in groups:
                    groups[conn] = []
                    order.append(conn)
                groups[conn].append(fut)
        if len(order) == 1:
            self._write(order[0], batches)
            return
        acc = self.acc
        for conn in order:
            records = groups[conn]
            # Respect the window of each destination.
            while True:
                with acc.lock:
                    pipe = self.pipelines.get(conn)
                    if pipe is None or len(pipe.inflight) < self.max_in_flight or acc.aborted:
                        break
                    acc.sleep_reason = WAITING_IO
                    acc.wake_threshold = acc.in_flight_batches - 1
                acc.sleep(None)
            self._write(conn, split_batches(records, acc.batch_size, acc.max_batch_messages))

    def _write(self, conn: Connection, batches: list[list[RecordFuture]]) -> None:
        """Write ``batches`` to ``conn`` in one send and hand them to its receiver."""
        count = 0
        frames: list[bytes] = []
        for batch in batches:
            count += len(batch)
            frames.extend([fut._frame for fut in batch])
        error: FlyMQError | None = None
        pendings: list[PendingResponse] | None = None
        try:
            pendings = submit_frames(conn, PRODUCE_OP, b"".join(frames), count, timeout=self.request_timeout)
        except FlyMQError as exc:
            error = exc
        deadline = _monotonic() + self.request_timeout
        acc = self.acc
        with acc.lock:
            self.writes += 1
            self.batches_sent += len(batches)
            pipe = self.pipelines.get(conn)
            if pipe is None or pipe.exited:
                pipe = self.pipelines[conn] = Pipeline(self, conn)
                pipe.thread.start()
            start = 0
            for batch in batches:
                for fut in batch:
                    fut._attempts += 1
                end = start + len(batch)
                pipe.push(_Batch(batch, None if pendings is None else pendings[start:end], error, deadline))
                start = end

    # ================================================================== receiver side

    def settle(self, pipe: Pipeline, batch: _Batch) -> list[Callback]:
        """Wait for ``batch``'s answers (receiver thread) and record every record's outcome."""
        records = batch.records
        succeeded: list[RecordFuture] = []
        failed: list[tuple[RecordFuture, FlyMQError]] = []
        retries: list[RecordFuture] = []
        wrapped: dict[int, FlyMQError] = {}
        pendings = batch.pendings
        if pendings is None:
            assert batch.error is not None
            for fut in records:
                self._classify(fut, batch.error, failed, retries, wrapped)
        else:
            last = pendings[-1]
            if not last.done():
                with contextlib.suppress(FlyMQError):  # every record's own error is read below
                    last.wait(max(batch.deadline - _monotonic(), 0.001))
            for fut, pending in zip(records, pendings, strict=True):
                try:
                    op, flags, payload = pending.wait()
                except FlyMQError as exc:
                    self._classify(fut, exc, failed, retries, wrapped)
                    continue
                if op == PRODUCE_OP:
                    fut._payload = payload
                    succeeded.append(fut)
                elif op == _ERROR_OP:
                    text = decode_error_payload(flags, payload)["message"]
                    self._classify(
                        fut, error_from_server(text, op=PRODUCE_OP, topic=fut.topic), failed, retries, wrapped
                    )
                else:
                    problem = ProtocolError(
                        f"response opcode 0x{op:02x} does not answer PRODUCE; the connection is out of step"
                    )
                    pipe.conn.close(str(problem))
                    failed.append((fut, problem))
        if failed:
            self._log_failures(failed)
        return self.acc.complete(
            succeeded, failed, retries, self.backoff_s, records=records, inflight=pipe.inflight
        )

    def _classify(
        self,
        fut: RecordFuture,
        error: FlyMQError,
        failed: list[tuple[RecordFuture, FlyMQError]],
        retries: list[RecordFuture],
        wrapped: dict[int, FlyMQError],
    ) -> None:
        """Retry ``fut`` when ``error`` proves it was not written (and attempts remain), else fail it."""
        not_written = isinstance(error, (NotSentError, NotLeaderError))
        unknown = not not_written and isinstance(error, (ConnectionError, TimeoutError))
        if isinstance(error, NotLeaderError):
            self.client._metadata.invalidate(fut.topic)
        if (not_written or (unknown and self.retry_unacknowledged)) and fut._attempts <= self.max_retries:
            retries.append(fut)
            return
        if unknown:
            shown = wrapped.get(id(error))
            if shown is None:
                advice = (
                    f"it was retried {fut._attempts - 1} times"
                    if self.retry_unacknowledged
                    else "it was not re-sent (at-most-once; retry_unacknowledged=True re-sends such "
                    "records, which may duplicate them)"
                )
                shown = type(error)(
                    f"the record to {fut.topic!r} may or may not have been written: {error}; {advice}",
                    hint="Check the topic before producing the record again.",
                )
                shown.__cause__ = error
                wrapped[id(error)] = shown
            failed.append((fut, shown))
            return
        failed.append((fut, error))

    @staticmethod
    def _log_failures(failed: list[tuple[RecordFuture, FlyMQError]]) -> None:
        first_fut, first_error = failed[0]
        logger.warning(
            "producer: %d record(s) failed (first: to %r after %d attempt(s): %s: %s)",
            len(failed),
            first_fut.topic,
            first_fut._attempts,
            type(first_error).__name__,
            first_error,
        )

    # ================================================================== shutdown

    def stop(self, deadline: float | None) -> bool:
        """Stop every thread (after the accumulator was aborted); ``False`` if one is still running."""
        acc = self.acc
        with acc.lock:
            acc.aborted = True
            acc.wake_sender()
            pipes = list(self.pipelines.values())
            for pipe in pipes:
                pipe.wake_up()
        threads = [self.thread, *(pipe.thread for pipe in pipes)]
        current = threading.current_thread()
        alive = False
        for thread in threads:
            if thread is current or not thread.is_alive():
                continue
            remaining = None if deadline is None else max(deadline - _monotonic(), 0.0)
            thread.join(remaining)
            alive |= thread.is_alive()
        return not alive

    def abandon_in_flight(self, error: FlyMQError) -> tuple[int, list[Callback]]:
        """Under the lock: fail every record still in flight (close timed out); returns count, callbacks."""
        records = [
            fut for pipe in self.pipelines.values() for batch in pipe.inflight for fut in batch.records
        ]
        return len([f for f in records if not f.done()]), self.acc.fail(records, error)


class ProducerThreadError(FlyMQError):
    """An internal failure of the producer's sender thread (a bug: please report it)."""
