"""Pipelined FETCH requests for the sync consumer (prefetching while the application works).

Each assigned partition has at most one FETCH in flight and at most about one answer buffered: as
soon as an answer is taken in, the next FETCH for that partition is written (if the buffer is not
already a FETCH ahead), so the server works on it while the application processes the records just
returned.  FETCH never blocks on the server (past the end it answers at once with no records), so
an idle partition is re-fetched after a short, growing pause rather than in a loop.

Answers come back in request order on a connection; the fetcher waits for the oldest one (this
thread takes the connection's reader role and reads the others along the way), at most as long as
the caller's ``poll`` timeout allows: :meth:`PendingResponse.wait_for` leaves a FETCH that is not
answered yet in flight, so ``poll`` honours its timeout.  A FETCH unanswered after
``request_timeout_ms`` fails like any request (its connection is closed) and the partition is
fetched again after a pause.

Each answer is completed by the client's own FETCH reader (one pass,
:func:`~pyflymq_core.client.calls.decode_fetch`, as the client's ``fetch()``) into the message
objects ``poll()`` hands out by
list slicing; decryption and ``deserializer=`` run per record afterwards, only when configured
(:mod:`pyflymq_core.consumer.records`).  FETCH requests are written to the connections directly
(pipelining), so the fetcher reports them to the client's request counters and lifecycle hooks
itself, through the client's :class:`~pyflymq_core.client.observer.RequestObserver`.

Not thread-safe: the consumer calls it under its own lock.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections import deque
from typing import TYPE_CHECKING

from pyflymq_core.client import calls
from pyflymq_core.client.calls import Call, OutOfStepError
from pyflymq_core.client.connection import Connection, PendingResponse
from pyflymq_core.consumer.assignment import TopicPartition
from pyflymq_core.consumer.buffer import FetchFailures, PartitionBuffer, take_round_robin
from pyflymq_core.consumer.records import FailedRecord, RecordPipeline
from pyflymq_core.errors import ConnectionError, FlyMQError, TimeoutError
from pyflymq_core.models import ConsumedMessage, FetchResult

if TYPE_CHECKING:
    from pyflymq_core.client.sync_client import FlyMQClient

__all__ = ["Fetcher", "PartitionState"]

logger = logging.getLogger("pyflymq.consumer")

_monotonic = time.monotonic


class PartitionState(PartitionBuffer):
    """A :class:`PartitionBuffer` plus the FETCH in flight on a sync connection."""

    __slots__ = ("call", "pending", "pending_epoch", "sent_at", "started")

    def __init__(self, tp: TopicPartition, offset: int, leader: str | None, fetch_size: int = 500) -> None:
        super().__init__(tp, offset, leader, fetch_size)
        self.pending: PendingResponse | None = None
        self.call: Call[FetchResult] | None = None
        self.pending_epoch = 0
        #: When the FETCH in flight was written (for request_timeout_ms).
        self.sent_at = 0.0
        #: The lifecycle start time of that FETCH (0.0 when no plugin observes requests).
        self.started = 0.0


class Fetcher:
    """Drives the FETCH requests of one consumer."""

    def __init__(
        self,
        client: FlyMQClient,
        *,
        fetch_max_messages: int,
        request_timeout: float,
        pipeline: RecordPipeline | None = None,
    ) -> None:
        self.client = client
        self.fetch_max_messages = fetch_max_messages
        self.request_timeout = request_timeout
        self.states: dict[TopicPartition, PartitionState] = {}
        self.order: list[PartitionState] = []
        self.inflight: deque[PartitionState] = deque()
        self._rr = 0
        self._failures = FetchFailures()
        self._pipeline = pipeline

    # ================================================================== assignment

    def add(self, tp: TopicPartition, offset: int, leader: str | None) -> PartitionState:
        """Start fetching ``tp`` from ``offset`` (on ``leader`` when known) and return its state."""
        state = PartitionState(tp, offset, leader, self.fetch_max_messages)
        self.states[tp] = state
        self.order.append(state)
        return state

    # ================================================================== handing out records

    def collect(self, max_records: int) -> list[tuple[PartitionState, list[ConsumedMessage]]]:
        """Up to ``max_records`` buffered records, partitions taken in turn (fairness)."""
        chunks, self._rr = take_round_robin(self.order, self._rr, max_records)
        return chunks

    # ================================================================== requests

    def send_fetches(self, now: float, deadline: float | None = None) -> None:
        """Write a FETCH for every partition that has none in flight and room to buffer.

        A lost connection is re-made here, but only until ``deadline`` (the ``poll`` timeout): a
        failover search over dead servers can take ``(1 + max_retries) x connect_timeout_ms``, and
        ``poll`` must return in time; the partitions back off and the next poll searches on.
        """
        for state in self.order:
            if state.pending is None and state.wants_fetch(now):
                self._submit(state, now, deadline)

    def _submit(
        self, state: PartitionState, now: float, deadline: float | None, conn: Connection | None = None
    ) -> None:
        call = calls.fetch(state.topic, state.partition, state.fetch_offset, state.fetch_size)
        observer = self.client.observer
        started = observer.start(call)
        try:
            if conn is None:
                conn = self._connection(state, deadline)
            pending = conn.submit(call.op, call.payload, timeout=self.request_timeout)
        except (ConnectionError, TimeoutError) as exc:
            observer.end(started, call, None, exc)
            self._failures.back_off(state, exc, now)
            return
        state.pending = pending
        state.call = call
        state.pending_epoch = state.epoch
        state.sent_at = now
        state.started = started
        self.inflight.append(state)

    def _connection(self, state: PartitionState, deadline: float | None) -> Connection:
        client = self.client
        primary = client._primary_connection(deadline)
        address = client._read_address(state.leader, primary)
        if address is None:
            return primary
        try:
            return client._connection_to(address, deadline)
        except (ConnectionError, TimeoutError) as exc:
            client._leader_unreadable(address, exc, primary, state.tp)
            return primary

    def _live_connection(self, state: PartitionState) -> Connection | None:
        """The connection :meth:`_connection` would use, if it is open without connecting."""
        client = self.client
        primary = client._primary
        if primary is None or primary.closed:
            return None
        address = client._read_address(state.leader, primary)
        conn = primary if address is None else client._pool.get(address)
        return conn if conn is not None and not conn.closed else None

    def wait_front(self, timeout: float) -> None:
        """Wait up to ``timeout`` s for the oldest FETCH in flight, then take in every answered one.

        Not being answered in time is not an error (the FETCH stays in flight), unless the FETCH
        has been waiting for ``request_timeout``: then it fails like any request (its connection is
        closed) and the partition is fetched again after a pause.
        """
        inflight = self.inflight
        if not inflight:
            return
        front = inflight[0]
        pending = front.pending
        assert pending is not None
        if not pending.done():
            expires_in = front.sent_at + self.request_timeout - _monotonic()
            with contextlib.suppress(FlyMQError):  # handled with the response below
                if expires_in <= 0:
                    pending.wait(0)  # fails it with TimeoutError and closes the connection
                else:
                    pending.wait_for(min(timeout, expires_in))
        self.take_answered()

    def take_answered(self) -> None:
        """Take in every answered FETCH at the front of the queue (in order)."""
        inflight = self.inflight
        observer = self.client.observer
        now = _monotonic()
        while inflight:
            state = inflight[0]
            pending = state.pending
            assert pending is not None
            if not pending.done():
                return
            inflight.popleft()
            call = state.call
            started = state.started
            state.pending = None
            state.call = None
            assert call is not None
            try:
                frame = pending.wait()
            except FlyMQError as exc:
                observer.end(started, call, None, exc)
                if not isinstance(exc, (ConnectionError, TimeoutError)):
                    raise
                self._failures.back_off(state, exc, now)
                continue
            try:
                # The client's own completion: FETCH's reader decodes a well-formed answer in one
                # pass (calls.decode_fetch); error answers and malformed frames raise; observed.
                result = observer.completed(started, call, frame)
            except OutOfStepError as exc:
                pending.connection.close(str(exc))
                self._failures.back_off(state, exc, now)
                continue
            except (ConnectionError, TimeoutError) as exc:
                self._failures.back_off(state, exc, now)
                continue
            if state.pending_epoch != state.epoch:
                continue  # a seek happened while this FETCH was in flight
            messages = result.messages
            size = (len(frame.payload), len(messages), self.fetch_max_messages)
            failed: FailedRecord | None = None
            if self._pipeline is not None and messages:
                messages, failed = self._pipeline.apply(messages)
            if state.take_in(messages, result.next_offset, failed, now, size):
                conn = self._live_connection(state)
                if conn is not None:  # prefetch; reconnecting is the poll loop's (within its deadline)
                    self._submit(state, now, None, conn)

    def next_fetch_at(self) -> float | None:
        """When the earliest idle partition (not paused, not stopped at a failure) may be fetched again."""
        times = [s.idle_until for s in self.order if not s.paused and s.pending is None and s.failed is None]
        return min(times) if times else None

    def abandon(self) -> None:
        """Forget the FETCHes in flight (closing): their answers are read and dropped by whoever
        reads the connection next."""
        for state in self.inflight:
            state.pending = None
            state.call = None
        self.inflight.clear()
