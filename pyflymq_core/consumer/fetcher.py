"""Per-partition fetch state and pipelined FETCH requests (prefetching while the application works).

Each assigned partition has at most one FETCH in flight and at most about one response buffered:
as soon as a response is taken in, the next FETCH for that partition is written (if the buffer is
not already a full fetch ahead), so the server works on it while the application processes the
records just returned.  FETCH never blocks on the server (past the end it answers at once with no
records), so an idle partition is re-fetched after a short, growing pause rather than in a loop.

Responses come back in request order on a connection; the fetcher waits for the oldest one (this
thread takes the connection's reader role and reads the others along the way) and decodes each
response once, through the client's FETCH parser (:func:`pyflymq_core.client.calls.complete`),
into the message objects that ``poll()`` then hands out by list slicing — no per-record copy.

Not thread-safe: the consumer calls it under its own lock.
"""

from __future__ import annotations

import contextlib
import logging
import struct
import time
from collections import deque
from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol, TypeVar

from pyflymq_core.client import calls
from pyflymq_core.client.calls import Call, OutOfStepError, complete
from pyflymq_core.client.cluster import resolve_leader_address
from pyflymq_core.client.connection import Connection, PendingResponse
from pyflymq_core.consumer.assignment import TopicPartition
from pyflymq_core.errors import ConnectionError, FlyMQError, TimeoutError
from pyflymq_core.models import (
    ConsumedMessage,
    FetchResult,
    _set_dict,
    _set_extra,
    _set_fields_set,
    _set_private,
    fields_set,
)

if TYPE_CHECKING:
    from pyflymq_core.client.sync_client import FlyMQClient

__all__ = ["Fetcher", "PartitionState", "decode_fetch"]

logger = logging.getLogger("pyflymq.consumer")

_monotonic = time.monotonic

#: Pause before re-fetching a partition that had nothing new: doubles from MIN up to MAX.
IDLE_BACKOFF_MIN_S = 0.002
IDLE_BACKOFF_MAX_S = 0.05
#: Pause before re-fetching after a connection failure.
ERROR_BACKOFF_S = 0.1
#: At most one warning per this many seconds for failing fetches.
WARN_EVERY_S = 5.0

_EMPTY: list[ConsumedMessage] = []


class _Buffered(Protocol):
    """What :func:`take_round_robin` needs of a partition's fetch state (sync and async alike)."""

    records: list[ConsumedMessage]
    index: int
    paused: bool


_S = TypeVar("_S", bound=_Buffered)


def take_round_robin(
    order: Sequence[_S], start: int, max_records: int
) -> tuple[list[tuple[_S, list[ConsumedMessage]]], int]:
    """Take up to ``max_records`` buffered records, partitions in turn from ``start``.

    Returns the chunks and the partition to start from next time, so no partition starves. Shared
    by the sync fetcher and the asyncio consumer.
    """
    chunks: list[tuple[_S, list[ConsumedMessage]]] = []
    count = len(order)
    if not count:
        return chunks, start
    taken = 0
    for step in range(count):
        state = order[(start + step) % count]
        records = state.records
        index = state.index
        available = len(records) - index
        if not available or state.paused:
            continue
        want = max_records - taken
        chunk = records if index == 0 and available <= want else records[index : index + want]
        if index + len(chunk) >= len(records):
            state.records = _EMPTY
            state.index = 0
        else:
            state.index = index + len(chunk)
        chunks.append((state, chunk))
        taken += len(chunk)
        if taken >= max_records:
            return chunks, (start + step + 1) % count
    return chunks, (start + 1) % count

_unpack_head = struct.Struct(">IQ").unpack_from
_unpack_record = struct.Struct(">QI").unpack_from
_unpack_u32 = struct.Struct(">I").unpack_from
_MESSAGE_FIELDS = fields_set(ConsumedMessage)
_FETCH_RESPONSE_OP = calls.FETCH.resp_op


