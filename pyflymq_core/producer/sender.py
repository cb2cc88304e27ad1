"""The producer's I/O: one sender thread that writes batches, one receiver thread per connection.

FlyMQ has no batch produce opcode, so a "batch" here is a run of PRODUCE frames written with one
``send`` (``Connection.submit_batches``, one pending object per batch, none per record); the
server answers each frame, in order.  The sender keeps
at most ``max_in_flight`` batches unanswered per connection; the receiver of that connection waits
for the answers of the oldest batch (the connection's reader role, see
:mod:`pyflymq_core.client.connection`), then settles every record of it — and of the batches
behind it already answered — at once: one pass, one lock, one callback run.  Answers are decoded
only for ``on_success`` callbacks (when they run, after the batch's window slots were freed, so the
sender refills the window meanwhile) or when a future's metadata is asked for.  Every record
written is reported to the client's counters and lifecycle hooks (:mod:`.observe`).

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
* ``close(timeout)`` that runs out abandons what is in flight: the receivers stop within
  :data:`WAIT_SLICE_S` (their waits are sliced with the non-fatal ``PendingResponse.wait_for``), the
  connection stays open and its next reader takes the late answers.
"""

from __future__ import annotations

import _thread
import logging
import threading
import time
from collections import deque
from itertools import chain
from typing import TYPE_CHECKING

from pyflymq_core.client import calls
from pyflymq_core.client.connection import Connection, PendingBatch
from pyflymq_core.errors import FlyMQError, LeaderAddressUnknownError, ProducerClosedError, ProtocolError
from pyflymq_core.producer.accumulator import (
    LINGERING,
    NO_RECORDS,
    WAITING_IO,
    RecordAccumulator,
    run_callbacks,
)
from pyflymq_core.producer.encoding import PRODUCE_OP
from pyflymq_core.producer.future import RecordFuture
from pyflymq_core.producer.observe import (
    Observed,
    observe_answers,
    observe_failures,
    observe_writes,
    record_outcomes,
)
from pyflymq_core.producer.policy import RetryRule, answer_error, frames_bytes, split_batches

if TYPE_CHECKING:
    from pyflymq_core.client.sync_client import FlyMQClient

__all__ = ["Sender"]

logger = logging.getLogger("pyflymq.producer")

_monotonic = time.monotonic
#: How long a receiver waits for answers before checking whether the producer was aborted.
WAIT_SLICE_S = 0.25
#: Sender actions besides the sleep reasons (which are > 0).
_SEND = 0
_EXIT = -1


class _Batch:
    """Records written together: their answers' :class:`PendingBatch`, or the error that stopped
    the write; ``observed``: what the lifecycle hooks were told at the write (``None`` when nobody
    listens)."""

    __slots__ = ("deadline", "error", "observed", "pending", "records")

    def __init__(
        self,
        records: list[RecordFuture],
        pending: PendingBatch | None,
        error: FlyMQError | None,
        deadline: float,
        observed: Observed | None,
    ) -> None:
        self.records = records
        self.pending = pending
        self.error = error
        self.deadline = deadline
        self.observed = observed


