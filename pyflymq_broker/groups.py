"""Consumer groups: committed offsets keyed by "topic:group", plus a member counter.

That is all a FlyMQ consumer group is (SEMANTICS_NOTES #13): no join/sync/heartbeat, no
assignment. Groups are keyed by the string ``f"{topic}:{group}"`` exactly as the server keys its
map, so two different (topic, group) pairs that format to the same key share one entry there too.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pyflymq_broker.errors import BrokerError

__all__ = ["ConsumerGroup", "GroupStore"]


@dataclass
class ConsumerGroup:
    """A group's committed offsets per partition and the connections subscribed to it.

    Members are only counted (DESCRIBE_GROUP reports how many): FlyMQ assigns nothing.
    """

    topic: str
    group_id: str
    offsets: dict[int, int] = field(default_factory=dict)
    members: set[str] = field(default_factory=set)


class GroupStore:
    """All consumer groups of the broker."""

    def __init__(self) -> None:
        self._groups: dict[str, ConsumerGroup] = {}

    @staticmethod
    def key(topic: str, group_id: str) -> str:
        """The server's map key ``"topic:group"``; colliding pairs share an entry there too."""
        return f"{topic}:{group_id}"

    def get_or_create(self, topic: str, group_id: str) -> ConsumerGroup:
        """The group, created empty on first use (SUBSCRIBE and COMMIT create groups implicitly)."""
        k = self.key(topic, group_id)
        group = self._groups.get(k)
        if group is None:
            group = self._groups[k] = ConsumerGroup(topic, group_id)
        return group

    def get(self, topic: str, group_id: str) -> ConsumerGroup:
        """The group, or the server's ``consumer group not found: <topic>:<group>`` error."""
        group = self._groups.get(self.key(topic, group_id))
        if group is None:
            raise BrokerError(f"consumer group not found: {topic}:{group_id}")
        return group

    def find(self, topic: str, group_id: str) -> ConsumerGroup | None:
        """The group or ``None``, for callers that must not raise."""
        return self._groups.get(self.key(topic, group_id))

    def committed(self, topic: str, group_id: str, partition: int) -> int | None:
        """The committed offset of one partition, or ``None`` when never committed."""
        group = self._groups.get(self.key(topic, group_id))
        if group is None:
            return None
        return group.offsets.get(partition)

    def commit(self, topic: str, group_id: str, partition: int, offset: int) -> bool:
        """Store ``offset`` verbatim (may go backwards; no existence checks). Returns "changed"."""
        group = self.get_or_create(topic, group_id)
        changed = group.offsets.get(partition) != offset
        group.offsets[partition] = offset
        return changed

    def delete(self, topic: str, group_id: str) -> None:
        """Forget a group; an unknown one raises the server's ``consumer group not found`` error."""
        if self._groups.pop(self.key(topic, group_id), None) is None:
            raise BrokerError(f"consumer group not found: {topic}:{group_id}")

    def register_member(self, topic: str, group_id: str, member: str) -> None:
        """Count a connection as a member (a set: re-subscribing does not count twice)."""
        self.get_or_create(topic, group_id).members.add(member)

    def unregister_member(self, topic: str, group_id: str, member: str) -> None:
        """Stop counting a connection (it closed); unknown groups are ignored."""
        group = self._groups.get(self.key(topic, group_id))
        if group is not None:
            group.members.discard(member)

    def all(self) -> list[ConsumerGroup]:
        """Every group, for LIST_GROUPS and persistence."""
        return list(self._groups.values())

    def restore(self, topic: str, group_id: str, offsets: dict[int, int]) -> None:
        """Install a group loaded from persistent storage (no members: they are connections)."""
        self.get_or_create(topic, group_id).offsets.update(offsets)
