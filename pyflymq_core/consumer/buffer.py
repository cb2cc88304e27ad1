"""What a consumer keeps per assigned partition, without I/O: positions, fetched records, the FETCH
size, idle back-off and a record that could not be handled.  Shared by the sync fetcher
(:class:`~pyflymq_core.consumer.fetcher.PartitionState`) and the asyncio consumer, which add only
how their FETCH is in flight, so the two cannot drift apart.

* ``position``: the next offset to hand to the application (what a commit stores);
* ``fetch_offset``: the next offset to ask the server for;
* ``records[index:]``: fetched, not yet handed out (handed out by list slicing, never one by one);
* ``epoch``: bumped by a seek, so the answer of a FETCH sent before it is dropped;
* ``fetch_size``: records asked per FETCH — ``fetch_max_messages`` at most, fewer for large
  records (:func:`fetch_size_for`): an answer of about :data:`FETCH_TARGET_BYTES` arrives in one
  read of the TCP transport's 256 KiB buffer and is parsed straight out of it (one copy), while
  bigger answers are reassembled from several reads (``bench/consumer.py``: 1 KiB records cost
  ~10 % less at 240 KiB than at 128 KiB, and more again at 384-512 KiB).  Small records are also capped in
  number (:func:`records_cap`): every ``ConsumedMessage`` is a GC-tracked object, and when a
  FETCH's worth of new records plus the batch the application still holds exceed the collector's
  first threshold, every FETCH sets off a collection whose survivors (the buffered records) are
  promoted until a full collection walks the whole heap — about 0.3-0.5 µs per 100-byte record
  (``bench/consumer.py``), more than the extra round trips of smaller answers cost;
* ``failed``: the record the :mod:`~pyflymq_core.consumer.records` pipeline stopped at; fetching
  stops there until a seek, and ``poll()`` raises its error once the records before it are out.
"""

from __future__ import annotations

import gc
import logging
from collections.abc import Sequence
from typing import TypeVar

from pyflymq_core.consumer.assignment import TopicPartition
from pyflymq_core.consumer.records import FailedRecord
from pyflymq_core.models import ConsumedMessage

__all__ = [
    "ERROR_BACKOFF_S",
    "FETCH_TARGET_BYTES",
    "IDLE_BACKOFF_MAX_S",
    "IDLE_BACKOFF_MIN_S",
    "WARN_EVERY_S",
    "FetchFailures",
    "PartitionBuffer",
    "fetch_size_for",
    "first_failure",
    "records_cap",
    "take_round_robin",
]

#: Pause before re-fetching a partition that had nothing new: doubles from MIN up to MAX.
IDLE_BACKOFF_MIN_S = 0.002
IDLE_BACKOFF_MAX_S = 0.05
#: Pause before re-fetching after a connection failure.
ERROR_BACKOFF_S = 0.1
#: At most one warning per this many seconds for failing fetches.
WARN_EVERY_S = 5.0
#: The FETCH answer size aimed at (see the module docstring; bench/consumer.py measures it).
FETCH_TARGET_BYTES = 240 * 1024
#: Wire bytes of a record besides its key and value (u64 offset, u32 key length, u32 value length).
RECORD_OVERHEAD = 16
#: The server scans at most this many records per FETCH.
MAX_FETCH_RECORDS = 1000
#: :func:`records_cap` never goes below this (round trips would cost more than collections).
MIN_RECORDS_CAP = 100

logger = logging.getLogger("pyflymq.consumer")

_gc_threshold = gc.get_threshold
_gc_enabled = gc.isenabled

_EMPTY: list[ConsumedMessage] = []


