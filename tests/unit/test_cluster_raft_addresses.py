"""The decisions about leaders a multi-node FlyMQ 1.26 cluster names only by their cluster (Raft)
address — checked against the real server's transcript (``tests/transcripts/cluster.jsonl``).

In a 3-node cluster each node's CLUSTER_METADATA lists itself (node id + client address) as the
leader of partition 0 and every other partition's leader only by the peer's cluster address
(``leader_id == leader_addr``); its ``not partition leader`` answers name that address too.  That
port speaks Raft, so the client must never dial it.  Standalone and single-node (``raft-single``)
servers must route exactly as before.  No I/O here: the sans-IO pieces only (cluster.py, base.py,
error_mapping.py, producer/policy.py).
"""

from __future__ import annotations

import json
import pickle
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from pyflymq_core.client import calls
from pyflymq_core.client.base import (
    KEYLESS_RESENDS_UNKNOWN_LAYOUT,
    ClientBase,
    RetryPolicy,
    Step,
)
from pyflymq_core.client.cluster import MetadataCache, led_by_cluster_address
from pyflymq_core.config import ClientConfig
from pyflymq_core.error_mapping import error_from_server, parse_not_leader
from pyflymq_core.errors import LeaderAddressUnknownError, NotLeaderError
from pyflymq_core.models import ClusterMetadata
from pyflymq_core.producer.policy import ROUND_ROBIN_RETRIES, RetryRule
from pyflymq_core.protocol import OpCode, partition_for_key
from pyflymq_transports.base import ServerAddress

TRANSCRIPT = Path(__file__).resolve().parents[1] / "transcripts" / "cluster.jsonl"


def _steps() -> list[dict[str, Any]]:
    with TRANSCRIPT.open(encoding="utf-8") as lines:
        return [json.loads(line) for line in lines if line.strip()]


STEPS = _steps()


def _step(scenario: str, step: int) -> dict[str, Any]:
    return next(s for s in STEPS if s["scenario"] == scenario and s["step"] == step)


def _metadata(scenario: str, step: int) -> ClusterMetadata:
    return ClusterMetadata.model_validate(_step(scenario, step)["response"]["fields"])


CLUSTER3 = "cluster3_metadata_and_non_leader"
#: Each node's own view of topic 'ct' (3 partitions): the leader's, follower-a's, follower-b's.
NODE_VIEWS = [4, 5, 6]
#: The transcript's keyless refusal: the round-robin's partition 1, led by a peer's Raft address.
REFUSAL = _step(CLUSTER3, 8)["response"]["fields"]["message"]
ROLES = _step(CLUSTER3, 8)["role_map"]


def _client_of(step: int) -> tuple[ClientBase[Any], ServerAddress]:
    """A client (no I/O) bootstrapped to the node that answered ``step``, its metadata cached."""
    record = _step(CLUSTER3, step)
    own = ROLES[record["node_role"]]["client"]
    client: ClientBase[Any] = ClientBase(ClientConfig(bootstrap_servers=own))
    client._metadata.put_metadata(_metadata(CLUSTER3, step))
    return client, client.bootstrap_servers[0]


def _key_for(partition: int, count: int) -> bytes:
    return next(k for i in range(1000) if partition_for_key(k := f"key-{i}".encode(), count) == partition)


# --------------------------------------------------------------------------- the rule, on the metadata


@pytest.mark.parametrize("step", NODE_VIEWS)
def test_every_node_leads_partition_0_and_names_the_others_by_cluster_address(step: int) -> None:
    metadata = _metadata(CLUSTER3, step)
    partitions = metadata.topics[0].partitions
    own = ROLES[_step(CLUSTER3, step)["node_role"]]
    assert partitions[0].leader_id == own["node_id"] and partitions[0].leader_addr == own["client"]
    assert [led_by_cluster_address(p) for p in partitions] == [False, True, True]
    raft = {role["raft"] for role in ROLES.values()}
    assert {p.leader_addr for p in partitions[1:]} <= raft - {own["raft"]}


@pytest.mark.parametrize(
    ("scenario", "step"),
    [("cluster_ops_standalone", 3), ("raft_single_node_basics", 3), ("raft_single_node_basics", 6)],
)
def test_standalone_and_single_node_servers_never_match_the_rule(scenario: str, step: int) -> None:
    metadata = _metadata(scenario, step)
    assert not any(led_by_cluster_address(p) for t in metadata.topics for p in t.partitions)
    cache = MetadataCache(60)
    cache.put_metadata(metadata)
    leader = metadata.topics[0].partitions[0].leader_addr
    assert not cache.cluster_address(leader)


