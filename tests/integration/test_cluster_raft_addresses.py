"""A node of a multi-node FlyMQ 1.26 cluster names the other nodes only by their cluster (Raft)
address — in CLUSTER_METADATA and in ``not partition leader`` answers.  Over real sockets, against
the scripted :class:`~tests.integration.fake_server.ClusterNode` (built from the real server's
transcript ``cluster3_metadata_and_non_leader``), whose peers' "Raft ports" are
:class:`~tests.integration.fake_server.SilentPort` listeners that accept and never answer: every
test asserts nothing dialed them, and that calls return well before their hang would end
(the request timeout).

What must hold: keyed records for a partition led by a cluster address fail at once with
``LeaderAddressUnknownError`` (nothing sent), keyless records refused by the node's round-robin are
re-sent to the same node, and single-node clusters behave as before — for the sync and asyncio
clients and both high-level producers.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from pyflymq import FlyMQClient
from pyflymq_core.client.async_client import AsyncFlyMQClient
from pyflymq_core.errors import LeaderAddressUnknownError, NotLeaderError
from pyflymq_core.protocol import OpCode, partition_for_key
from tests.integration.fake_server import (
    ClusterNode,
    Error,
    FakeConn,
    FakeServer,
    Reply,
    SilentPort,
)

#: Calls must end far sooner than a dial of a Raft port would (the request timeout).
REQUEST_TIMEOUT_MS = 5_000
FAST_ENOUGH_S = 2.0
OPTIONS: dict[str, Any] = {
    "max_retries": 0,
    "retry_delay_ms": 10,
    "keepalive_interval_ms": 0,
    "request_timeout_ms": REQUEST_TIMEOUT_MS,
    "connect_timeout_ms": REQUEST_TIMEOUT_MS,
}
TOPIC = "ct"
PARTITIONS = 3


def _key_for(partition: int, count: int = PARTITIONS) -> bytes:
    return next(k for i in range(1000) if partition_for_key(k := f"key-{i}".encode(), count) == partition)


@dataclass
class Cluster:
    """The bootstrap node (a :class:`ClusterNode` on a :class:`FakeServer`) and its peers' Raft ports."""

    node: ClusterNode
    server: FakeServer
    raft: list[SilentPort]

    @property
    def address(self) -> str:
        return self.server.address

    def produces(self) -> int:
        return self.server.ops().count(OpCode.PRODUCE)

    def stored(self, partition: int) -> list[tuple[bytes, bytes]]:
        return self.node.topics[TOPIC][partition]

    def assert_no_raft_dial(self) -> None:
        assert [port.accepted for port in self.raft] == [0] * len(self.raft)


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    """A 3-node cluster seen from one node, topic ``ct`` with 3 partitions: the node leads 0."""
    with SilentPort() as raft_b, SilentPort() as raft_c:
        node = ClusterNode("node2", "", [raft_b.address, raft_c.address])
        with FakeServer(node) as server:
            node.leader_addr = server.address  # its client address, as it advertises it
            node.partitions(TOPIC, PARTITIONS)
            yield Cluster(node, server, [raft_b, raft_c])


class _Timer:
    def __enter__(self) -> _Timer:
        self.started = time.monotonic()
        return self

    def __exit__(self, *exc: object) -> None:
        self.elapsed = time.monotonic() - self.started


# --------------------------------------------------------------------------- sync client


def test_keyed_records_whose_leader_is_a_cluster_address_fail_before_sending(cluster: Cluster) -> None:
    with FlyMQClient(cluster.address, **OPTIONS) as client:
        for partition in (1, 2):
            with _Timer() as timer, pytest.raises(LeaderAddressUnknownError) as info:
                client.produce(TOPIC, b"v", key=_key_for(partition))
            assert timer.elapsed < FAST_ENOUGH_S
            error = info.value
            assert error.partition == partition and error.topic == TOPIC
            assert error.leader_addr == cluster.raft[partition - 1].address
            assert "cluster (Raft) address" in str(error) and error.hint and "keyless" in error.hint
        assert cluster.produces() == 0  # nothing was sent, not even to the bootstrap node
        meta = client.produce(TOPIC, b"p0", key=_key_for(0))  # the node's own partition
        assert (meta.partition, meta.offset) == (0, 0)
        assert client.metrics()["connections"] == 1
    cluster.assert_no_raft_dial()


