"""Multi-node clusters (``BrokerCluster``): leadership, replication of metadata, local logs, TCP.

The golden transcript ``cluster3_metadata_and_non_leader`` is replayed by the conformance test;
these tests pin each rule on its own, including the parts the transcript marks volatile (the
broker orders peers as configured, where the server uses Go map order).
"""

from __future__ import annotations

import asyncio
import logging
import socket
from pathlib import Path
from typing import Any

import pytest

from pyflymq import FlyMQClient
from pyflymq_broker import AuthSettings, Broker, BrokerConfig
from pyflymq_broker.cluster_server import ClusterServer
from pyflymq_broker.direct import DirectClient
from pyflymq_broker.membership import Member, assign, normalize_peer, peer_members
from pyflymq_broker.multinode import BrokerCluster
from pyflymq_core.errors import ConfigurationError
from pyflymq_core.protocol import FrameParser, OpCode, decode_response, encode_frame, encode_request, fnv1a_32

PROFILES = Path(__file__).resolve().parent.parent / "transcripts" / "profiles"
NODE1, NODE2, NODE3 = "127.0.0.1:19160", "127.0.0.1:19170", "127.0.0.1:19180"
RAFT1, RAFT2, RAFT3 = "127.0.0.1:19161", "127.0.0.1:19171", "127.0.0.1:19181"
NOT_LEADER = f"not leader: leader_id=node1 leader_addr={NODE1}"


@pytest.fixture
def cluster() -> BrokerCluster:
    return BrokerCluster.local(3)  # node1 (the default leader), node2, node3


def clients(cluster: BrokerCluster) -> tuple[DirectClient, ...]:
    return tuple(DirectClient(node) for node in cluster.nodes)


def produce(c: DirectClient, topic: str, value: bytes = b"v", key: bytes = b"") -> dict[str, Any]:
    return c.call(OpCode.PRODUCE, topic=topic, key=key, value=value, partition=-1)


def fetch(c: DirectClient, topic: str, partition: int = 0) -> list[bytes]:
    reply = c.call(OpCode.FETCH, topic=topic, partition=partition, offset=0, max_messages=100, filter="")
    return [m["value"] for m in reply["messages"]]


def error(reply: dict[str, Any]) -> tuple[str, str]:
    return reply["error_encoding"], reply["message"]


def partitions(c: DirectClient, topic: str) -> list[dict[str, Any]]:
    reply = c.call(OpCode.CLUSTER_METADATA, topic=topic)
    result: list[dict[str, Any]] = reply["topics"][0]["partitions"]
    return result


# --- membership and assignment -----------------------------------------------------------------


def test_peers_are_members_named_by_their_raft_address() -> None:
    peers = peer_members("127.0.0.1:1", ["localhost:2", "127.0.0.1:1", "127.0.0.1:2", "h:3"])
    assert peers == (Member("127.0.0.1:2", "127.0.0.1:2"), Member("h:3", "h:3"))  # own and repeats skipped
    assert normalize_peer("localhost:9093") == "127.0.0.1:9093"
    assert normalize_peer("db-localhost:1") == "db-localhost:1"


def test_partitions_are_led_round_robin_with_three_replicas_at_most() -> None:
    members = [Member(f"n{i}", f"a{i}") for i in range(5)]
    got = [assign(members, p) for p in range(6)]
    assert [a.leader.node_id for a in got] == ["n0", "n1", "n2", "n3", "n4", "n0"]
    assert [a.local for a in got] == [True, False, False, False, False, True]
    assert got[3].replicas == ("n3", "n4", "n0")
    solo = assign([Member("me", ":9092")], 7)
    assert (solo.leader.node_id, solo.replicas, solo.local) == ("me", ("me",), True)
    with pytest.raises(ValueError, match="at least one member"):
        assign([], 0)


# --- building a cluster ------------------------------------------------------------------------


