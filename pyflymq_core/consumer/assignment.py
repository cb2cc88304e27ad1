"""Which partitions a consumer reads: discovered from CLUSTER_METADATA, split by the client.

FlyMQ consumer groups are offset storage plus a member counter (SEMANTICS_NOTES #13): the server
has no join/sync/heartbeat and never assigns partitions, so several consumers of one group would
each read *every* partition.  The client therefore decides, deterministically and without talking
to the other members:

* default: every partition of every subscribed topic (one consumer per group);
* ``partitions=(0, 2)``: exactly these partition numbers of each topic; naming one a topic does not
  have raises :class:`~pyflymq_core.errors.PartitionNotFoundError` as soon as the topic's metadata
  is known (:func:`check_partitions_exist`): FlyMQ never adds partitions, so waiting would not help;
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

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, NamedTuple, Union

from pyflymq_core import validation as v
from pyflymq_core.errors import InvalidArgumentError, InvalidArgumentTypeError, PartitionNotFoundError
from pyflymq_core.protocol import fnv1a_32

if TYPE_CHECKING:
    from pyflymq_core.models import ClusterMetadata

__all__ = [
    "PartitionSpec",
    "TopicPartition",
    "assign_partitions",
    "assigned_partitions",
    "check_partitions_exist",
    "not_assigned_error",
    "owner_of",
    "partition_specs",
    "subscription_topics",
    "topic_partition",
]


class TopicPartition(NamedTuple):
    """A (topic, partition) pair, as Kafka clients name it."""

    topic: str
    partition: int


#: A partition argument: a partition number (single-topic consumers), a TopicPartition or a
#: ``(topic, partition)`` tuple.
PartitionSpec = Union[int, TopicPartition, tuple[str, int]]  # noqa: UP007 (a runtime alias on 3.10)


def topic_partition(spec: PartitionSpec, topic: str | None, topics: Sequence[str]) -> TopicPartition:
    """The partition a ``seek``/``position``/``committed`` argument names, for a consumer of
    ``topics``: a bare number needs ``topic=`` unless the consumer reads a single topic."""
    if isinstance(spec, tuple):
        return TopicPartition(str(spec[0]), int(spec[1]))
    if isinstance(spec, bool) or not isinstance(spec, int):
        raise InvalidArgumentError(f"partition must be an int or (topic, partition), got {spec!r}")
    if topic is None:
        if len(topics) != 1:
            raise InvalidArgumentError(
                f"this consumer reads {len(topics)} topics; name the topic",
                hint="Pass topic=... or a (topic, partition) tuple.",
            )
        topic = topics[0]
    return TopicPartition(topic, spec)


def partition_specs(partitions: PartitionSpec | Iterable[PartitionSpec]) -> list[PartitionSpec]:
    """The partition arguments of ``pause``/``resume``/``seek_to_*``/``end_offsets``: one, or an
    iterable of them (a ``(topic, partition)`` tuple is one, not two)."""
    if isinstance(partitions, (int, TopicPartition)) or (
        isinstance(partitions, tuple) and len(partitions) == 2 and isinstance(partitions[0], str)
    ):
        return [partitions]
    return list(partitions)


def not_assigned_error(tp: TopicPartition, assigned: Iterable[TopicPartition]) -> InvalidArgumentError:
    """The error for a partition argument naming a partition the consumer does not read."""
    return InvalidArgumentError(
        f"partition {tp.partition} of {tp.topic!r} is not assigned to this consumer "
        f"(assigned: {sorted(assigned)})",
        hint="Check the topic's partition count and the consumer's partitions / member_index.",
    )


def subscription_topics(topics: str | Iterable[str] | None) -> list[str]:
    """The validated topic names a consumer reads (one name or several; duplicates dropped, order
    kept); both the sync and the asyncio consumer take their ``topics`` argument through this."""
    if topics is None:
        raise InvalidArgumentError(
            "a consumer needs topics", hint="Pass a topic name or a list: consumer('topic', 'group')."
        )
    if isinstance(topics, str):
        names = [topics]
    elif isinstance(topics, Iterable) and not isinstance(topics, (bytes, bytearray, memoryview)):
        names = list(topics)
    else:
        raise InvalidArgumentTypeError(
            f"topics must be a str or a list of str, got {type(topics).__name__} ({topics!r})",
            hint="Pass a topic name or a list: consumer('topic', 'group') or consumer(['a', 'b'], 'group').",
        )
    if not names:
        raise InvalidArgumentError(
            "a consumer needs at least one topic", hint="Pass a non-empty list of topics."
        )
    return [v.check_topic(name) for name in dict.fromkeys(names)]


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


def check_partitions_exist(topic: str, partition_count: int, partitions: Iterable[int] | None) -> None:
    """Raise :class:`PartitionNotFoundError` when ``partitions`` names one ``topic`` does not have."""
    if partitions is None:
        return
    missing = sorted(p for p in set(partitions) if p >= partition_count)
    if not missing:
        return
    listed = ", ".join(str(p) for p in missing)
    plural = "s" if len(missing) > 1 else ""
    raise PartitionNotFoundError(
        f"partition{plural} {listed} of {topic!r} do{'' if plural else 'es'} not exist: the topic has "
        f"{partition_count} partition{'s' if partition_count != 1 else ''} (0..{partition_count - 1})",
        topic=topic,
        partition=missing[0],
        hint=f"Pass partitions between 0 and {partition_count - 1} (see client.get_topic_metadata("
        f"{topic!r})); FlyMQ never adds partitions to a topic, so waiting would not help.",
    )


def assigned_partitions(
    topic: str,
    metadata: ClusterMetadata,
    *,
    partitions: Iterable[int] | None = None,
    member_index: int | None = None,
    member_count: int | None = None,
) -> list[tuple[TopicPartition, str | None]] | None:
    """The partitions of ``topic`` this consumer reads, each with its leader's reported address
    (``None``: read through the bootstrap connection, always so for a standalone server).

    ``None`` when the metadata does not list the topic (or lists no partitions): it does not exist
    yet.  Shared by the sync and asyncio consumers.
    """
    entry = metadata.topic(topic)
    if entry is None or not entry.partitions:
        return None
    check_partitions_exist(topic, entry.partition_count, partitions)
    numbers = assign_partitions(
        topic,
        entry.partition_count,
        partitions=partitions,
        member_index=member_index,
        member_count=member_count,
    )
    leaders: dict[int, str] = {}
    if not metadata.standalone:
        leaders = {p.partition: p.leader_addr for p in entry.partitions if p.leader_addr}
    return [(TopicPartition(topic, p), leaders.get(p)) for p in numbers]
