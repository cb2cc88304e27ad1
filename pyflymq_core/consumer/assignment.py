"""Which partitions a consumer reads: discovered from CLUSTER_METADATA, split by the client.

FlyMQ consumer groups are offset storage plus a member counter (SEMANTICS_NOTES #13): the server
has no join/sync/heartbeat and never assigns partitions, so several consumers of one group would
each read *every* partition.  The client therefore decides, deterministically and without talking
to the other members:

* default: every partition of every subscribed topic (one consumer per group);
* ``partitions=(0, 2)``: exactly these partition numbers of each topic (those that exist);
* static membership ``member_index=i, member_count=n``: partition ``p`` of topic ``t`` belongs to
  member ``(p + fnv1a_32(t)) % n``.  Every member computes the same answer, so ``n`` processes
  started with indexes ``0..n-1`` split every topic without duplicates or gaps.  The per-topic
  rotation spreads single-partition topics over the members; FNV-1a (not Python's ``hash``) keeps
  it identical across processes and versions.

There is no rebalancing: if a member stops, its partitions are not read until it (or a replacement
with the same index) comes back; changing ``member_count`` means restarting every member.  FlyMQ
never changes a topic's partition count, so an assignment, once computed, stays valid.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

from pyflymq_core.protocol import fnv1a_32

__all__ = ["TopicPartition", "assign_partitions", "owner_of"]


class TopicPartition(NamedTuple):
    """A (topic, partition) pair, as Kafka clients name it."""

    topic: str
    partition: int


def owner_of(topic: str, partition: int, member_count: int) -> int:
    """The member index that reads ``partition`` of ``topic`` under static membership."""
    return (partition + fnv1a_32(topic.encode("utf-8"))) % member_count


def assign_partitions(
    topic: str,
    partition_count: int,
    *,
    partitions: Iterable[int] | None = None,
    member_index: int | None = None,
    member_count: int | None = None,
) -> list[int]:
    """The partitions of ``topic`` (with ``partition_count`` partitions) this consumer reads."""
    existing = range(partition_count)
    if partitions is not None:
        wanted = set(partitions)
        return [p for p in existing if p in wanted]
    if member_index is not None and member_count is not None:
        return [p for p in existing if owner_of(topic, p, member_count) == member_index]
    return list(existing)