def test_the_cache_remembers_cluster_addresses_unless_seen_as_client_endpoints() -> None:
    cache = MetadataCache(60)
    cache.put_metadata(_metadata(CLUSTER3, 4))  # the leader's view: peers node1 and node3
    assert cache.cluster_address(ROLES["follower-b"]["raft"])
    assert cache.cluster_address(ROLES["follower-a"]["raft"])
    assert not cache.cluster_address(ROLES["leader"]["client"])  # itself, with its node id
    assert not cache.cluster_address("127.0.0.1:1")  # never seen: unknown, not a cluster address
    cache.invalidate()  # forgetting the layouts keeps what is known about addresses
    assert cache.cluster_address(ROLES["follower-b"]["raft"])
    # Metadata naming the address with a node id makes it a client endpoint for good.
    view = _metadata(CLUSTER3, 4).model_dump()
    view["topics"][0]["partitions"][1]["leader_id"] = "node1"
    cache.put_metadata(ClusterMetadata.model_validate(view))
    assert not cache.cluster_address(ROLES["follower-b"]["raft"])


def test_standalone_metadata_teaches_no_addresses() -> None:
    cache = MetadataCache(60)
    view = _metadata("cluster_ops_standalone", 3).model_dump()
    view["topics"][0]["partitions"][0]["leader_id"] = view["topics"][0]["partitions"][0]["leader_addr"]
    cache.put_metadata(ClusterMetadata.model_validate(view))
    assert cache.standalone and not cache.cluster_address(view["topics"][0]["partitions"][0]["leader_addr"])


# --------------------------------------------------------------------------- keyed routing


@pytest.mark.parametrize("step", NODE_VIEWS)
def test_keys_of_partition_0_go_to_the_bootstrap_node(step: int) -> None:
    client, primary = _client_of(step)
    call = calls.produce("ct", b"v", _key_for(0, 3))
    assert client._route_target(call, primary) is None


@pytest.mark.parametrize("step", NODE_VIEWS)
@pytest.mark.parametrize("partition", [1, 2])
def test_keys_of_a_partition_led_by_a_cluster_address_fail_before_sending(step: int, partition: int) -> None:
    client, primary = _client_of(step)
    call = calls.produce("ct", b"v", _key_for(partition, 3))
    with pytest.raises(LeaderAddressUnknownError) as info:
        client._route_target(call, primary)
    error = info.value
    raft = _metadata(CLUSTER3, step).topics[0].partitions[partition].leader_addr
    assert (error.partition, error.leader_addr, error.topic) == (partition, raft, "ct")
    assert not error.retriable and isinstance(error, NotLeaderError)
    assert f"partition {partition}" in str(error) and raft in str(error) and str(primary) in str(error)
    assert "cluster (Raft) address" in str(error) and "does not forward" in str(error)
    assert error.hint is not None and "keyless" in error.hint and "get_metadata('ct')" in error.hint


def test_keyed_routing_on_a_single_node_cluster_is_unchanged() -> None:
    client: ClientBase[Any] = ClientBase(ClientConfig(bootstrap_servers="127.0.0.1:19150"))
    primary = client.bootstrap_servers[0]
    client._metadata.put_metadata(_metadata("raft_single_node_basics", 6))  # 'auto6', 6 partitions
    for partition in range(6):
        assert client._route_target(calls.produce("auto6", b"v", _key_for(partition, 6)), primary) is None
    # Bootstrapped under another name: the leader's own address is a pooled connection, as before.
    other: ClientBase[Any] = ClientBase(ClientConfig(bootstrap_servers="localhost:19150"))
    other._metadata.put_metadata(_metadata("raft_single_node_basics", 6))
    target = other._route_target(calls.produce("auto6", b"v", b"k"), other.bootstrap_servers[0])
    assert target == ServerAddress("127.0.0.1", 19150, "flymq")