def test_keyless_records_are_resent_to_the_same_node_until_its_round_robin_fits(cluster: Cluster) -> None:
    with FlyMQClient(cluster.address, **OPTIONS) as client:
        with _Timer() as timer:
            metas = [client.produce(TOPIC, f"v{i}".encode()) for i in range(4)]
        assert timer.elapsed < FAST_ENOUGH_S
        # #1 -> p0; #2 -> p1, p2 refused, then p0; and so on: every record lands on partition 0.
        assert [(m.partition, m.offset) for m in metas] == [(0, 0), (0, 1), (0, 2), (0, 3)]
        assert cluster.produces() == 1 + 3 * 3
        assert [value for _, value in cluster.stored(0)] == [b"v0", b"v1", b"v2", b"v3"]
        assert client.metrics()["connections"] == 1
    cluster.assert_no_raft_dial()


def test_a_node_that_keeps_refusing_a_keyless_record_ends_it_with_a_clear_error(cluster: Cluster) -> None:
    refusing = {"count": 0}

    def node(conn: FakeConn, op: int, fields: dict[str, Any]) -> Reply:
        if op == OpCode.PRODUCE:  # another producer always takes the node's own partition
            partition = 1 + refusing["count"] % 2
            refusing["count"] += 1
            return Error(f"not partition leader: partition={partition} leader_addr={cluster.raft[0].address}")
        return cluster.node(conn, op, fields)

    with FakeServer(node) as server, FlyMQClient(server.address, **OPTIONS) as client:
        with _Timer() as timer, pytest.raises(NotLeaderError) as info:
            client.produce(TOPIC, b"v")
        assert timer.elapsed < FAST_ENOUGH_S
        assert "refused 3 time(s)" in str(info.value) and "not written" in str(info.value)
        assert server.ops().count(OpCode.PRODUCE) == 3
    cluster.assert_no_raft_dial()


def test_a_keyed_record_to_a_new_topic_learns_the_layout_instead_of_dialing(cluster: Cluster) -> None:
    """The leader auto-creates the topic (6 partitions) and refuses the key's partition, naming a
    cluster address the client has not seen yet: the client re-reads the metadata and fails."""
    with FlyMQClient(cluster.address, **OPTIONS) as client:
        key = _key_for(1, 6)
        with _Timer() as timer, pytest.raises(LeaderAddressUnknownError) as info:
            client.produce("fresh", b"v", key=key)
        assert timer.elapsed < FAST_ENOUGH_S
        assert info.value.partition == 1 and info.value.leader_addr == cluster.raft[0].address
        assert cluster.server.ops() == [OpCode.CLUSTER_METADATA, OpCode.PRODUCE, OpCode.CLUSTER_METADATA]
        with pytest.raises(LeaderAddressUnknownError):  # now known: refused before sending
            client.produce("fresh", b"v", key=key)
        assert cluster.produces() == 1
        assert client.produce("fresh", b"v", key=_key_for(3, 6)).partition == 3  # its own
    cluster.assert_no_raft_dial()


def test_a_follower_redirect_naming_a_client_address_is_still_followed(cluster: Cluster) -> None:
    """``not leader: leader_addr=<client address>`` (a produce to a missing topic on a follower)."""

    def follower(conn: FakeConn, op: int, fields: dict[str, Any]) -> Reply:
        if op == OpCode.PRODUCE:
            return Error(f"not leader: leader_addr={cluster.address}")
        return Error(f"topic not found: {fields.get('topic', '')}", "coded")

    with FakeServer(follower) as server, FlyMQClient(server.address, **OPTIONS) as client:
        meta = client.produce("ct-miss", b"x")
        assert (meta.topic, meta.partition) == ("ct-miss", 0)
        assert client.metrics()["connections"] == 2
    cluster.assert_no_raft_dial()


def test_consumers_never_read_from_a_cluster_address(cluster: Cluster) -> None:
    with FlyMQClient(cluster.address, **OPTIONS) as client:
        client.produce(TOPIC, b"p0")
        with client.consumer(TOPIC, auto_offset_reset="earliest") as consumer:
            with _Timer() as timer:
                records = consumer.poll(timeout_ms=300)
            assert timer.elapsed < FAST_ENOUGH_S
        assert [r.value for r in records] == [b"p0"]
        assert client.metrics()["connections"] == 1
    cluster.assert_no_raft_dial()