def decode_fetch(
    payload: bytes, topic: str, partition: int
) -> tuple[list[ConsumedMessage], int] | None:
    """``(messages, next_offset)`` of a FETCH answer, or ``None`` if it is not well formed.

    The consumer's hot path (spec §8.6: ``u32 count | u64 next_offset | count x (u64 offset |
    bytes key | bytes value)``): one ``struct`` pass that builds the :class:`ConsumedMessage`
    objects directly (the way :func:`pyflymq_core.models.fast_model` does), about a third cheaper
    than decoding to dicts first.  ``None`` sends the frame through the client's generic decoder,
    which raises the precise ``ProtocolError``.  ``tests/unit/test_consumer_fetcher.py`` checks both
    give equal messages.
    """
    new = object.__new__
    cls = ConsumedMessage
    set_dict = _set_dict
    set_fields = _set_fields_set
    set_extra = _set_extra
    set_private = _set_private
    shared = _MESSAGE_FIELDS
    unpack_record = _unpack_record
    unpack_u32 = _unpack_u32
    try:
        count, next_offset = _unpack_head(payload, 0)
        end = len(payload)
        if count * 16 > end - 12:
            return None
        pos = 12
        messages: list[ConsumedMessage] = []
        append = messages.append
        for _ in range(count):
            offset, key_len = unpack_record(payload, pos)
            pos += 12
            key = payload[pos : pos + key_len] if key_len else None
            pos += key_len
            (value_len,) = unpack_u32(payload, pos)
            pos += 4
            message = new(cls)
            set_dict(
                message,
                {
                    "topic": topic,
                    "partition": partition,
                    "offset": offset,
                    "key": key,
                    "value": payload[pos : pos + value_len],
                },
            )
            pos += value_len
            set_fields(message, shared)
            set_extra(message, None)
            set_private(message, None)
            append(message)
    except struct.error:
        return None
    if pos != end:
        return None
    return messages, next_offset


class PartitionState:
    """One assigned partition: positions, the FETCH in flight and the records not yet returned."""

    __slots__ = (
        "call",
        "epoch",
        "fetch_offset",
        "idle_backoff",
        "idle_until",
        "index",
        "leader",
        "partition",
        "paused",
        "pending",
        "pending_epoch",
        "position",
        "records",
        "topic",
        "tp",
    )

    def __init__(self, tp: TopicPartition, offset: int, leader: str | None) -> None:
        self.tp = tp
        self.topic = tp.topic
        self.partition = tp.partition
        #: The next offset to return to the application (what a commit stores).
        self.position = offset
        #: The next offset to ask the server for.
        self.fetch_offset = offset
        self.pending: PendingResponse | None = None
        self.call: Call[FetchResult] | None = None
        self.epoch = 0
        self.pending_epoch = 0
        self.records: list[ConsumedMessage] = _EMPTY
        self.index = 0
        self.paused = False
        self.idle_until = 0.0
        self.idle_backoff = IDLE_BACKOFF_MIN_S
        #: The partition leader's reported address in a cluster (``None``: use the bootstrap connection).
        self.leader = leader

    @property
    def buffered(self) -> int:
        """Records fetched but not yet returned."""
        return len(self.records) - self.index

    def reset(self, offset: int) -> None:
        """Seek: drop buffered records, ignore the FETCH in flight, continue from ``offset``."""
        self.position = offset
        self.fetch_offset = offset
        self.records = _EMPTY
        self.index = 0
        self.epoch += 1
        self.idle_until = 0.0
        self.idle_backoff = IDLE_BACKOFF_MIN_S


