"""Cluster routing state: the CLUSTER_METADATA cache and leader-address resolution.

FlyMQ does not forward requests between nodes (SEMANTICS_NOTES #33-35): a keyed produce must reach
the leader of the partition ``FNV-1a(key) mod partition_count``, and a node that is not the leader
answers ``not leader: ...`` / ``not partition leader: ... leader_addr=<addr>``.  This module decides
*where* a request should go; the clients do the sending.  No I/O here.

Standalone servers report ``cluster_id = "standalone"`` and their raw ``bind_addr`` as the leader
(often ``":9092"`` without a host): once a standalone answer is seen, routing is skipped entirely.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from pyflymq_core.models import ClusterMetadata, TopicMetadata
from pyflymq_core.protocol import partition_for_key
from pyflymq_transports.base import ServerAddress, parse_address

__all__ = ["UNKNOWN_TOPIC_TTL_S", "MetadataCache", "RouteEntry", "resolve_leader_address"]

#: How long "the server does not know this topic" is believed (produces auto-create topics).
UNKNOWN_TOPIC_TTL_S = 1.0

_UNSPECIFIED_HOSTS = frozenset({"", "0.0.0.0", "::", "[::]"})


def resolve_leader_address(text: str, bootstrap: ServerAddress) -> ServerAddress:
    """The address to dial for a leader reported as ``text``.

    A missing or unspecified host (``":9092"``, ``"0.0.0.0:9092"``) is replaced by the host of the
    server we bootstrapped with; the scheme (TCP or TLS) is the bootstrap's.
    """
    parsed = parse_address(text, default_scheme=bootstrap.scheme)
    host = parsed.host if parsed.host not in _UNSPECIFIED_HOSTS else bootstrap.host
    return ServerAddress(host, parsed.port, bootstrap.scheme)


@dataclass(frozen=True)
class RouteEntry:
    """What the cache knows about one topic: its metadata, or that the server did not know it."""

    cluster_id: str | None
    topic: TopicMetadata | None
    fetched_at: float

    def leader_for_key(self, key: bytes) -> str | None:
        """The reported ``leader_addr`` of the partition ``key`` maps to (``None`` if unknown)."""
        if self.topic is None or not self.topic.partitions or not key:
            return None
        index = partition_for_key(key, len(self.topic.partitions))
        if index is None:
            return None
        partition = self.topic.partitions[index]
        if partition.state == "offline" or not partition.leader_addr:
            return None
        return partition.leader_addr


class MetadataCache:
    """Per-topic routing entries with a maximum age; thread-safe."""

    def __init__(self, max_age_s: float) -> None:
        self.max_age_s = max_age_s
        self._entries: dict[str, RouteEntry] = {}
        self._lock = threading.Lock()
        #: True once any reply said the server is standalone (then routing never applies).
        self.standalone = False

    def get(self, topic: str) -> RouteEntry | None:
        """A fresh entry for ``topic``, or ``None`` when missing or older than ``max_age_s``.

        "Unknown topic" entries live at most :data:`UNKNOWN_TOPIC_TTL_S`: the produce that found the
        topic missing creates it, and the next lookup should learn its real layout.
        """
        entry = self._entries.get(topic)
        if entry is None:
            return None
        age = time.monotonic() - entry.fetched_at
        if age > self.max_age_s or (entry.topic is None and age > UNKNOWN_TOPIC_TTL_S):
            return None
        return entry

    def put_metadata(self, metadata: ClusterMetadata) -> None:
        """Store every topic of a CLUSTER_METADATA reply."""
        now = time.monotonic()
        if metadata.standalone:
            self.standalone = True
        with self._lock:
            for topic in metadata.topics:
                self._entries[topic.topic] = RouteEntry(metadata.cluster_id, topic, now)

    def put_unknown(self, topic: str) -> RouteEntry:
        """Remember that the server did not know ``topic`` (it may be auto-created by a produce)."""
        entry = RouteEntry(None, None, time.monotonic())
        with self._lock:
            self._entries[topic] = entry
        return entry

    def invalidate(self, topic: str | None = None) -> None:
        """Forget ``topic`` (or everything), e.g. after a ``not leader`` answer."""
        with self._lock:
            if topic is None:
                self._entries.clear()
            else:
                self._entries.pop(topic, None)