def test_local_cluster_configures_every_node_with_the_others_as_peers(cluster: BrokerCluster) -> None:
    configs = [n.config for n in cluster.nodes]
    assert [c.node_id for c in configs] == ["node1", "node2", "node3"]
    assert [c.bind_addr for c in configs] == [NODE1, NODE2, NODE3]
    assert [c.cluster_addr for c in configs] == [RAFT1, RAFT2, RAFT3]
    assert configs[1].peers == (RAFT1, RAFT3)
    assert cluster.leader is cluster.node("node1")  # the first node, by default
    assert cluster.followers == (cluster.node("node2"), cluster.node("node3"))
    assert all(n.topology.cluster_mode and n.raft_group is cluster.group for n in cluster.nodes)
    assert "leader='node1'" in repr(cluster)


def test_leader_is_configurable_and_features_come_from_the_base_config() -> None:
    base = BrokerConfig(dlq_enabled=False)
    cluster = BrokerCluster.local(2, base=base, first_port=20000, leader="node2")
    assert cluster.leader.config.node_id == "node2"
    assert [n.config.bind_addr for n in cluster.nodes] == ["127.0.0.1:20000", "127.0.0.1:20010"]
    assert not any(n.config.dlq_enabled for n in cluster.nodes)
    with pytest.raises(KeyError):
        cluster.node("node9")


def test_transcript_profiles_build_the_captured_cluster() -> None:
    paths = sorted(PROFILES.glob("cluster-3node.node*.json"))
    cluster = BrokerCluster.from_json_files(paths, leader="node2")
    assert [n.config.node_id for n in cluster.nodes] == ["node1", "node2", "node3"]
    assert cluster.leader.config.bind_addr == NODE2


def _configs(**changes: Any) -> list[BrokerConfig]:
    configs = [n.config for n in BrokerCluster.local(3).nodes]
    configs[1] = configs[1].model_copy(update=changes)
    return configs


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"node_id": "node1"}, "node ids must be unique"),
        ({"cluster_addr": ""}, "no cluster_addr"),
        ({"cluster_addr": RAFT1, "peers": (RAFT3,)}, "Raft addresses must be unique"),
        ({"peers": (RAFT1,)}, "node 'node2' has peers"),
        ({"peers": (RAFT1, RAFT3, "127.0.0.1:1")}, "node 'node2' has peers"),
    ],
)
def test_inconsistent_configurations_are_refused(changes: dict[str, Any], match: str) -> None:
    with pytest.raises(ConfigurationError, match=match) as info:
        BrokerCluster(_configs(**changes))
    assert info.value.hint


def test_unknown_leader_and_empty_clusters_are_refused() -> None:
    with pytest.raises(ConfigurationError, match="leader 'node9'"):
        BrokerCluster.local(3, leader="node9")
    with pytest.raises(ConfigurationError):
        BrokerCluster([])
    with pytest.raises(ConfigurationError):
        BrokerCluster.local(0)


def test_peers_in_localhost_form_match_the_raft_addresses() -> None:
    configs = [n.config for n in BrokerCluster.local(2).nodes]
    configs[0] = configs[0].model_copy(update={"peers": ("localhost:19171",)})
    assert BrokerCluster(configs).nodes[0].config.peers == ("localhost:19171",)


def test_a_lone_broker_with_peers_still_warns(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, "pyflymq.broker"):
        Broker(BrokerConfig(cluster_addr=RAFT1, peers=(RAFT2,)))
    assert any("BrokerCluster" in r.getMessage() for r in caplog.records)


def test_cluster_nodes_do_not_warn(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, "pyflymq.broker"):
        BrokerCluster.local(3)
    assert not caplog.records


# --- metadata: every node leads partition 0 -----------------------------------------------------


def test_each_node_reports_itself_as_cluster_and_leader_of_partition_zero(cluster: BrokerCluster) -> None:
    c1, c2, c3 = clients(cluster)
    assert c2.call(OpCode.CLUSTER_METADATA, topic="") == {"cluster_id": "node2", "topics": []}
    assert c1.call(OpCode.CREATE_TOPIC, topic="ct", partitions=3) == {"success": True}

    def row(partition: int, leader: str, addr: str, replicas: list[str]) -> dict[str, Any]:
        return {
            "partition": partition,
            "leader_id": leader,
            "leader_addr": addr,
            "epoch": 1,
            "state": "online",
            "replicas": replicas,
            "isr": replicas,
        }

    assert partitions(c2, "ct") == [
        row(0, "node2", NODE2, ["node2", RAFT1, RAFT3]),
        row(1, RAFT1, RAFT1, [RAFT1, RAFT3, "node2"]),
        row(2, RAFT3, RAFT3, [RAFT3, "node2", RAFT1]),
    ]
    assert [p["leader_id"] for p in partitions(c1, "ct")] == ["node1", RAFT2, RAFT3]
    assert [p["leader_id"] for p in partitions(c3, "ct")] == ["node3", RAFT1, RAFT2]
    assert c3.call(OpCode.CLUSTER_METADATA, topic="ct")["cluster_id"] == "node3"


