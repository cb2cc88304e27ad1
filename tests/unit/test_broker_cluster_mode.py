"""Single-node cluster mode (a ``cluster_addr``, no peers), and that standalone mode is unchanged.

The golden transcripts of the ``raft-single`` profile are replayed by the conformance test; these
tests pin the same rules one at a time, on every produce path and for both topologies. Multi-node
clusters have their own file, test_broker_multinode.py.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from pyflymq_broker import Broker, BrokerConfig
from pyflymq_broker.direct import DirectClient
from pyflymq_broker.dlq import encode_dlq_record
from pyflymq_broker.server import BrokerServer
from pyflymq_core.protocol import OpCode, fnv1a_32

CLUSTER = {"node_id": "raft1", "bind_addr": "127.0.0.1:19150", "cluster_addr": "127.0.0.1:19151"}
STANDALONE = {"node_id": "solo", "bind_addr": ":9092"}


def client(**config: Any) -> DirectClient:
    return DirectClient(Broker(BrokerConfig(**config)))


@pytest.fixture
def cluster() -> DirectClient:
    return client(**CLUSTER)


@pytest.fixture
def standalone() -> DirectClient:
    return client(**STANDALONE)


def metadata(c: DirectClient, topic: str = "") -> dict[str, Any]:
    return c.call(OpCode.CLUSTER_METADATA, topic=topic)


def partition_count(c: DirectClient, topic: str) -> int:
    return len(metadata(c, topic)["topics"][0]["partitions"])


def produce(c: DirectClient, topic: str, value: bytes = b"v", key: bytes = b"") -> dict[str, Any]:
    return c.call(OpCode.PRODUCE, topic=topic, key=key, value=value, partition=-1)


def register(c: DirectClient, name: str, definition: bytes, type_: str = "json") -> dict[str, Any]:
    return c.call(OpCode.REGISTER_SCHEMA, name=name, type=type_, schema=definition)


def get_latest(c: DirectClient, name: str) -> dict[str, Any]:
    return c.call(OpCode.GET_SCHEMA, topic=name, version=0)


# --- selection and configuration --------------------------------------------------------------


def test_cluster_addr_selects_cluster_mode() -> None:
    assert Broker(BrokerConfig(**CLUSTER)).topology.cluster_mode
    assert not Broker(BrokerConfig(**STANDALONE)).topology.cluster_mode
    assert not Broker(BrokerConfig()).topology.cluster_mode


def test_server_config_reads_cluster_addr_and_peers_without_warning(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, "pyflymq.broker"):
        config = BrokerConfig.from_server_config({**CLUSTER, "peers": []})
        broker = Broker(config)
    assert config.cluster_addr == "127.0.0.1:19151" and config.peers == ()
    assert broker.topology.cluster_mode
    assert not caplog.records  # cluster mode is simulated, nothing is ignored
    assert BrokerConfig.from_server_config({"peers": ["a:1", "b:2"]}).peers == ("a:1", "b:2")
    with pytest.raises(ValueError, match="list of strings"):
        BrokerConfig.from_server_config({"peers": "a:1"})
    with pytest.raises(ValueError, match="list of strings"):
        BrokerConfig.from_server_config({"peers": [1]})


def test_peers_on_a_lone_broker_warn_and_it_stays_a_single_node(caplog: pytest.LogCaptureFixture) -> None:
    """Multi-node clusters are simulated by ``BrokerCluster`` (tests/unit/test_broker_multinode.py)."""
    with caplog.at_level(logging.WARNING, "pyflymq.broker"):
        c = client(**CLUSTER, peers=("127.0.0.1:19161", "127.0.0.1:19171"))
    assert any("multi-node" in r.getMessage() and "BrokerCluster" in r.getMessage() for r in caplog.records)
    produce(c, "t")
    partition = metadata(c, "t")["topics"][0]["partitions"][5]
    assert (partition["leader_id"], partition["replicas"], partition["state"]) == (
        "raft1",
        ["raft1"],
        "online",
    )


def test_profile_file_selects_cluster_mode() -> None:
    profile = Path(__file__).resolve().parent.parent / "transcripts" / "profiles" / "raft-single.json"
    broker = Broker(BrokerConfig.from_json_file(profile))
    assert broker.topology.cluster_mode
    assert json.loads(profile.read_text(encoding="utf-8"))["peers"] == []


# --- CLUSTER_METADATA -------------------------------------------------------------------------


def test_cluster_metadata_names_the_node_as_cluster_and_leader(cluster: DirectClient) -> None:
    assert metadata(cluster) == {"cluster_id": "raft1", "topics": []}
    cluster.call(OpCode.CREATE_TOPIC, topic="r3", partitions=3)
    partitions = metadata(cluster, "r3")["topics"][0]["partitions"]
    assert partitions == [
        {
            "partition": i,
            "leader_id": "raft1",
            "leader_addr": "127.0.0.1:19150",
            "epoch": 1,
            "state": "online",
            "replicas": ["raft1"],
            "isr": ["raft1"],
        }
        for i in range(3)
    ]
    missing = metadata(cluster, "nope")
    assert (missing["error_encoding"], missing["message"]) == ("coded", "topic not found: nope")


def test_cluster_leader_addr_is_the_advertised_client_address() -> None:
    c = client(**CLUSTER, advertise_addr="10.0.0.7:9092")
    c.call(OpCode.CREATE_TOPIC, topic="t", partitions=1)
    assert metadata(c, "t")["topics"][0]["partitions"][0]["leader_addr"] == "10.0.0.7:9092"


def test_standalone_metadata_is_unchanged() -> None:
    c = client(**STANDALONE, advertise_addr="10.0.0.7:9092")  # ignored when standalone
    c.call(OpCode.CREATE_TOPIC, topic="t", partitions=1)
    reply = metadata(c, "t")
    assert reply["cluster_id"] == "standalone"
    assert reply["topics"][0]["partitions"][0]["leader_addr"] == ":9092"


def test_tcp_server_rewrites_the_advertised_address_it_does_not_listen_on() -> None:
    config = BrokerConfig(**CLUSTER, advertise_addr="127.0.0.1:19150")
    with BrokerServer(config=config) as srv:  # an ephemeral port, not 19150
        broker = srv.broker
        assert broker.topology.leader_addr(broker.config) == srv.address
        assert broker.config.advertise_addr == srv.address
        assert broker.config.bind_addr == "127.0.0.1:19150"  # not reported in cluster mode


# --- topics and produce -----------------------------------------------------------------------


def _via_produce(c: DirectClient, topic: str) -> None:
    produce(c, topic)


def _via_schema(c: DirectClient, topic: str) -> None:
    c.call(OpCode.PRODUCE_WITH_SCHEMA, topic=topic, schema_name="none", data=b"{}")


def _via_ttl(c: DirectClient, topic: str) -> None:
    c.call(OpCode.PRODUCE_WITH_TTL, topic=topic, data=b"x", ttl_ms=1000)


def _via_delayed(c: DirectClient, topic: str) -> None:
    c.call(OpCode.PRODUCE_DELAYED, topic=topic, data=b"x", delay_ms=0)  # due at once


def _via_transaction(c: DirectClient, topic: str) -> None:
    txn_id = c.call(OpCode.BEGIN_TX)["txn_id"]
    c.call(OpCode.PRODUCE_TX, txn_id=txn_id, topic=topic, data=b"x")
    assert c.call(OpCode.COMMIT_TX, txn_id=txn_id)["success"]


def dead_letter(c: DirectClient, message_id: str, original_topic: str) -> None:
    """Write a dead letter the way the server's DLQ does: a keyless produce to ``src.dlq``."""
    record = encode_dlq_record(
        id=message_id,
        original_topic=original_topic,
        original_offset=0,
        payload=b"body",
        reason="r",
        error_message="e",
        retry_count=1,
        first_failed_at="2026-01-01T00:00:00Z",
        last_failed_at="2026-01-01T00:00:00Z",
    )
    produce(c, "src.dlq", record)