def records_cap() -> int:
    """The most records worth asking per FETCH given the garbage collector's settings: two answers'
    worth (the one being decoded and the batch the application still holds) stay under the
    first-generation threshold (700 by default: 280 records), so streaming through records does
    not set off collections by itself.  No cap with the collector off or its threshold at 0."""
    threshold = _gc_threshold()[0]
    if threshold <= 0 or not _gc_enabled():
        return MAX_FETCH_RECORDS
    return max(MIN_RECORDS_CAP, threshold * 2 // 5)


def fetch_size_for(answer_bytes: int, count: int, max_messages: int) -> int:
    """Records to ask for next, from an answer of ``answer_bytes`` holding ``count`` records."""
    if count <= 0:
        return max_messages
    per_record = max(answer_bytes // count, RECORD_OVERHEAD)
    return max(1, min(max_messages, FETCH_TARGET_BYTES // per_record, records_cap()))


class PartitionBuffer:
    """One assigned partition's positions and fetched records (see the module docstring)."""

    __slots__ = (
        "epoch",
        "failed",
        "fetch_offset",
        "fetch_size",
        "idle_backoff",
        "idle_until",
        "index",
        "leader",
        "partition",
        "paused",
        "position",
        "records",
        "topic",
        "tp",
    )

    def __init__(self, tp: TopicPartition, offset: int, leader: str | None, fetch_size: int = 500) -> None:
        self.tp = tp
        self.topic = tp.topic
        self.partition = tp.partition
        self.position = offset
        self.fetch_offset = offset
        self.epoch = 0
        self.records: list[ConsumedMessage] = _EMPTY
        self.index = 0
        self.paused = False
        self.idle_until = 0.0
        self.idle_backoff = IDLE_BACKOFF_MIN_S
        self.fetch_size = fetch_size
        self.failed: FailedRecord | None = None
        #: The partition leader's reported address in a cluster (``None``: use the bootstrap connection).
        self.leader = leader

    @property
    def buffered(self) -> int:
        """Records fetched but not yet returned."""
        return len(self.records) - self.index

    def wants_fetch(self, now: float) -> bool:
        """Whether a FETCH should be sent now (the caller checks that none is in flight): not
        paused, not stopped at a failed record, not idling, and less than a FETCH's worth buffered."""
        return (
            not self.paused
            and self.failed is None
            and now >= self.idle_until
            and len(self.records) - self.index < self.fetch_size
        )

    def reset(self, offset: int) -> None:
        """Seek: drop buffered records and any failure, ignore the FETCH in flight, go on from ``offset``."""
        self.position = offset
        self.fetch_offset = offset
        self.records = _EMPTY
        self.index = 0
        self.epoch += 1
        self.failed = None
        self.idle_until = 0.0
        self.idle_backoff = IDLE_BACKOFF_MIN_S

    def push_back(self, records: list[ConsumedMessage], epoch: int) -> None:
        """Return records taken but never handed out (an iteration stopped early); ignored after a seek."""
        if not records or self.epoch != epoch:
            return
        rest = self.records[self.index :]
        self.records = records + rest if rest else records
        self.index = 0

    def take_in(
        self,
        messages: list[ConsumedMessage],
        next_offset: int,
        failed: FailedRecord | None,
        now: float,
        size: tuple[int, int, int] | None = None,
    ) -> bool:
        """Buffer a FETCH answer; ``True`` when the next FETCH should go out at once (prefetch).

        ``size``: ``(answer bytes, records in it, fetch_max_messages)``, to adapt ``fetch_size``;
        an answer without records says nothing about their size (the size learned is kept).
        """
        if size is not None and size[1]:
            self.fetch_size = fetch_size_for(*size)
        if messages:
            if self.index < len(self.records):
                self.records = self.records[self.index :] + messages
            else:
                self.records = messages
            self.index = 0
            self.idle_backoff = IDLE_BACKOFF_MIN_S
            self.idle_until = 0.0
        if failed is not None:
            self.failed = failed
            self.fetch_offset = failed.message.offset
            return False
        if messages:
            self.fetch_offset = next_offset
            return not self.paused
        self.fetch_offset = max(self.fetch_offset, next_offset)
        self.idle_until = now + self.idle_backoff
        self.idle_backoff = min(self.idle_backoff * 2, IDLE_BACKOFF_MAX_S)
        return False


class FetchFailures:
    """What a consumer does when a FETCH failed on the way (connection loss, timeout): the
    partition pauses for :data:`ERROR_BACKOFF_S`, and the failure is logged — as a warning at most
    once per :data:`WARN_EVERY_S` (a server outage would otherwise flood the log), else at debug."""

    __slots__ = ("_last_warning",)

    def __init__(self) -> None:
        self._last_warning = -WARN_EVERY_S

    def back_off(self, state: PartitionBuffer, error: BaseException, now: float) -> None:
        """Pause ``state``'s fetching after ``error`` and log it."""
        state.idle_until = now + ERROR_BACKOFF_S
        if now - self._last_warning >= WARN_EVERY_S:
            self._last_warning = now
            logger.warning("fetching %s[%d] failed (%s); retrying", state.topic, state.partition, error)
        else:
            logger.debug("fetching %s[%d] failed (%s); retrying", state.topic, state.partition, error)


_S = TypeVar("_S", bound=PartitionBuffer)


def take_round_robin(
    order: Sequence[_S], start: int, max_records: int
) -> tuple[list[tuple[_S, list[ConsumedMessage]]], int]:
    """Take up to ``max_records`` buffered records, partitions in turn from ``start`` (at most one
    chunk per partition).

    Returns the chunks and the partition to start from next time, so no partition starves.
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


def first_failure(order: Sequence[PartitionBuffer]) -> FailedRecord | None:
    """The failure to raise now: one of a partition (not paused) whose good records were all handed out."""
    for state in order:
        failed = state.failed
        if failed is not None and not state.paused and state.index >= len(state.records):
            return failed
    return None
