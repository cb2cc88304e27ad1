"""Cluster routing state: the CLUSTER_METADATA cache and leader-address resolution.

FlyMQ does not forward requests between nodes (SEMANTICS_NOTES #33-35): a keyed produce must reach
the leader of the partition ``FNV-1a(key) mod partition_count``, and a node that is not the leader
answers ``not leader: ...`` / ``not partition leader: ... leader_addr=<addr>``.  This module decides
*where* a request should go; the clients do the sending.  No I/O here.

Standalone servers report ``cluster_id = "standalone"`` and their raw ``bind_addr`` as the leader
(often ``":9092"`` without a host): once a standalone answer is seen, routing is skipped entirely.

**Cluster (Raft) addresses are never dialed.**  In a multi-node FlyMQ 1.26 cluster a node's
CLUSTER_METADATA lists *itself* as the leader of the partitions it leads (its node id, its client
address) and every other partition's leader only by that peer's cluster address, in both fields:
``leader_id == leader_addr == "10.0.0.2:9093"`` (the server has no node id for the peer).  Its
``not partition leader`` answers name the same cluster address.  That port speaks Raft's own
framing, so a FlyMQ request sent there is read as a huge length and hangs until the Raft side's
read deadline.  The rule, decided here once:

* a partition whose ``leader_id`` equals its ``leader_addr`` in a cluster's metadata is led by a
  peer known only by its cluster address (:func:`led_by_cluster_address`): keyed records for it
  are refused before anything is sent, and consumers read it through the bootstrap connection;
* such an address is remembered (:meth:`MetadataCache.cluster_address`) unless some metadata
  showed it as a client endpoint (the ``leader_addr`` of a partition with a real node id), so a
  ``not partition leader`` answer naming it is not followed either.

A standalone server (``leader_id`` = its node id) and a single-node cluster (``cluster_id`` = node
id, every partition led by that node id at its client address) never match the rule.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from pyflymq_core.models import ClusterMetadata, PartitionMetadata, TopicMetadata
from pyflymq_core.protocol import partition_for_key
from pyflymq_transports.base import ServerAddress, parse_address

__all__ = [
    "UNKNOWN_TOPIC_TTL_S",
    "MetadataCache",
    "RouteEntry",
    "led_by_cluster_address",
    "resolve_leader_address",
]

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


def led_by_cluster_address(partition: PartitionMetadata) -> bool:
    """Whether a cluster's metadata names this partition's leader only by its cluster (Raft)
    address: ``leader_id == leader_addr`` (FlyMQ 1.26 has no node id for the peer, so it reports the
    raw cluster address in both fields).  Meaningless for a standalone server (never routed)."""
    address = partition.leader_addr
    return bool(address) and partition.leader_id == address


@dataclass(frozen=True)
class RouteEntry:
    """What the cache knows about one topic: its metadata, or that the server did not know it."""

    cluster_id: str | None
    topic: TopicMetadata | None
    fetched_at: float

    def partition_for_key(self, key: bytes) -> PartitionMetadata | None:
        """The partition ``key`` maps to (FNV-1a, as the server computes it), with a leader; ``None``
        when the layout or the leader is unknown (offline or unassigned partition)."""
        if self.topic is None or not self.topic.partitions or not key:
            return None
        index = partition_for_key(key, len(self.topic.partitions))
        if index is None:
            return None
        partition = self.topic.partitions[index]
        if partition.state == "offline" or not partition.leader_addr:
            return None
        return partition

    def leader_for_key(self, key: bytes) -> str | None:
        """The reported ``leader_addr`` of the partition ``key`` maps to (``None`` if unknown)."""
        partition = self.partition_for_key(key)
        return None if partition is None else partition.leader_addr

    @property
    def partition_count(self) -> int | None:
        """How many partitions the topic has (``None`` when its layout is unknown)."""
        return None if self.topic is None else len(self.topic.partitions)


class MetadataCache:
    """Per-topic routing entries with a maximum age; thread-safe."""

    def __init__(self, max_age_s: float) -> None:
        self.max_age_s = max_age_s
        self._entries: dict[str, RouteEntry] = {}
        self._lock = threading.Lock()
        #: True once any reply said the server is standalone (then routing never applies).
        self.standalone = False
        #: Addresses some cluster metadata named as a leader only by its cluster (Raft) address.
        self._cluster_addresses: set[str] = set()
        #: Addresses some cluster metadata named as a leader with a node id: client endpoints.
        self._client_addresses: set[str] = set()

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
            if not metadata.standalone:
                self._learn_addresses(metadata.topics)

    def _learn_addresses(self, topics: list[TopicMetadata]) -> None:
        """Under the lock: sort the leader addresses of a cluster's metadata into cluster (Raft)
        addresses and client endpoints (an address ever seen as a client endpoint stays one)."""
        clients = self._client_addresses
        raft = self._cluster_addresses
        for topic in topics:
            for partition in topic.partitions:
                address = partition.leader_addr
                if not address:
                    continue
                if led_by_cluster_address(partition):
                    raft.add(address)
                else:
                    clients.add(address)
        raft -= clients  # so the two sets never overlap

    def cluster_address(self, address: str) -> bool:
        """Whether ``address`` (as the server wrote it) is known only as a peer's cluster (Raft)
        address: listed so by some metadata, never as a client endpoint.  It must not be dialed."""
        return address in self._cluster_addresses  # never also a client endpoint (_learn_addresses)

    def put_unknown(self, topic: str) -> RouteEntry:
        """Remember that the server did not know ``topic`` (it may be auto-created by a produce)."""
        entry = RouteEntry(None, None, time.monotonic())
        with self._lock:
            self._entries[topic] = entry
        return entry

    def invalidate(self, topic: str | None = None) -> None:
        """Forget ``topic`` (or everything), e.g. after a ``not leader`` answer.  What is known
        about addresses (cluster or client) is kept: a Raft port does not become a client port."""
        with self._lock:
            if topic is None:
                self._entries.clear()
            else:
                self._entries.pop(topic, None)