class Fetcher:
    """Drives the FETCH requests of one consumer."""

    def __init__(self, client: FlyMQClient, *, fetch_max_messages: int, request_timeout: float) -> None:
        self.client = client
        self.fetch_max_messages = fetch_max_messages
        self.request_timeout = request_timeout
        self.states: dict[TopicPartition, PartitionState] = {}
        self.order: list[PartitionState] = []
        self.inflight: deque[PartitionState] = deque()
        self._rr = 0
        self._last_warning = 0.0
        self._decoder = client._value_decoder

    # ================================================================== assignment

    def add(self, tp: TopicPartition, offset: int, leader: str | None) -> None:
        state = PartitionState(tp, offset, leader)
        self.states[tp] = state
        self.order.append(state)

    # ================================================================== handing out records

    def collect(self, max_records: int) -> list[tuple[PartitionState, list[ConsumedMessage]]]:
        """Up to ``max_records`` buffered records, partitions taken in turn (fairness)."""
        chunks, self._rr = take_round_robin(self.order, self._rr, max_records)
        return chunks

    def push_back(self, state: PartitionState, records: list[ConsumedMessage], epoch: int) -> None:
        """Return records taken by ``collect`` but never handed out (an iterator stopped early)."""
        if not records or state.epoch != epoch:
            return
        rest = state.records[state.index :]
        state.records = records + rest if rest else records
        state.index = 0

    # ================================================================== requests

    def send_fetches(self, now: float) -> None:
        """Write a FETCH for every partition that has none in flight and room to buffer."""
        limit = self.fetch_max_messages
        for state in self.order:
            if state.pending is not None or state.paused or now < state.idle_until:
                continue
            if len(state.records) - state.index >= limit:
                continue
            self._submit(state, now)

    def _submit(self, state: PartitionState, now: float) -> None:
        call = calls.fetch(
            state.topic,
            state.partition,
            state.fetch_offset,
            self.fetch_max_messages,
            decode_value=self._decoder,
        )
        try:
            conn = self._connection(state)
            pending = conn.submit(call.op, call.payload, timeout=self.request_timeout)
        except (ConnectionError, TimeoutError) as exc:
            self._transient(state, exc, now)
            return
        state.pending = pending
        state.call = call
        state.pending_epoch = state.epoch
        self.inflight.append(state)

    def _connection(self, state: PartitionState) -> Connection:
        client = self.client
        primary = client._primary_connection()
        if state.leader is None or client._metadata.standalone:
            return primary
        address = resolve_leader_address(state.leader, primary.address)
        if address == primary.address:
            return primary
        try:
            return client._connection_to(address)
        except (ConnectionError, TimeoutError) as exc:
            logger.info(
                "leader %s of %s unreachable (%s); reading from %s", address, state.tp, exc, primary.label
            )
            return primary

    def wait_front(self) -> None:
        """Block until the oldest FETCH in flight is answered, then take in every answered one."""
        inflight = self.inflight
        if not inflight:
            return
        front = inflight[0]
        pending = front.pending
        assert pending is not None
        if not pending.done():
            with contextlib.suppress(FlyMQError):  # handled with the response below
                pending.wait(self.request_timeout)
        self.take_answered()

    def take_answered(self) -> None:
        """Take in every answered FETCH at the front of the queue (in order)."""
        inflight = self.inflight
        now = _monotonic()
        while inflight:
            state = inflight[0]
            pending = state.pending
            assert pending is not None
            if not pending.done():
                return
            inflight.popleft()
            call = state.call
            state.pending = None
            state.call = None
            assert call is not None
            try:
                frame = pending.wait()
                decoded = None
                if frame.op == _FETCH_RESPONSE_OP and self._decoder is None:
                    decoded = decode_fetch(frame.payload, state.topic, state.partition)
                if decoded is None:
                    result = complete(call, frame)  # error answers, value decoder, malformed frames
                    decoded = result.messages, result.next_offset
            except OutOfStepError as exc:
                pending.connection.close(str(exc))
                self._transient(state, exc, now)
                continue
            except (ConnectionError, TimeoutError) as exc:
                self._transient(state, exc, now)
                continue
            if state.pending_epoch != state.epoch:
                continue  # a seek happened while this FETCH was in flight
            messages, next_offset = decoded
            if messages:
                if state.index < len(state.records):
                    state.records = state.records[state.index :] + messages
                else:
                    state.records = messages
                state.index = 0
                state.fetch_offset = next_offset
                state.idle_backoff = IDLE_BACKOFF_MIN_S
                state.idle_until = 0.0
                if not state.paused:
                    self._submit(state, now)  # prefetch the next batch while the app works
            else:
                state.fetch_offset = max(state.fetch_offset, next_offset)
                state.idle_until = now + state.idle_backoff
                state.idle_backoff = min(state.idle_backoff * 2, IDLE_BACKOFF_MAX_S)

    def _transient(self, state: PartitionState, error: FlyMQError, now: float) -> None:
        state.idle_until = now + ERROR_BACKOFF_S
        if now - self._last_warning >= WARN_EVERY_S:
            self._last_warning = now
            logger.warning("fetching %s[%d] failed (%s); retrying", state.topic, state.partition, error)
        else:
            logger.debug("fetching %s[%d] failed (%s); retrying", state.topic, state.partition, error)

    def next_fetch_at(self) -> float | None:
        """When the earliest idle (not paused) partition may be fetched again."""
        times = [s.idle_until for s in self.order if not s.paused and s.pending is None]
        return min(times) if times else None

    def abandon(self) -> None:
        """Forget the FETCHes in flight (closing): their answers are read and dropped by whoever
        reads the connection next."""
        for state in self.inflight:
            state.pending = None
            state.call = None
        self.inflight.clear()