def test_advertise_addr_is_a_nodes_own_client_address() -> None:
    configs = [n.config for n in BrokerCluster.local(2).nodes]
    configs[0] = configs[0].model_copy(update={"advertise_addr": "10.0.0.1:9092"})
    cluster = BrokerCluster(configs)
    c1, c2 = clients(cluster)
    assert error(c2.call(OpCode.CREATE_TOPIC, topic="t", partitions=1))[1] == (
        "not leader: leader_id=node1 leader_addr=10.0.0.1:9092"
    )
    c1.call(OpCode.CREATE_TOPIC, topic="t", partitions=1)
    assert partitions(c1, "t")[0]["leader_addr"] == "10.0.0.1:9092"


# --- metadata writes: the leader only, applied by every node ------------------------------------


def test_topics_are_created_and_deleted_on_the_leader_only_and_seen_everywhere(
    cluster: BrokerCluster,
) -> None:
    c1, c2, c3 = clients(cluster)
    assert error(c2.call(OpCode.CREATE_TOPIC, topic="t", partitions=2)) == ("raw_unflagged", NOT_LEADER)
    assert all(c.call(OpCode.LIST_TOPICS) == {"topics": []} for c in (c1, c2, c3))
    c1.call(OpCode.CREATE_TOPIC, topic="t", partitions=2)
    assert all(c.call(OpCode.LIST_TOPICS) == {"topics": ["t"]} for c in (c1, c2, c3))
    assert len(partitions(c3, "t")) == 2
    assert error(c3.call(OpCode.DELETE_TOPIC, topic="t")) == ("raw_unflagged", NOT_LEADER)
    assert c1.call(OpCode.DELETE_TOPIC, topic="t") == {"success": True}
    assert all(c.call(OpCode.LIST_TOPICS) == {"topics": []} for c in (c1, c2, c3))


def test_a_refused_write_is_audited_as_a_failure_on_the_follower(cluster: BrokerCluster) -> None:
    _, c2, _ = clients(cluster)
    c2.call(OpCode.CREATE_TOPIC, topic="t", partitions=1)
    c2.call(OpCode.DELETE_TOPIC, topic="t")
    follower_audit = cluster.node("node2").audit
    assert follower_audit is not None
    events = [(e.type, e.result, dict(e.details)) for e in follower_audit.events()]
    assert events == [
        ("topic.create", "failure", {"error": NOT_LEADER}),
        ("topic.delete", "failure", {"error": NOT_LEADER}),
    ]
    leader_audit = cluster.leader.audit
    assert leader_audit is not None and not leader_audit.events()  # audit trails are per node


def test_negative_partitions_on_a_follower_are_refused_as_not_leader(cluster: BrokerCluster) -> None:
    _, c2, _ = clients(cluster)
    assert error(c2.call(OpCode.CREATE_TOPIC, topic="neg", partitions=-1)) == ("raw_unflagged", NOT_LEADER)
    c1 = DirectClient(cluster.leader)
    assert error(c1.call(OpCode.CREATE_TOPIC, topic="neg", partitions=-1))[1] == "invalid partition count: -1"