def test_a_single_node_cluster_routes_and_produces_as_before() -> None:
    with SilentPort() as unused:
        node = ClusterNode("flymq-raft1", "", [])
        with FakeServer(node) as server, FlyMQClient(server.address, **OPTIONS) as client:
            node.leader_addr = server.address
            node.partitions(TOPIC, PARTITIONS)
            for partition in range(PARTITIONS):
                assert client.produce(TOPIC, b"k", key=_key_for(partition)).partition == partition
            assert [client.produce(TOPIC, b"n").partition for _ in range(3)] == [0, 1, 2]
            assert server.ops().count(OpCode.PRODUCE) == 6
            assert not client._metadata.standalone
        assert unused.accepted == 0


# --------------------------------------------------------------------------- sync producer


def test_the_producer_fails_unroutable_records_and_retries_keyless_ones_on_the_node(cluster: Cluster) -> None:
    with FlyMQClient(cluster.address, **OPTIONS) as client:
        errors: list[BaseException] = []
        with _Timer() as timer, client.producer(retry_backoff_ms=1, max_retries=3, linger_ms=0) as producer:
            unroutable = producer.send(TOPIC, b"k1", key=_key_for(1), on_error=errors.append)
            own = producer.send(TOPIC, b"k0", key=_key_for(0))
            keyless = [producer.send(TOPIC, f"n{i}".encode()) for i in range(3)]
            producer.flush()
        assert timer.elapsed < FAST_ENOUGH_S
        assert isinstance(unroutable.exception(), LeaderAddressUnknownError)
        assert errors == [unroutable.exception()]
        assert own.get().partition == 0
        assert [f.get().partition for f in keyless] == [0, 0, 0]
        assert sorted(value for _, value in cluster.stored(0)) == [b"k0", b"n0", b"n1", b"n2"]
        assert b"k1" not in {value for _, value in cluster.stored(1)}
    cluster.assert_no_raft_dial()


# --------------------------------------------------------------------------- asyncio client and producer


def test_the_async_client_fails_unroutable_keys_and_resends_keyless_records(cluster: Cluster) -> None:
    async def main() -> None:
        async with AsyncFlyMQClient(cluster.address, **OPTIONS) as client:
            started = time.monotonic()
            with pytest.raises(LeaderAddressUnknownError) as info:
                await client.produce(TOPIC, b"v", key=_key_for(2))
            assert info.value.partition == 2 and info.value.leader_addr == cluster.raft[1].address
            assert cluster.produces() == 0
            assert (await client.produce(TOPIC, b"k0", key=_key_for(0))).partition == 0
            metas = [await client.produce(TOPIC, f"n{i}".encode()) for i in range(3)]
            assert [m.partition for m in metas] == [0, 0, 0]
            with pytest.raises(LeaderAddressUnknownError):  # a new topic: learned, not dialed
                await client.produce("fresh", b"v", key=_key_for(2, 6))
            assert time.monotonic() - started < FAST_ENOUGH_S
            assert client.metrics()["connections"] == 1

    asyncio.run(main())
    cluster.assert_no_raft_dial()


def test_the_async_producer_fails_unroutable_records_and_retries_keyless_ones(cluster: Cluster) -> None:
    async def main() -> None:
        async with AsyncFlyMQClient(cluster.address, **OPTIONS) as client:
            started = time.monotonic()
            async with client.producer(retry_backoff_ms=1, max_retries=3, linger_ms=0) as producer:
                unroutable = await producer.send(TOPIC, b"k1", key=_key_for(1))
                own = await producer.send(TOPIC, b"k0", key=_key_for(0))
                keyless = [await producer.send(TOPIC, f"n{i}".encode()) for i in range(3)]
                with pytest.raises(LeaderAddressUnknownError):
                    await unroutable
                assert (await own).partition == 0
                assert [(await f).partition for f in keyless] == [0, 0, 0]
            assert time.monotonic() - started < FAST_ENOUGH_S

    asyncio.run(main())
    assert sorted(value for _, value in cluster.stored(0)) == [b"k0", b"n0", b"n1", b"n2"]
    cluster.assert_no_raft_dial()
