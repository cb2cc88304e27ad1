"""The client against the embedded broker's multi-node cluster (``BrokerCluster`` served by
``ClusterServer``), end to end over TCP.

The broker reproduces the real 1.26.11 three-node cluster (transcript
``cluster3_metadata_and_non_leader``): every node leads partition 0 itself and names the other
partitions' leaders by their Raft address, where nothing listens here.  The client's rule
(``pyflymq_core.client.cluster``) must hold against it: keyed records for a Raft-led partition
fail at once with ``LeaderAddressUnknownError``; keyless records land on a partition the node
leads (re-sent to the same node when its round-robin picks another); metadata writes on a
follower follow ``not leader`` to the leader's client address; each node's log is its own.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from pyflymq import AsyncFlyMQClient, FlyMQClient
from pyflymq_broker.cluster_server import ClusterServer
from pyflymq_core.errors import LeaderAddressUnknownError
from pyflymq_core.protocol import partition_for_key

FAST: dict[str, int] = {"request_timeout_ms": 5_000, "max_retries": 0}


@pytest.fixture
def servers(flymq_cluster: ClusterServer) -> ClusterServer:
    """The plugin's simulated three-node cluster (embedded even with --flymq-bootstrap)."""
    return flymq_cluster


def _key_for_partition(partition: int, partitions: int) -> bytes:
    """A key the server's FNV-1a hash maps to ``partition``."""
    for n in range(10_000):
        key = f"key-{n}".encode()
        if partition_for_key(key, partitions) == partition:
            return key
    raise AssertionError(f"no key maps to partition {partition}")


def test_a_topic_created_through_a_follower_is_seen_by_every_node(servers: ClusterServer) -> None:
    follower = servers.addresses["node3"]
    with FlyMQClient(follower, **FAST) as client:
        client.create_topic("mn-orders", partitions=3)  # 'not leader' on node3: followed to node1
    for address in servers.addresses.values():
        with FlyMQClient(address, **FAST) as client:
            assert "mn-orders" in client.list_topics()


def test_keyed_records_route_or_fail_fast_and_keyless_records_land_on_the_nodes_partition(
    servers: ClusterServer,
) -> None:
    with FlyMQClient(servers.leader_address, **FAST) as admin:
        admin.create_topic("mn-keys", partitions=3)
    node2 = servers.addresses["node2"]
    with FlyMQClient(node2, **FAST) as client:
        own = client.produce("mn-keys", b"k0", key=_key_for_partition(0, 3))
        assert (own.partition, own.offset) == (0, 0)  # node2 leads partition 0 itself

        started = time.monotonic()
        with pytest.raises(LeaderAddressUnknownError) as failure:
            client.produce("mn-keys", b"k1", key=_key_for_partition(1, 3))
        assert time.monotonic() - started < 2.0  # nothing dialed the (silent) Raft address
        assert failure.value.partition == 1 and failure.value.topic == "mn-keys"

        for n in range(4):  # the node's round-robin also visits partitions 1 and 2: re-sent
            record = client.produce("mn-keys", f"free-{n}".encode())
            assert record.partition == 0
        values = [m.value for m in client.fetch("mn-keys", 0, 0, 10).messages]
        assert values == [b"k0", b"free-0", b"free-1", b"free-2", b"free-3"]
    with FlyMQClient(servers.addresses["node1"], **FAST) as other:
        assert other.fetch("mn-keys", 0, 0, 10).messages == []  # logs are not replicated


def test_a_high_level_producer_and_consumer_on_one_node(servers: ClusterServer) -> None:
    with FlyMQClient(servers.leader_address, **FAST) as admin:
        admin.create_topic("mn-hl", partitions=3)
    with FlyMQClient(servers.addresses["node3"], **FAST) as client:
        refused: list[BaseException] = []
        with client.producer(retry_backoff_ms=1) as producer:
            # A pipelined round writes only the records whose turn falls on partition 0: the
            # others are re-sent (not counted against max_retries) until they land.
            futures = [producer.send("mn-hl", f"v{n}".encode()) for n in range(60)]
            blocked = producer.send("mn-hl", b"keyed", key=_key_for_partition(2, 3), on_error=refused.append)
            producer.flush(10)
        assert all(f.get(5000).partition == 0 for f in futures)
        assert isinstance(refused[0], LeaderAddressUnknownError) and not blocked.succeeded()
        consumer = client.consumer("mn-hl", "mn-group", auto_offset_reset="earliest")
        try:
            seen: list[bytes] = []
            deadline = time.monotonic() + 10
            while len(seen) < 60 and time.monotonic() < deadline:
                seen.extend(m.value for m in consumer.poll(timeout_ms=500))
        finally:
            consumer.close()
        assert sorted(seen) == sorted(f"v{n}".encode() for n in range(60))


def test_the_asyncio_producer_follows_the_same_rules(servers: ClusterServer) -> None:
    async def main() -> tuple[list[int], BaseException | None]:
        async with AsyncFlyMQClient(servers.addresses["node2"], **FAST) as client:
            await client.create_topic("mn-aio", partitions=3)  # on a follower: redirected
            refused: list[BaseException] = []
            async with client.producer(retry_backoff_ms=1) as producer:
                futures = [await producer.send("mn-aio", f"a{n}".encode()) for n in range(30)]
                await producer.send("mn-aio", b"keyed", key=_key_for_partition(1, 3), on_error=refused.append)
                await producer.flush()
            partitions = [(await f.get(timeout_ms=5000)).partition for f in futures]
            return partitions, refused[0] if refused else None

    partitions, refused = asyncio.run(main())
    assert partitions == [0] * 30  # node2 leads partition 0: every keyless record landed there
    assert isinstance(refused, LeaderAddressUnknownError)