def test_schemas_are_registered_on_the_leader_and_replicated(cluster: BrokerCluster) -> None:
    c1, c2, _ = clients(cluster)
    register = {"name": "s", "type": "json", "schema": b'{"type":"object"}'}
    assert error(c2.call(OpCode.REGISTER_SCHEMA, register)) == ("raw_flagged", NOT_LEADER)
    assert c1.call(OpCode.REGISTER_SCHEMA, register) == {"name": "s", "type": "json", "version": 1}
    assert c2.call(OpCode.GET_SCHEMA, topic="s", version=0)["version"] == 1
    assert error(c2.call(OpCode.DELETE_SCHEMA, topic="s", version=1)) == ("raw_flagged", NOT_LEADER)
    assert c1.call(OpCode.DELETE_SCHEMA, topic="s", version=1) == {"success": True, "message": "OK"}
    assert c2.call(OpCode.LIST_SCHEMAS, topic="")["schemas"] == []


def test_failed_schema_applies_are_logged_on_every_node(
    cluster: BrokerCluster, caplog: pytest.LogCaptureFixture
) -> None:
    c1 = DirectClient(cluster.leader)
    with caplog.at_level(logging.WARNING, "pyflymq.broker"):
        reply = c1.call(OpCode.REGISTER_SCHEMA, name="bad", type="json", schema=b"{not json")
    assert reply == {"name": "bad", "type": "json", "version": 1}  # answered before the apply
    failed = {r.getMessage().split("node ")[1].split(" ")[0] for r in caplog.records}
    assert failed == {"'node1'", "'node2'", "'node3'"}


def test_purging_a_dlq_is_a_topic_deletion(cluster: BrokerCluster) -> None:
    c1, c2, _ = clients(cluster)
    c1.call(OpCode.CREATE_TOPIC, topic="src.dlq", partitions=1)
    assert c2.call(OpCode.PURGE_DLQ, topic="src") == {"success": False, "message": NOT_LEADER}
    assert c1.call(OpCode.PURGE_DLQ, topic="src") == {"success": True, "message": "OK"}
    assert c2.call(OpCode.LIST_TOPICS) == {"topics": []}


def test_users_and_acls_are_written_on_the_leader_and_replicated() -> None:
    auth = AuthSettings(enabled=True, admin_username="admin", admin_password="admin-pass-1")
    cluster = BrokerCluster.local(2, base=BrokerConfig(auth=auth))
    c1, c2 = clients(cluster)
    for c in (c1, c2):
        assert c.call(OpCode.AUTH, username="admin", password="admin-pass-1")["success"]
    user = {"username": "bob", "password": "bob-pass-1", "old_password": "", "roles": ["producer"]}
    assert error(c2.call(OpCode.USER_CREATE, user)) == ("coded", NOT_LEADER)
    assert c1.call(OpCode.USER_CREATE, user)["username"] == "bob"
    bob = DirectClient(cluster.node("node2"))
    assert bob.call(OpCode.AUTH, username="bob", password="bob-pass-1")["success"]  # replicated
    c1.call(OpCode.PASSWORD_CHANGE, username="bob", old_password="", password="bob-pass-2", roles=[])
    assert bob.call(OpCode.AUTH, username="bob", password="bob-pass-2")["success"]
    c1.call(
        OpCode.USER_UPDATE, username="bob", password="", old_password="", roles=["consumer"], enabled=True
    )
    assert c2.call(OpCode.USER_GET, username="bob")["roles"] == ["consumer"]
    acl = {"topic": "t", "public": False, "allowed_users": ["bob"], "allowed_roles": []}
    assert error(c2.call(OpCode.ACL_SET, acl)) == ("coded", NOT_LEADER)
    c1.call(OpCode.ACL_SET, acl)
    assert c2.call(OpCode.ACL_GET, topic="t")["allowed_users"] == ["bob"]
    assert error(c2.call(OpCode.ACL_DELETE, topic="t")) == ("coded", NOT_LEADER)
    c1.call(OpCode.ACL_DELETE, topic="t")
    assert not c2.call(OpCode.ACL_GET, topic="t")["exists"]
    assert error(c2.call(OpCode.USER_DELETE, username="bob")) == ("coded", NOT_LEADER)
    c1.call(OpCode.USER_DELETE, username="bob")
    assert error(c2.call(OpCode.USER_GET, username="bob")) == ("coded", 'user "bob" not found')
    follower_audit = cluster.node("node2").audit
    assert follower_audit is not None
    refused = [e for e in follower_audit.events() if e.type == "user.create"]
    assert [(e.result, dict(e.details)) for e in refused] == [("failure", {"error": NOT_LEADER})]