def test_a_node_whose_id_is_its_client_address_still_routes_to_itself() -> None:
    view = _metadata("raft_single_node_basics", 3).model_dump()
    for partition in view["topics"][0]["partitions"]:
        partition["leader_id"] = partition["leader_addr"]  # node_id configured as "127.0.0.1:19150"
    client: ClientBase[Any] = ClientBase(ClientConfig(bootstrap_servers="127.0.0.1:19150"))
    client._metadata.put_metadata(ClusterMetadata.model_validate(view))
    primary = client.bootstrap_servers[0]
    for partition in range(3):
        assert client._route_target(calls.produce("r3", b"v", _key_for(partition, 3)), primary) is None


def test_consumers_read_cluster_address_partitions_through_the_bootstrap_node() -> None:
    client, primary = _client_of(4)
    conn: Any = SimpleNamespace(address=primary)
    for partition in _metadata(CLUSTER3, 4).topics[0].partitions:
        assert client._read_address(partition.leader_addr, conn) is None
    assert client._read_address("10.0.0.9:9092", conn) == ServerAddress("10.0.0.9", 9092, "flymq")


# --------------------------------------------------------------------------- the answers


def test_the_transcript_refusal_is_a_partition_leader_answer_with_a_clear_hint() -> None:
    error = error_from_server(REFUSAL, op=int(OpCode.PRODUCE), topic="ct")
    assert isinstance(error, NotLeaderError) and error.retriable
    assert error.partition_leader and error.partition == 1
    assert error.hint is not None and error.leader_addr is not None
    assert error.leader_addr in error.hint and "cluster (Raft) address" in error.hint
    assert "same node" in error.hint
    for step in (2, 10):  # metadata-leader answers name a client address: followed as before
        text = _step(CLUSTER3, step)["response"]["fields"]["message"]
        other = parse_not_leader(text)
        assert other is not None and not other.partition_leader
        assert other.leader_addr == ROLES["leader"]["client"]


def test_errors_keep_their_fields_across_pickling() -> None:
    error = LeaderAddressUnknownError("m", leader_addr="h:1", leader_id="h:1", partition=2, topic="t")
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.leader_addr, copy.partition, copy.topic, copy.partition_leader) == ("h:1", 2, "t", True)
    refusal = pickle.loads(pickle.dumps(parse_not_leader(REFUSAL)))
    assert refusal.partition_leader


# --------------------------------------------------------------------------- the retry policy


def _conn(address: ServerAddress) -> Any:
    return SimpleNamespace(address=address, label=str(address))


def _refusal(partition: int, address: str) -> NotLeaderError:
    error = parse_not_leader(f"not partition leader: partition={partition} leader_addr={address}")
    assert error is not None
    return error


NODE = ServerAddress("127.0.0.1", 19170, "flymq")
RAFT = ROLES["follower-b"]["raft"]


def test_a_keyless_refusal_is_resent_to_the_same_node_once_per_partition() -> None:
    policy = RetryPolicy(calls.produce("fresh", b"v"), 0, MetadataCache(60))
    conn = _conn(NODE)
    assert policy.after(_refusal(1, RAFT), conn) == Step(None, NODE)
    assert policy.after(_refusal(2, RAFT), conn) == Step(None, NODE)
    step = policy.after(_refusal(1, RAFT), conn)  # came full circle without a partition it leads
    error = step.error
    assert isinstance(error, NotLeaderError) and not isinstance(error, LeaderAddressUnknownError)
    assert error.retriable and step.target is None
    assert "refused 3 time(s)" in str(error) and "partition(s) 1, 2, 1" in str(error)
    assert "not written" in str(error) and error.hint is not None and "round-robin" in error.hint


def test_a_keyless_refusal_stops_after_as_many_attempts_as_partitions() -> None:
    cache = MetadataCache(60)
    cache.put_metadata(_metadata(CLUSTER3, 4))  # 'ct' has 3 partitions
    policy = RetryPolicy(calls.produce("ct", b"v"), 0, cache)
    conn = _conn(NODE)
    assert policy.after(_refusal(1, RAFT), conn).target == NODE
    assert policy.after(_refusal(2, RAFT), conn).target == NODE
    assert isinstance(policy.after(_refusal(0, RAFT), conn).error, NotLeaderError)  # 3rd attempt refused


def test_a_keyless_refusal_without_a_partition_is_resent_once() -> None:
    policy = RetryPolicy(calls.produce("t", b"v"), 0, MetadataCache(60))
    error = parse_not_leader("not partition leader: leader=node3")
    assert error is not None and error.partition_leader
    assert policy.after(error, _conn(NODE)).target == NODE
    assert policy.after(error, _conn(NODE)).error is not None
    assert KEYLESS_RESENDS_UNKNOWN_LAYOUT > 1


