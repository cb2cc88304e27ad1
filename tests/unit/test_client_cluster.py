"""Routing decisions: leader-address resolution, the metadata cache, key -> leader."""

from __future__ import annotations

from typing import Any

import pytest

from pyflymq_core.client import cluster
from pyflymq_core.client.cluster import MetadataCache, RouteEntry, resolve_leader_address
from pyflymq_core.models import ClusterMetadata, PartitionMetadata, TopicMetadata
from pyflymq_core.protocol import partition_for_key
from pyflymq_transports.base import ServerAddress

BOOT = ServerAddress("broker.example", 9092, "flymqs")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (":9093", ServerAddress("broker.example", 9093, "flymqs")),
        ("0.0.0.0:9094", ServerAddress("broker.example", 9094, "flymqs")),
        ("[::]:9095", ServerAddress("broker.example", 9095, "flymqs")),
        ("10.0.0.7:19170", ServerAddress("10.0.0.7", 19170, "flymqs")),
        ("node3", ServerAddress("node3", 9092, "flymqs")),
    ],
)
def test_leader_address_resolution(text: str, expected: ServerAddress) -> None:
    assert resolve_leader_address(text, BOOT) == expected


def _metadata(cluster_id: str, leaders: list[str], states: list[str] | None = None) -> ClusterMetadata:
    partitions = [
        PartitionMetadata(
            partition=i,
            leader_id=f"n{i}",
            leader_addr=addr,
            epoch=1,
            state=(states or ["online"] * len(leaders))[i],
            replicas=[],
            isr=[],
        )
        for i, addr in enumerate(leaders)
    ]
    return ClusterMetadata(
        cluster_id=cluster_id, topics=[TopicMetadata(topic="orders", partitions=partitions)]
    )


def test_leader_for_key_uses_fnv1a_against_the_partition_count() -> None:
    cache = MetadataCache(60)
    cache.put_metadata(_metadata("node1", ["a:1", "b:2", "c:3"]))
    entry = cache.get("orders")
    assert entry is not None and not cache.standalone
    for key in (b"user-123", b"user-789", b"k"):
        assert entry.leader_for_key(key) == ["a:1", "b:2", "c:3"][partition_for_key(key, 3) or 0]
    assert entry.leader_for_key(b"") is None


def test_offline_or_unassigned_partitions_have_no_leader() -> None:
    cache = MetadataCache(60)
    cache.put_metadata(_metadata("node1", ["", "b:2"], ["offline", "online"]))
    entry = cache.get("orders")
    assert entry is not None
    key_for_0 = next(k for k in (b"a", b"b", b"c", b"d", b"e") if partition_for_key(k, 2) == 0)
    assert entry.leader_for_key(key_for_0) is None


def test_standalone_is_remembered() -> None:
    cache = MetadataCache(60)
    cache.put_metadata(_metadata("standalone", [":9092"]))
    assert cache.standalone


def test_entries_expire_and_unknown_topics_expire_sooner(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [1000.0]
    monkeypatch.setattr("pyflymq_core.client.cluster.time.monotonic", lambda: now[0])
    cache = MetadataCache(10)
    cache.put_metadata(_metadata("node1", ["a:1"]))
    cache.put_unknown("missing")
    assert cache.get("orders") is not None and cache.get("missing") is not None
    now[0] += cluster.UNKNOWN_TOPIC_TTL_S + 0.1
    assert cache.get("orders") is not None and cache.get("missing") is None
    now[0] += 10
    assert cache.get("orders") is None
    cache.put_metadata(_metadata("node1", ["a:1"]))
    cache.invalidate("orders")
    assert cache.get("orders") is None


def test_route_entry_without_topic() -> None:
    assert RouteEntry(None, None, 0.0).leader_for_key(b"k") is None


def test_consumers_read_a_partition_from_its_leader_unless_standalone() -> None:
    from types import SimpleNamespace

    from pyflymq_core.client.base import ClientBase

    client: Any = SimpleNamespace(_metadata=MetadataCache(60))  # the decision needs only the cache
    read_address = ClientBase._read_address
    primary: Any = SimpleNamespace(address=ServerAddress("broker.example", 9092, "flymq"))
    assert read_address(client, None, primary) is None  # leader unknown: the bootstrap server
    client._metadata.put_metadata(_metadata("node1", ["10.0.0.7:9093", ":9092"]))
    assert read_address(client, "10.0.0.7:9093", primary) == ServerAddress("10.0.0.7", 9093, "flymq")
    assert read_address(client, ":9092", primary) is None  # the bootstrap server itself
    client._metadata.put_metadata(_metadata("standalone", [":9092"]))
    assert read_address(client, "10.0.0.7:9093", primary) is None  # standalone: one server
