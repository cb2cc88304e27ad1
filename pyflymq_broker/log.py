"""Topics, partitions and their append-only logs (what the server keeps on disk).

A record is only ``(key, value)``: the real server stores no timestamp, headers or producer id.
Offsets start at 0 in every partition and nothing is ever truncated (no retention runs), so every
offset below the partition's end stays readable until the topic is deleted.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from pyflymq_broker.errors import BrokerError
from pyflymq_core.protocol import partition_for_key

__all__ = ["Partition", "Topic", "TopicStore"]

#: Called after every append with (topic, partition, key, value): the persistence hook.
AppendListener = Callable[[str, int, bytes, bytes], None]


@dataclass
class Partition:
    """One partition's log."""

    records: list[tuple[bytes, bytes]] = field(default_factory=list)

    @property
    def next_offset(self) -> int:
        """The offset the next record gets (the log has no gaps: it is the record count)."""
        return len(self.records)

    @property
    def highest_offset(self) -> int:
        """The storage layer's "highest offset": 0 for an empty log AND for a log holding offset 0.

        This is the root of the server's off-by-one (SUBSCRIBE latest / GET_LAG / RESET_OFFSET
        latest report 1 on an empty partition).
        """
        return max(len(self.records) - 1, 0)


@dataclass
class Topic:
    """A topic: its partitions and the node's keyless round-robin counter."""

    name: str
    partitions: list[Partition]
    round_robin: int = 0

    def pick_partition(self, key: bytes) -> int:
        """FNV-1a of a non-empty key, else the per-topic round-robin counter (shared by producers)."""
        count = len(self.partitions)
        keyed = partition_for_key(key, count) if key else None
        if keyed is not None:
            return keyed
        if count <= 1:
            return 0
        chosen = self.round_robin % count
        self.round_robin += 1
        return chosen


class TopicStore:
    """Every topic of the broker, with the server's create/delete/produce rules."""

    def __init__(self, record_limit: int | None = None) -> None:
        self._topics: dict[str, Topic] = {}
        self._record_limit = record_limit
        self.append_listeners: list[AppendListener] = []

    def __contains__(self, name: str) -> bool:
        return name in self._topics

    def get(self, name: str) -> Topic | None:
        """The topic or ``None``; handlers choose the error text, which differs per opcode."""
        return self._topics.get(name)

    def names(self) -> list[str]:
        """Every topic name, internal ones included (LIST_TOPICS filters them)."""
        return list(self._topics)

    def create(self, name: str, partitions: int) -> bool:
        """Create ``name`` unless it exists (idempotent; the count of an existing topic is kept).

        Returns whether a topic was created. ``partitions`` must be >= 1 here: the handlers map 0
        to 1 and refuse negative counts before calling.
        """
        if partitions < 1:
            raise ValueError(f"a topic needs at least one partition, got {partitions}")
        if name in self._topics:
            return False
        self._topics[name] = Topic(name, [Partition() for _ in range(partitions)])
        return True

    def delete(self, name: str) -> bool:
        """Delete ``name`` if it exists (idempotent). Consumer-group offsets are not touched."""
        return self._topics.pop(name, None) is not None

    def reported_message_count(self, name: str) -> int:
        """The count the server logs/audits on delete: sum of (highest - lowest + 1) per partition.

        Because of the storage off-by-one an empty partition counts as 1; a missing topic is 0.
        """
        topic = self._topics.get(name)
        if topic is None:
            return 0
        return sum(p.highest_offset + 1 for p in topic.partitions)

    def append(self, name: str, index: int, key: bytes, value: bytes) -> int:
        """Append a record to partition ``index`` of an existing topic; returns its offset.

        Choosing the partition, auto-creating the topic and the cluster's leadership checks happen
        before, in :func:`pyflymq_broker.routing.produce` (the one produce path of every opcode).
        """
        part = self._topics[name].partitions[index]
        if self._record_limit is not None and len(part.records) >= self._record_limit:
            # SEMANTICS_NOTES #41: the storage index is full and every further append fails.
            raise BrokerError("EOF")
        offset = len(part.records)
        part.records.append((key, value))
        for listener in self.append_listeners:
            listener(name, index, key, value)
        return offset

    def restore(self, name: str, partitions: list[list[tuple[bytes, bytes]]]) -> None:
        """Install a topic loaded from persistent storage (replaces any topic of that name)."""
        self._topics[name] = Topic(name, [Partition(list(records)) for records in partitions])