def test_a_keyed_refusal_naming_a_known_cluster_address_fails_at_once() -> None:
    cache = MetadataCache(60)
    cache.put_metadata(_metadata(CLUSTER3, 4))
    policy = RetryPolicy(calls.produce("ct", b"v", _key_for(1, 3)), 0, cache)
    step = policy.after(_refusal(1, RAFT), _conn(NODE))
    assert isinstance(step.error, LeaderAddressUnknownError) and step.target is None and not step.refresh
    assert step.error.leader_addr == RAFT and step.error.partition == 1
    assert step.error.server_message is not None and "not partition leader" in step.error.server_message


def test_a_keyed_refusal_naming_an_unknown_address_refreshes_the_metadata_first() -> None:
    cache = MetadataCache(60)
    policy = RetryPolicy(calls.produce("ct", b"v", _key_for(1, 3)), 0, cache)
    assert policy.after(_refusal(1, RAFT), _conn(NODE)) == Step(None, refresh=True)
    cache.put_metadata(_metadata(CLUSTER3, 4))  # what the refresh learns: a cluster address
    assert isinstance(policy.after(_refusal(1, RAFT), _conn(NODE)).error, LeaderAddressUnknownError)
    # An address the refreshed metadata does not list as a cluster address is followed once.
    other = RetryPolicy(calls.produce("ct", b"v", b"k"), 0, MetadataCache(60))
    assert other.after(_refusal(1, "10.0.0.5:9092"), _conn(NODE)).refresh
    assert other.after(_refusal(1, "10.0.0.5:9092"), _conn(NODE)).target == ServerAddress("10.0.0.5", 9092)
    assert isinstance(other.after(_refusal(1, "10.0.0.5:9092"), _conn(NODE)).error, NotLeaderError)


def test_metadata_leader_redirects_are_followed_unless_they_name_a_cluster_address() -> None:
    text = _step(CLUSTER3, 2)["response"]["fields"]["message"]  # create_topic on a follower
    error = parse_not_leader(text)
    assert error is not None
    policy = RetryPolicy(calls.create_topic("ct", 3), 0, MetadataCache(60))
    leader = ServerAddress("127.0.0.1", 19170, "flymq")
    assert policy.after(error, _conn(ServerAddress("127.0.0.1", 19180))) == Step(None, leader)
    cache = MetadataCache(60)
    cache.put_metadata(_metadata(CLUSTER3, 4))
    odd = parse_not_leader(f"not leader: leader_addr={RAFT}")
    assert odd is not None
    step = RetryPolicy(calls.produce("ct-miss", b"v"), 0, cache).after(odd, _conn(NODE))
    assert isinstance(step.error, LeaderAddressUnknownError) and step.target is None


def test_a_routing_error_is_never_retried() -> None:
    error = LeaderAddressUnknownError("m", leader_addr=RAFT, partition=1)
    assert RetryPolicy(calls.produce("ct", b"v", b"k"), 3, MetadataCache(60)).after(error, _conn(NODE)) == (
        Step(error)
    )


# --------------------------------------------------------------------------- the producers' rule


class _Cache:
    def __init__(self) -> None:
        self.dropped: list[str | None] = []

    def invalidate(self, topic: str | None = None) -> None:
        self.dropped.append(topic)


def test_the_producers_retry_refusals_but_not_unroutable_records() -> None:
    cache = _Cache()
    rule = RetryRule(max_retries=3, retry_unacknowledged=False, metadata=cache)
    refusal = error_from_server(REFUSAL, op=int(OpCode.PRODUCE), topic="ct")
    assert rule.decide(refusal, "ct", 1) is None  # not written: retried (keyless: same node)
    assert cache.dropped == ["ct"]  # keyed records are routed again from fresh metadata
    # a round-robin refusal gets ROUND_ROBIN_RETRIES more rounds, then the clear server error
    assert rule.decide(refusal, "ct", 4) is None
    assert rule.decide(refusal, "ct", 4 + ROUND_ROBIN_RETRIES) is refusal
    unroutable = LeaderAddressUnknownError("m", leader_addr=RAFT, partition=1, topic="ct")
    assert rule.decide(unroutable, "ct", 0) is unroutable
    assert cache.dropped == ["ct", "ct", "ct"]  # the unroutable record dropped nothing