def _via_dlq_replay(c: DirectClient, topic: str) -> None:
    dead_letter(c, "m1", topic)
    assert c.call(OpCode.REPLAY_DLQ, topic="src", message_id="m1")["success"]


PRODUCE_PATHS: dict[str, Callable[[DirectClient, str], None]] = {
    "produce": _via_produce,
    "produce_with_schema": _via_schema,
    "produce_with_ttl": _via_ttl,
    "delayed_delivery": _via_delayed,
    "transaction_commit": _via_transaction,
    "dlq_replay": _via_dlq_replay,
}


@pytest.mark.parametrize("path", sorted(PRODUCE_PATHS))
def test_produce_paths_auto_create_six_partitions_in_cluster_mode(path: str) -> None:
    c = client(**CLUSTER)
    PRODUCE_PATHS[path](c, "auto")
    assert partition_count(c, "auto") == 6


@pytest.mark.parametrize("path", sorted(PRODUCE_PATHS))
def test_produce_paths_auto_create_one_partition_standalone(path: str) -> None:
    c = client(**STANDALONE)
    PRODUCE_PATHS[path](c, "auto")
    assert partition_count(c, "auto") == 1


def test_keyless_round_robin_and_keyed_fnv1a_over_six_partitions(cluster: DirectClient) -> None:
    keyless = [produce(cluster, "auto6", bytes([i]))["partition"] for i in range(7)]
    assert keyless == [0, 1, 2, 3, 4, 5, 0]
    keyed = produce(cluster, "auto6", b"c", key=b"user-1")
    assert keyed["partition"] == fnv1a_32(b"user-1") % 6 == 4
    assert keyed["offset"] == 1  # partition 4 already holds the 5th keyless record
    record = cluster.call(OpCode.CONSUME, topic="auto6", partition=4, offset=1)
    assert (record["key"], record["value"]) == (b"user-1", b"c")