def _admin_cluster(size: int = 2) -> tuple[BrokerCluster, DirectClient, DirectClient]:
    auth = AuthSettings(enabled=True, admin_username="admin", admin_password="admin-pass-1")
    cluster = BrokerCluster.local(size, base=BrokerConfig(auth=auth))
    c1, c2 = clients(cluster)[:2]
    for c in (c1, c2):
        assert c.call(OpCode.AUTH, username="admin", password="admin-pass-1")["success"]
    return cluster, c1, c2


def test_user_writes_on_the_leader_are_answered_before_they_are_applied(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """server.go handleUserCreate/Delete/PasswordChange: in cluster mode the leader proposes
    without looking at its store; UserStore.ApplyCreateUser/ApplyDeleteUser/ApplyUpdateUser
    then fail on every node, and the failure is only logged."""
    cluster, c1, c2 = _admin_cluster()
    user = {"username": "bob", "password": "bob-pass-1", "old_password": "", "roles": ["producer"]}
    c1.call(OpCode.USER_CREATE, user)
    again = {**user, "password": "other-pass", "roles": ["admin"]}
    with caplog.at_level(logging.WARNING, logger="pyflymq.broker"):
        assert c1.call(OpCode.USER_CREATE, again)["roles"] == ["admin"]  # echoes the request
        assert c1.call(OpCode.USER_DELETE, username="ghost") == {"success": True, "message": "ghost"}
        assert c1.call(
            OpCode.USER_UPDATE, username="ghost", password="", old_password="", roles=["x"], enabled=True
        ) == {"success": True, "message": "ghost"}
        assert c1.call(OpCode.PASSWORD_CHANGE, username="ghost", old_password="", password="p", roles=[]) == {
            "success": True,
            "message": "ghost",
        }
    assert "already exists" in caplog.text and 'user "ghost" not found' in caplog.text
    assert c2.call(OpCode.USER_GET, username="bob")["roles"] == ["producer"]  # nothing changed
    assert error(c2.call(OpCode.USER_GET, username="ghost")) == ("coded", 'user "ghost" not found')
    audit = cluster.leader.audit
    assert audit is not None
    results = [(e.type, e.resource, e.result) for e in audit.events() if e.type.startswith("user.")]
    assert results == [
        ("user.create", "bob", "success"),
        ("user.create", "bob", "success"),
        ("user.delete", "ghost", "success"),
    ]


def test_user_update_in_a_cluster_keeps_roles_for_an_empty_list_and_never_disables() -> None:
    """UpdateUserPayload drops empty roles and a nil enabled (omitempty); handleUserUpdate only
    sets enabled when the request's flag is true."""
    _, c1, c2 = _admin_cluster()
    c1.call(OpCode.USER_CREATE, username="bob", password="bob-pass-1", old_password="", roles=["producer"])
    update = {"username": "bob", "password": "", "old_password": "", "roles": [], "enabled": False}
    assert c1.call(OpCode.USER_UPDATE, update) == {"success": True, "message": "bob"}
    got = c2.call(OpCode.USER_GET, username="bob")
    assert (got["roles"], got["enabled"]) == (["producer"], True)
    c1.call(OpCode.USER_UPDATE, {**update, "roles": ["consumer"]})
    assert c2.call(OpCode.USER_GET, username="bob")["roles"] == ["consumer"]


def test_standalone_user_update_still_replaces_roles_and_disables() -> None:
    auth = AuthSettings(enabled=True, admin_username="admin", admin_password="admin-pass-1")
    c = DirectClient(Broker(BrokerConfig(auth=auth)))
    c.call(OpCode.AUTH, username="admin", password="admin-pass-1")
    c.call(OpCode.USER_CREATE, username="bob", password="bob-pass-1", old_password="", roles=["producer"])
    c.call(OpCode.USER_UPDATE, username="bob", password="", old_password="", roles=[], enabled=False)
    got = c.call(OpCode.USER_GET, username="bob")
    assert (got["roles"], got["enabled"]) == ([], False)
    assert error(c.call(OpCode.USER_DELETE, username="ghost")) == ("coded", 'user "ghost" not found')


def test_user_and_acl_writes_without_authentication_are_proposed_not_crashed() -> None:
    """cmd/flymq/main.go wires the auth applier only when auth is enabled: a cluster node without
    auth proposes user/ACL writes (leader: success; follower: not leader) and applies nothing.
    Reads still reach the missing store (the server crashes; the broker answers coded)."""
    cluster = BrokerCluster.local(2)
    c1, c2 = clients(cluster)
    user = {"username": "bob", "password": "bob-pass-1", "old_password": "", "roles": ["producer"]}
    assert c1.call(OpCode.USER_CREATE, user)["username"] == "bob"
    assert error(c2.call(OpCode.USER_CREATE, user)) == ("coded", NOT_LEADER)
    assert c1.call(OpCode.USER_DELETE, username="bob") == {"success": True, "message": "bob"}
    assert c1.call(OpCode.USER_UPDATE, user) == {"success": True, "message": "bob"}
    assert c1.call(OpCode.PASSWORD_CHANGE, user) == {"success": True, "message": "bob"}
    acl = {"topic": "t", "public": False, "allowed_users": [], "allowed_roles": []}
    assert c1.call(OpCode.ACL_SET, acl) == {"success": True, "topic": "t"}
    assert c1.call(OpCode.ACL_DELETE, topic="t") == {"success": True, "topic": "t"}
    assert error(c2.call(OpCode.ACL_DELETE, topic="t")) == ("coded", NOT_LEADER)
    auth_disabled = ("coded", "authentication is not enabled on this server")
    assert error(c1.call(OpCode.USER_GET, username="bob")) == auth_disabled
    assert error(DirectClient(Broker()).call(OpCode.USER_CREATE, user)) == auth_disabled  # standalone


# --- produce: local partitions only, logs not replicated ----------------------------------------


def test_keyless_produce_round_robins_and_refuses_partitions_led_elsewhere(cluster: BrokerCluster) -> None:
    c1, c2, _ = clients(cluster)
    c1.call(OpCode.CREATE_TOPIC, topic="ct", partitions=3)
    first, second, third, fourth = (produce(c2, "ct", bytes([i])) for i in range(4))
    assert (first["partition"], first["offset"]) == (0, 0)
    assert error(second) == ("raw_unflagged", f"not partition leader: partition=1 leader_addr={RAFT1}")
    assert error(third) == ("raw_unflagged", f"not partition leader: partition=2 leader_addr={RAFT3}")
    assert (fourth["partition"], fourth["offset"]) == (0, 1)  # the counter moved on regardless


def test_keyed_produce_succeeds_only_where_the_key_lands_on_a_local_partition(cluster: BrokerCluster) -> None:
    c1, c2, _ = clients(cluster)
    c1.call(OpCode.CREATE_TOPIC, topic="ct", partitions=3)
    keys = {
        p: next(k for k in (f"k{i}".encode() for i in range(100)) if fnv1a_32(k) % 3 == p) for p in range(3)
    }
    assert produce(c1, "ct", key=keys[0])["partition"] == 0
    assert produce(c2, "ct", key=keys[0])["partition"] == 0
    assert (
        error(produce(c1, "ct", key=keys[1]))[1] == f"not partition leader: partition=1 leader_addr={RAFT2}"
    )


def test_logs_are_not_replicated(cluster: BrokerCluster) -> None:
    c1, c2, c3 = clients(cluster)
    c1.call(OpCode.CREATE_TOPIC, topic="ct", partitions=1)
    produce(c1, "ct", b"from-1")
    produce(c2, "ct", b"from-2")
    assert (fetch(c1, "ct"), fetch(c2, "ct"), fetch(c3, "ct")) == ([b"from-1"], [b"from-2"], [])


def test_only_the_leader_auto_creates_and_every_node_gets_six_partitions(cluster: BrokerCluster) -> None:
    c1, c2, c3 = clients(cluster)
    assert error(produce(c2, "auto")) == ("raw_unflagged", f"not leader: leader_addr={NODE1}")
    assert c2.call(OpCode.LIST_TOPICS) == {"topics": []}
    reply = produce(c1, "auto", b"x")
    assert (reply["partition"], reply["offset"]) == (0, 0)
    assert [len(partitions(c, "auto")) for c in (c1, c2, c3)] == [6, 6, 6]


@pytest.mark.parametrize(
    ("op", "fields"),
    [
        (OpCode.PRODUCE_WITH_TTL, {"topic": "auto", "data": b"x", "ttl_ms": 1000}),
        (OpCode.PRODUCE_WITH_SCHEMA, {"topic": "auto", "schema_name": "none", "data": b"{}"}),
    ],
)
def test_every_produce_path_follows_the_same_rules(
    cluster: BrokerCluster, op: int, fields: dict[str, Any]
) -> None:
    _, c2, _ = clients(cluster)
    assert error(c2.call(op, fields))[1] == f"not leader: leader_addr={NODE1}"


def test_delayed_delivery_on_a_follower_retries_until_the_topic_exists() -> None:
    now = [1000.0]
    cluster = BrokerCluster.local(2, clock=lambda: now[0])
    c1, c2 = clients(cluster)
    assert c2.call(OpCode.PRODUCE_DELAYED, topic="later", data=b"x", delay_ms=500)["offset"] == 0
    now[0] += 1.0
    cluster.node("node2").tick()  # not leader: cannot auto-create, requeued
    assert c2.call(OpCode.LIST_TOPICS) == {"topics": []}
    c1.call(OpCode.CREATE_TOPIC, topic="later", partitions=1)
    now[0] += 1.0
    cluster.node("node2").tick()
    assert fetch(c2, "later") == [b"x"]


def test_groups_transactions_and_audit_stay_on_the_node_that_served_them(cluster: BrokerCluster) -> None:
    """server.go handleCommit/BeginTx/...: ConsumerGroupManager, the transaction coordinator and
    the audit store are per-process objects that nothing in internal/cluster replicates."""
    c1, c2, _ = clients(cluster)
    c1.call(OpCode.CREATE_TOPIC, topic="t", partitions=3)
    assert c2.call(OpCode.COMMIT, topic="t", group_id="g", partition=0, offset=5) == {"success": True}
    assert c2.call(OpCode.GET_OFFSET, topic="t", group_id="g", partition=0) == {"offset": 5}
    missing = ("raw_unflagged", "consumer group not found: t:g")
    assert error(c1.call(OpCode.GET_OFFSET, topic="t", group_id="g", partition=0)) == missing
    assert c1.call(OpCode.LIST_GROUPS) == {"groups": []}
    txn = c2.call(OpCode.BEGIN_TX)["txn_id"]
    tx_write = {"txn_id": txn, "topic": "t", "data": b"x"}
    assert error(c1.call(OpCode.PRODUCE_TX, tx_write)) == ("raw_unflagged", f"transaction not found: {txn}")
    assert c1.call(OpCode.COMMIT_TX, txn_id=txn) == {"txn_id": txn, "success": False}
    c2.call(OpCode.PRODUCE_TX, tx_write)
    assert c2.call(OpCode.COMMIT_TX, txn_id=txn) == {"txn_id": txn, "success": True}  # partition 0
    assert fetch(c2, "t") == [b"x"] and fetch(c1, "t") == []
    follower_audit = cluster.node("node2").audit
    assert follower_audit is not None
    assert [e.type for e in follower_audit.events()] == []  # the create was audited on the leader


# --- persistence --------------------------------------------------------------------------------


def test_replicated_topics_survive_a_restart_of_every_node(tmp_path: Path) -> None:
    def build() -> BrokerCluster:
        configs = [
            n.config.model_copy(update={"data_dir": str(tmp_path / n.config.node_id)})
            for n in BrokerCluster.local(2).nodes
        ]
        return BrokerCluster(configs)

    with build() as cluster:
        c1, c2 = clients(cluster)
        c1.call(OpCode.CREATE_TOPIC, topic="kept", partitions=2)
        c1.call(OpCode.CREATE_TOPIC, topic="dropped", partitions=1)
        c1.call(OpCode.REGISTER_SCHEMA, name="s", type="json", schema=b'{"type":"object"}')
        produce(c2, "kept", b"local-2")
        c1.call(OpCode.DELETE_TOPIC, topic="dropped")
    with build() as cluster:
        _, c2 = clients(cluster)
        assert c2.call(OpCode.LIST_TOPICS) == {"topics": ["kept"]}
        assert fetch(c2, "kept") == [b"local-2"]
        assert c2.call(OpCode.GET_SCHEMA, topic="s", version=1)["version"] == 1


# --- over TCP -----------------------------------------------------------------------------------


def test_each_node_serves_clients_over_tcp(cluster: BrokerCluster) -> None:
    with ClusterServer(cluster) as servers:
        addresses = servers.addresses
        assert list(addresses) == ["node1", "node2", "node3"]
        assert servers.leader_address == addresses["node1"]
        with FlyMQClient(servers.leader_address) as admin:
            admin.create_topic("tcp-t", 1)
        for node_id, address in addresses.items():
            with FlyMQClient(address) as client:
                metadata = client.cluster_metadata("tcp-t")
                assert metadata.cluster_id == node_id
                (leader,) = metadata.topics[0].partitions
                assert (leader.leader_id, leader.leader_addr) == (node_id, address)
                record = client.produce("tcp-t", f"from-{node_id}".encode())
                assert (record.partition, record.offset) == (0, 0)  # every node leads partition 0
        for node_id, address in addresses.items():
            with FlyMQClient(address) as client:
                values = [m.value for m in client.fetch("tcp-t", 0, 0, 10).messages]
                assert values == [f"from-{node_id}".encode()]  # each node has its own log only


def _raw_call(address: str, op: int, **fields: Any) -> dict[str, Any]:
    host, _, port = address.rpartition(":")
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(encode_frame(op, 0x01, encode_request(op, fields)))
        parser = FrameParser()
        while not (frames := parser.feed(sock.recv(65536))):
            pass
    return decode_response(op, frames[0].op, frames[0].flags, frames[0].payload)


def test_a_follower_names_the_address_the_leader_listens_on(cluster: BrokerCluster) -> None:
    with ClusterServer(cluster) as servers:
        reply = _raw_call(servers.addresses["node3"], OpCode.CREATE_TOPIC, topic="t", partitions=1)
        leader = servers.leader_address
        assert error(reply) == ("raw_unflagged", f"not leader: leader_id=node1 leader_addr={leader}")
        reply = _raw_call(
            servers.addresses["node3"], OpCode.PRODUCE, topic="t", key=b"", value=b"x", partition=-1
        )
        assert error(reply)[1] == f"not leader: leader_addr={leader}"


def test_cluster_servers_run_on_the_callers_loop(cluster: BrokerCluster) -> None:
    async def main() -> list[str]:
        async with ClusterServer(cluster) as servers:
            ids = []
            for address in servers.addresses.values():
                host, _, port = address.rpartition(":")
                reader, writer = await asyncio.open_connection(host, int(port))
                writer.write(
                    encode_frame(OpCode.CLUSTER_METADATA, 0x01, encode_request(OpCode.CLUSTER_METADATA, {}))
                )
                header = await reader.readexactly(8)
                payload = await reader.readexactly(int.from_bytes(header[4:], "big"))
                ids.append(
                    decode_response(OpCode.CLUSTER_METADATA, header[2], header[3], payload)["cluster_id"]
                )
                writer.close()
                await writer.wait_closed()
            return ids

    assert asyncio.run(main()) == ["node1", "node2", "node3"]


def test_cluster_server_needs_one_port_per_node(cluster: BrokerCluster) -> None:
    with pytest.raises(ConfigurationError, match="2 ports for 3 nodes"):
        ClusterServer(cluster, ports=[0, 0])
    servers = ClusterServer(cluster)
    assert servers.server("node2").broker is cluster.node("node2")
    with pytest.raises(KeyError):
        servers.server("node9")


def test_a_failed_start_stops_the_servers_already_started(cluster: BrokerCluster) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        servers = ClusterServer(cluster, ports=[0, port, 0])
        with pytest.raises(ConfigurationError, match="cannot listen"):
            servers.start()
        assert not any(s.running for s in servers.servers)