def _unanswered_error(pending: PendingBatch) -> FlyMQError:
    """The error of the requests of a settled batch that got no answer."""
    error = pending.exception()
    if error is None:  # a batch is only done with every answer or with an error: never here
        error = ProtocolError(f"{pending!r} ended without an answer to every request")
    return error


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
        inflight = self.inflight
        try:
            while True:
                with lock:
                    batches = list(inflight)
                    if not batches:
                        if acc.aborted or self.conn.closed:
                            self.exited = True
                            if sender.pipelines.get(self.conn) is self:
                                del sender.pipelines[self.conn]
                            return
                        self.sleeping = True
                if not batches:
                    self.wake.acquire()
                    continue
                run_callbacks(sender.settle(self, batches))
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
        rule: RetryRule,
        retry_backoff_ms: int,
        request_timeout: float,
        name: str,
    ) -> None:
        self.client = client
        self.acc = acc
        self.max_in_flight = max_in_flight
        self.rule = rule
        self.backoff_s = retry_backoff_ms / 1000.0
        self.request_timeout = request_timeout
        #: Connection -> its pipeline (guarded by the accumulator lock).
        self.pipelines: dict[Connection, Pipeline] = {}
        self.batches_sent = 0
        self.writes = 0
        self.thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> None:
        """Start the sender thread; separate from construction so a failed set-up leaves no thread behind."""
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
        try:
            if client._metadata.standalone or not any(fut.key for batch in batches for fut in batch):
                self._write(conn, batches)  # everything goes to the bootstrap connection
            else:
                self._write_routed(conn, batches)
        except BaseException:
            self._fail_unpushed(batches)
            raise
        return True

    def _fail_unpushed(self, batches: list[list[RecordFuture]]) -> None:
        """An unexpected error escaped a write (a bug): fail the taken records no pipeline holds,
        so none is left hanging (the sender thread then fails everything still queued)."""
        acc = self.acc
        with acc.lock:
            held = {id(fut) for pipe in self.pipelines.values() for b in pipe.inflight for fut in b.records}
            lost = [fut for batch in batches for fut in batch if id(fut) not in held]
            callbacks = acc.fail(
                lost,
                ProducerThreadError(
                    "the producer's sender thread failed while writing; the record was not sent"
                ),
            )
        run_callbacks(callbacks)

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
        with acc.lock:
            give_up, failure = self.rule.no_server(
                error, (acc.retry, acc.queue), backoff_s=self.backoff_s, client_closed=self.client.closed
            )
            acc.queued_bytes = frames_bytes(chain(acc.retry, acc.queue))
            callbacks = acc.fail(give_up, failure)
            acc.recovering = True
            acc.retry_at = _monotonic() + self.backoff_s
        run_callbacks(callbacks)

    def _write_routed(self, primary: Connection, batches: list[list[RecordFuture]]) -> None:
        """Cluster (or not yet known standalone): keyed records go to their partition leader; one
        whose leader is known only by a cluster (Raft) address fails at once, unsent."""
        client = self.client
        metadata = client._metadata
        produce_spec = calls.PRODUCE
        groups: dict[Connection, list[RecordFuture]] = {}
        order: list[Connection] = []
        #: Records whose leader is known only by a cluster (Raft) address: failed, never sent.
        unroutable: list[tuple[RecordFuture, FlyMQError]] = []
        #: topic -> True when its keyed records need per-key routing (a known cluster topic).
        per_key: dict[str, bool] = {}
        for batch in batches:
            for fut in batch:
                conn = primary
                if fut.key and per_key.get(fut.topic, True):
                    try:
                        conn = client._route(calls.Call(produce_spec, b"", fut.topic, None, None, fut.key))
                    except LeaderAddressUnknownError as exc:
                        unroutable.append((fut, exc))
                        continue
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
        if unroutable:
            self._fail_unroutable(unroutable)
        elif len(order) == 1:
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

    def _fail_unroutable(self, records: list[tuple[RecordFuture, FlyMQError]]) -> None:
        """Fail records routing refused before sending (their leader is known only by a cluster
        address); each keeps its own error, which names its partition."""
        acc = self.acc
        callbacks: list[RecordFuture] = []
        with acc.lock:
            for fut, error in records:
                callbacks += acc.fail([fut], error)
        self._log_failures(records)
        run_callbacks(callbacks)

    def _write(self, conn: Connection, batches: list[list[RecordFuture]]) -> None:
        """Write ``batches`` to ``conn`` in one send and hand them to its receiver."""
        frames: list[bytes] = []
        add = frames.append
        for batch in batches:
            for fut in batch:
                fut._attempts += 1  # the sender's own until pushed below: no lock needed
                add(fut._frame)
        observed = observe_writes(self.client.observer, batches)
        error: FlyMQError | None = None
        pendings: list[PendingBatch] | None = None
        try:
            pendings = conn.submit_batches(
                PRODUCE_OP, b"".join(frames), [len(batch) for batch in batches], timeout=self.request_timeout
            )
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
            for index, batch in enumerate(batches):
                end = start + len(batch)
                pipe.push(
                    _Batch(
                        batch,
                        None if pendings is None else pendings[index],
                        error,
                        deadline,
                        None if observed is None else observed[start:end],
                    )
                )
                start = end

    # ================================================================== receiver side

    def settle(self, pipe: Pipeline, batches: list[_Batch]) -> list[RecordFuture]:
        """Wait for the answers of the oldest batch in flight (receiver thread) and record the
        outcome of its records — and of the batches behind it whose answers are all in already, so
        a receiver that fell behind catches up with one pass, one lock and one callback run.
        """
        head = batches[0]
        succeeded: list[RecordFuture] = []
        failed: list[tuple[RecordFuture, FlyMQError]] = []
        retries: list[RecordFuture] = []
        callbacks: list[RecordFuture] = []
        shown: dict[int, FlyMQError] = {}
        count = 1
        if head.pending is None:
            assert head.error is not None
            for fut in head.records:
                self._classify(fut, head.error, failed, retries, callbacks, shown)
        elif not self._await_answers(head.pending, head.deadline):
            # close() timed out and abandoned the batch (its records already failed): stop waiting
            # and leave the requests in flight; the connection's next reader takes their answers.
            abandoned = ProducerClosedError("the producer was closed before the server answered")
            failed.extend((fut, abandoned) for fut in head.records)
        else:
            for batch in batches[1:]:
                if batch.pending is None or not batch.pending.done():
                    break
                count += 1
            for batch in batches[:count]:
                pending = batch.pending
                assert pending is not None
                records = batch.records
                answered = pending.frames
                for fut, (op, flags, payload) in zip(records, answered, strict=False):
                    if op == PRODUCE_OP:
                        # Decoded only if someone asks: an on_success callback (after the window
                        # slots are freed, so the sender refills it meanwhile) or the metadata.
                        fut._payload = payload
                        if fut._on_success is not None:
                            callbacks.append(fut)
                        succeeded.append(fut)
                    else:
                        error = answer_error(op, flags, payload, fut.topic)
                        if isinstance(error, ProtocolError):
                            pipe.conn.close(str(error))
                            self._fail(fut, error, failed, callbacks)
                        else:
                            self._classify(fut, error, failed, retries, callbacks, shown)
                if len(answered) < len(records):
                    lost = _unanswered_error(pending)
                    for fut in records[len(answered) :]:
                        self._classify(fut, lost, failed, retries, callbacks, shown)
        self._observe(batches[:count], failed, retries)
        fresh = [item for item in failed if not item[0].done()]  # not those close() already failed
        if fresh:
            self._log_failures(fresh)
        return self.acc.complete(
            succeeded,
            failed,
            retries,
            callbacks,
            backoff_s=self.backoff_s,
            batches=count,
            inflight=pipe.inflight,
        )

    def _observe(
        self,
        batches: list[_Batch],
        failed: list[tuple[RecordFuture, FlyMQError]],
        retries: list[RecordFuture],
    ) -> None:
        """Report the settled batches' answers to the client's counters and lifecycle hooks."""
        observer = self.client.observer
        if batches[0].observed is None:
            observe_failures(observer, len(failed) + len(retries))
            return
        for batch in batches:
            observed = batch.observed
            if observed is None:
                continue
            pending = batch.pending
            if pending is None or not pending.done():  # not written, or abandoned
                error = batch.error or ProducerClosedError(
                    "the producer was closed before the server answered"
                )
                observe_answers(observer, observed, ((None, error) for _ in observed))
            else:
                records = batch.records
                lost = _unanswered_error(pending) if len(pending.frames) < len(records) else None
                observe_answers(observer, observed, record_outcomes(records, pending.frames, lost))

    def _await_answers(self, last: PendingBatch, deadline: float) -> bool:
        """Wait until every request of the batch ``last`` is answered, or it failed; ``False`` when
        the producer was aborted meanwhile.

        The wait is cut in :data:`WAIT_SLICE_S` slices with the non-fatal ``wait_for``, so an
        aborted producer's receiver stops within a slice instead of staying blocked until the
        request timeout; the final stretch uses the fatal ``wait``, which times the request out
        (and closes the connection, out of step from then on) exactly at ``deadline``.
        """
        acc = self.acc
        while not last.done():
            if acc.aborted:
                return False
            remaining = deadline - _monotonic()
            try:
                if remaining > WAIT_SLICE_S:
                    last.wait_for(WAIT_SLICE_S)
                else:
                    last.wait(max(remaining, 0.001))
            except FlyMQError:
                break  # every record's own error is read by the caller
        return True

    def _classify(
        self,
        fut: RecordFuture,
        error: FlyMQError,
        failed: list[tuple[RecordFuture, FlyMQError]],
        retries: list[RecordFuture],
        callbacks: list[RecordFuture],
        shown: dict[int, FlyMQError],
    ) -> None:
        """Retry ``fut`` or fail it, by the producers' shared rule (:class:`policy.RetryRule`)."""
        final = self.rule.decide(error, fut.topic, fut._attempts, shown)
        if final is None:
            retries.append(fut)
        else:
            self._fail(fut, final, failed, callbacks)

    @staticmethod
    def _fail(
        fut: RecordFuture,
        error: FlyMQError,
        failed: list[tuple[RecordFuture, FlyMQError]],
        callbacks: list[RecordFuture],
    ) -> None:
        failed.append((fut, error))
        if fut._on_error is not None:
            callbacks.append(fut)

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

    def abandon_in_flight(self, error: FlyMQError) -> tuple[int, list[RecordFuture]]:
        """Under the lock: fail every record still in flight (close timed out); returns count, callbacks."""
        records = [
            fut for pipe in self.pipelines.values() for batch in pipe.inflight for fut in batch.records
        ]
        return len([f for f in records if not f.done()]), self.acc.fail(records, error)


class ProducerThreadError(FlyMQError):
    """An internal failure of the producer's sender thread (a bug: please report it)."""