def test_explicit_create_and_delete_keep_their_standalone_answers(cluster: DirectClient) -> None:
    ok = {"success": True}
    assert cluster.call(OpCode.CREATE_TOPIC, topic="r3", partitions=3) == ok
    assert cluster.call(OpCode.CREATE_TOPIC, topic="r3", partitions=5) == ok  # idempotent, keeps 3
    assert partition_count(cluster, "r3") == 3
    assert cluster.call(OpCode.CREATE_TOPIC, topic="one", partitions=0) == ok  # 0 means 1
    assert partition_count(cluster, "one") == 1
    produce(cluster, "auto6")
    assert cluster.call(OpCode.DELETE_TOPIC, topic="never") == ok
    assert cluster.call(OpCode.DELETE_TOPIC, topic="r3") == ok
    assert cluster.call(OpCode.LIST_TOPICS) == {"topics": ["auto6", "one"]}


def test_negative_partitions_answer_an_error_instead_of_crashing(cluster: DirectClient) -> None:
    reply = cluster.call(OpCode.CREATE_TOPIC, topic="neg", partitions=-1)
    assert (reply["error_encoding"], reply["message"]) == ("raw_unflagged", "invalid partition count: -1")
    assert cluster.call(OpCode.LIST_TOPICS) == {"topics": []}
    assert produce(cluster, "still-alive")["offset"] == 0


def test_dlq_reads_partition_zero_of_a_six_partition_dlq_topic(cluster: DirectClient) -> None:
    dead_letter(cluster, "m0", "src")  # keyless: partition 0
    dead_letter(cluster, "m1", "src")  # partition 1, which FETCH_DLQ never reads
    assert [m["id"] for m in cluster.call(OpCode.FETCH_DLQ, topic="src", max_messages=10)["messages"]] == [
        "m0"
    ]


@pytest.mark.parametrize("config", [CLUSTER, STANDALONE], ids=["cluster", "standalone"])
@pytest.mark.parametrize("op", [0x50, 0x51, 0x52])
def test_cluster_join_leave_status_stay_unknown_opcodes(config: dict[str, str], op: int) -> None:
    reply = client(**config).call_raw(op, b"")
    assert reply == {"error_encoding": "raw_unflagged", "message": f"unknown opcode: {op}"}


# --- schemas: answered before the Raft apply --------------------------------------------------


def test_invalid_schema_is_answered_success_and_not_stored(
    cluster: DirectClient, caplog: pytest.LogCaptureFixture
) -> None:
    assert register(cluster, "s", b'{"type":"object"}') == {"name": "s", "type": "json", "version": 1}
    with caplog.at_level(logging.WARNING, "pyflymq.broker"):
        assert register(cluster, "bad", b"{not json") == {"name": "bad", "type": "json", "version": 1}
    assert any("REGISTER_SCHEMA 'bad'" in r.getMessage() for r in caplog.records)
    missing = get_latest(cluster, "bad")
    assert (missing["error_encoding"], missing["message"]) == (
        "raw_flagged",
        "no schema found for topic: bad",
    )
    assert get_latest(cluster, "s")["version"] == 1


def test_rejected_schema_reports_the_latest_stored_version(cluster: DirectClient) -> None:
    register(cluster, "s", b'{"type":"object","properties":{"a":{"type":"string"}}}')
    register(cluster, "s", b'{"type":"object","properties":{"a":{"type":"string"}},"required":["a"]}')
    invalid = register(cluster, "s", b"[1]")  # not a JSON object
    incompatible = register(cluster, "s", b'{"type":"object","required":["zzz"]}')
    assert invalid["version"] == incompatible["version"] == 2
    assert [s["version"] for s in cluster.call(OpCode.LIST_SCHEMAS, topic="s")["schemas"]] == [1, 2]


def test_unsupported_schema_type_is_refused_before_the_proposal(cluster: DirectClient) -> None:
    reply = register(cluster, "s", b"{}", type_="xml")
    assert (reply["error_encoding"], reply["message"]) == ("raw_flagged", "unsupported schema type: xml")


def test_deleting_a_missing_schema_answers_ok(cluster: DirectClient) -> None:
    ok = {"success": True, "message": "OK"}
    assert cluster.call(OpCode.DELETE_SCHEMA, topic="ghost", version=1) == ok
    register(cluster, "s", b'{"type":"object"}')
    assert cluster.call(OpCode.DELETE_SCHEMA, topic="s", version=1) == ok
    assert get_latest(cluster, "s")["message"] == "no schema found for topic: s"


def test_standalone_schema_errors_are_unchanged(standalone: DirectClient) -> None:
    invalid = register(standalone, "bad", b"{not json")
    assert invalid["error_encoding"] == "raw_flagged"
    assert invalid["message"].startswith("failed to register schema: invalid schema definition: ")
    missing = standalone.call(OpCode.DELETE_SCHEMA, topic="ghost", version=1)
    assert (missing["error_encoding"], missing["message"]) == (
        "raw_flagged",
        "failed to delete schema: schema not found: ghost v1",
    )
