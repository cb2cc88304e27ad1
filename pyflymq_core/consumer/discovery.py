"""Finding the subscribed topics, without I/O: which are still missing, when to look them up again,
what a found topic's assignment is, and where its partitions start.

Shared by the sync and asyncio consumers, which only do the lookups (CLUSTER_METADATA, then the
start-offset plan of :mod:`pyflymq_core.consumer.offsets`).  A subscribed topic that does not exist
yet is looked up again every :data:`METADATA_RETRY_S` while polling; when it appears, it is read
from its first record unless the group committed it, whatever ``auto_offset_reset`` says: every
record in it was written after the consumer subscribed, and "latest" at discovery time would skip
those written before that lookup.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

from pyflymq_core.config import ConsumerConfig
from pyflymq_core.consumer.assignment import TopicPartition, assigned_partitions
from pyflymq_core.models import ClusterMetadata

__all__ = ["METADATA_RETRY_S", "TopicDiscovery"]

logger = logging.getLogger("pyflymq.consumer")

#: How often a subscribed topic that does not exist yet is looked up again.
METADATA_RETRY_S = 1.0


class TopicDiscovery:
    """The subscription's bookkeeping: missing topics (``pending``) and the next lookup time."""

    def __init__(self, consumer_id: int, config: ConsumerConfig) -> None:
        self._id = consumer_id
        self._config = config
        #: Subscribed topics not found yet, in subscription order.
        self.pending: list[str] = []
        #: When the missing topics are looked up again (``time.monotonic()`` clock).
        self.next_lookup = 0.0
        self._logged: set[str] = set()

    def due(self, now: float) -> list[str]:
        """The missing topics to look up now (and schedules the lookup after that)."""
        if not self.pending or now < self.next_lookup:
            return []
        self.next_lookup = now + METADATA_RETRY_S
        return list(self.pending)

    def assignment(
        self, topic: str, metadata: ClusterMetadata | None
    ) -> list[tuple[TopicPartition, str | None]] | None:
        """The partitions of ``topic`` to read with their leaders' addresses, or ``None`` while the
        topic does not exist (``metadata`` is ``None`` when the lookup said so).

        Raises ``PartitionNotFoundError`` when ``partitions=`` names a partition it does not have.
        """
        cfg = self._config
        assigned = None
        if metadata is not None:
            assigned = assigned_partitions(
                topic,
                metadata,
                partitions=cfg.partitions,
                member_index=cfg.member_index,
                member_count=cfg.member_count,
            )
        if assigned is None:
            if topic not in self.pending:
                self.pending.append(topic)
            if topic not in self._logged:
                self._logged.add(topic)
                logger.info(
                    "topic %r does not exist (yet); looking again every %g s", topic, METADATA_RETRY_S
                )
        return assigned

    def reset_policy(self, late: bool) -> str:
        """``auto_offset_reset`` for a topic found at subscription, ``"earliest"`` for one found later."""
        return "earliest" if late else self._config.auto_offset_reset

    def found(self, topic: str, tps: Sequence[TopicPartition], offsets: Mapping[TopicPartition, int]) -> None:
        """``topic`` is being read from ``offsets``."""
        if topic in self.pending:
            self.pending.remove(topic)
        group = self._config.group_id
        logger.info(
            "consumer %d: %s partitions %s of %r from offsets %s",
            self._id,
            f"group {group!r}" if group else "no group",
            [tp.partition for tp in tps],
            topic,
            [offsets[tp] for tp in tps],
        )
