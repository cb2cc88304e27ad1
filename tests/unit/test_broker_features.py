"""Schemas, DLQ, delayed delivery and transactions, with a controlled clock."""

from __future__ import annotations

import json
from typing import Any

import pytest

from pyflymq_broker import Broker, BrokerConfig
from pyflymq_broker.direct import DirectClient
from pyflymq_broker.dlq import DLQRecord, decode_dlq_record, encode_dlq_record
from pyflymq_core.protocol import OpCode


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


def make(clock: Clock, **config: Any) -> DirectClient:
    return DirectClient(Broker(BrokerConfig(**config), clock=clock))


def values(client: DirectClient, topic: str) -> list[bytes]:
    reply = client.call(OpCode.FETCH, topic=topic, partition=0, offset=0, max_messages=100)
    return [m["value"] for m in reply.get("messages", [])]


def register(client: DirectClient, name: str, type_: str, definition: Any) -> dict[str, Any]:
    text = definition if isinstance(definition, str) else json.dumps(definition)
    return client.call(OpCode.REGISTER_SCHEMA, name=name, type=type_, schema=text.encode())


def validate(client: DirectClient, name: str, message: bytes) -> list[str]:
    reply = client.call(OpCode.VALIDATE_SCHEMA, name=name, message=message)
    assert reply["valid"] == (not reply["errors"])
    return list(reply["errors"])


# --- schemas ----------------------------------------------------------------------------------

ORDER = {
    "type": "object",
    "required": ["id", "customer"],
    "additionalProperties": False,
    "properties": {
        "id": {"type": "integer"},
        "total": {"type": "number"},
        "customer": {"type": "object", "required": ["name"], "properties": {"name": {"type": "string"}}},
    },
}


def test_json_validation_rules(clock: Clock) -> None:
    client = make(clock)
    assert register(client, "order", "json", ORDER)["version"] == 1
    assert validate(client, "order", b'{"id": 1.0, "total": 3, "customer": {"name": "x"}}') == []
    assert validate(client, "order", b'{"id": 1, "customer": {}}') == [
        "missing required field: customer.name"
    ]
    assert sorted(validate(client, "order", b'{"id": "1", "customer": {"name": 2}, "x": 1}')) == [
        "type mismatch at customer.name: expected string, got integer",
        "type mismatch at id: expected integer, got string",
        "unexpected field: x",
    ]
    assert validate(client, "order", b"null") == [
        "missing required field: id",
        "missing required field: customer",
    ]
    assert validate(client, "order", b"[1]") == [
        "invalid JSON message: json: cannot unmarshal array into Go value of type map[string]interface {}"
    ]
    # additionalProperties is only enforced at the top level
    assert validate(client, "order", b'{"id": 1, "customer": {"name": "n", "extra": true}}') == []


def test_backward_compatibility_and_versions(clock: Clock) -> None:
    client = make(clock)
    register(client, "s", "json", {"properties": {"a": {}}, "required": ["a"]})
    reply = register(client, "s", "json", {"required": ["a", "b"]})
    assert reply["message"] == (
        "failed to register schema: schema compatibility check failed: "
        "new required field 'b' not in old schema"
    )
    assert register(client, "s", "avro", "not json at all")["message"] == (
        "failed to register schema: schema compatibility check failed: "
        "invalid character 'o' in literal null (expecting 'u')"
    )
    assert register(client, "s", "json", {"properties": {}})["version"] == 2
    # the previous version is now 2 (no properties): any new required field is refused
    assert "not in old schema" in register(client, "s", "json", {"required": ["a"]})["message"]


def test_proto_is_stored_as_protobuf_and_echoed_as_sent(clock: Clock) -> None:
    client = make(clock)
    assert register(client, "p", "proto", "message M {}") == {"name": "p", "type": "proto", "version": 1}
    got = client.call(OpCode.GET_SCHEMA, topic="p", version=0)
    assert (got["type"], got["id"], got["definition"]) == ("protobuf", "p-v1", "message M {}")
    assert validate(client, "p", b"\x08\x01") == []
    assert validate(client, "p", b"") == ["empty message"]
    assert validate(client, "p", b"\x0e") == [
        "invalid Protobuf wire format: unknown wire type 6 at position 1"
    ]


def test_produce_with_schema_validates_only_when_enabled(clock: Clock) -> None:
    for enabled in (True, False):
        client = make(clock, schema_enabled=enabled)
        register(client, "o", "json", ORDER)
        reply = client.call(OpCode.PRODUCE_WITH_SCHEMA, topic="t", schema_name="o", data=b"{}")
        if enabled:
            assert reply == {
                "error_encoding": "raw_flagged",
                "message": "schema validation failed: "
                "[missing required field: id missing required field: customer]",
            }
        else:
            assert reply["offset"] == 0 and reply["key_size"] == -1


def test_deleting_the_latest_version_leaves_no_latest(clock: Clock) -> None:
    client = make(clock)
    register(client, "d", "json", {})
    register(client, "d", "json", {})
    assert client.call(OpCode.DELETE_SCHEMA, topic="d", version=2) == {"success": True, "message": "OK"}
    # the real server keeps a dangling latest pointer here (and crashes on it)
    assert client.call(OpCode.GET_SCHEMA, topic="d", version=0)["message"] == "no schema found for topic: d"
    assert validate(client, "d", b"garbage") == []
    assert register(client, "d", "json", {"required": ["zz"]})["version"] == 3
    assert client.call(OpCode.DELETE_SCHEMA, topic="d", version=0)["message"] == (
        "failed to delete schema: schema not found: d v0"
    )


def test_avro_cache_is_keyed_by_id_like_the_server(clock: Clock) -> None:
    client = make(clock)
    register(client, "a", "avro", '"long"')
    assert validate(client, "a", b"\x02") == []
    client.call(OpCode.DELETE_SCHEMA, topic="a", version=1)
    register(client, "a", "avro", '{"type": "fixed", "name": "F", "size": 4}')
    # same id "a-v1": the cached "long" schema is used again, as on the server
    assert validate(client, "a", b"\x02") == []


# --- DLQ --------------------------------------------------------------------------------------


def dlq_record(**overrides: Any) -> bytes:
    fields: dict[str, Any] = {
        "id": "m1",
        "original_topic": "orders",
        "original_offset": 7,
        "payload": b"body",
        "reason": "max_retries_exceeded",
        "error_message": "boom",
        "retry_count": 3,
        "first_failed_at": "2026-01-01T00:00:00Z",
        "last_failed_at": "2026-01-01T00:00:05Z",
    }
    fields.update(overrides)
    return encode_dlq_record(**fields)


def test_dlq_record_decoding_follows_go_struct_rules() -> None:
    assert decode_dlq_record(dlq_record()) == DLQRecord(
        "m1", "orders", 7, b"body", "max_retries_exceeded", "boom", 3
    )
    assert decode_dlq_record(b"null") == DLQRecord()
    assert decode_dlq_record(b'{"ID": "x", "Retry_Count": 2, "extra": [1]}') == DLQRecord(
        id="x", retry_count=2
    )
    for bad in (
        b'{"retry_count": 1.5}',
        b'{"retry_count": "1"}',
        b'{"original_offset": -1}',
        b'{"payload": "###"}',
        b'{"first_failed_at": "yesterday"}',
        b'{"id": 5}',
        b"[1]",
        b"garbage",
    ):
        assert decode_dlq_record(bad) is None, bad


def test_dlq_fetch_replay_purge(clock: Clock) -> None:
    client = make(clock)
    for record in (dlq_record(), b"junk", dlq_record(id="m2", original_topic="other", payload=b"two")):
        client.call(OpCode.PRODUCE, topic="orders.dlq", key=b"", value=record, partition=-1)
    fetched = client.call(OpCode.FETCH_DLQ, topic="orders", max_messages=2)["messages"]
    assert [m["id"] for m in fetched] == ["m1"]  # max_messages counts raw records, junk included
    assert client.call(OpCode.REPLAY_DLQ, topic="orders", message_id="m2") == {
        "success": True,
        "message": "OK",
    }
    assert values(client, "other") == [b"two"]
    assert client.call(OpCode.FETCH_DLQ, topic="orders", max_messages=-1) == {"messages": []}
    assert client.call(OpCode.PURGE_DLQ, topic="orders") == {"success": True, "message": "OK"}
    assert client.call(OpCode.FETCH_DLQ, topic="orders", max_messages=10) == {"messages": []}


def test_dlq_suffix_is_configurable(clock: Clock) -> None:
    client = make(clock, dlq_topic_suffix="-dead")
    client.call(OpCode.PRODUCE, topic="q-dead", key=b"", value=dlq_record(), partition=-1)
    assert len(client.call(OpCode.FETCH_DLQ, topic="q", max_messages=5)["messages"]) == 1


# --- delayed ----------------------------------------------------------------------------------


def test_delayed_messages_wait_for_the_clock(clock: Clock) -> None:
    client = make(clock)
    broker = client.broker
    reply = client.call(OpCode.PRODUCE_DELAYED, topic="d", data=b"later", delay_ms=1500)
    assert (reply["offset"], reply["partition"], reply["key_size"]) == (0, 0, -1)
    assert broker.next_deadline() == pytest.approx(clock.now + 1.5)
    assert client.call(OpCode.CONSUME, topic="d", partition=0, offset=0)["message"] == "topic not found"
    clock.now += 1.499
    broker.tick()
    assert "d" not in broker.topics
    clock.now += 0.002
    broker.tick()
    assert values(client, "d") == [b"later"]
    client.call(OpCode.PRODUCE_DELAYED, topic="d", data=b"now", delay_ms=-5)
    assert values(client, "d") == [b"later", b"now"]  # due at once: written before the reply
    assert broker.next_deadline() is None


def test_delay_limit_uses_go_durations(clock: Clock) -> None:
    client = make(clock, delayed_max_delay=60)
    assert client.call(OpCode.PRODUCE_DELAYED, topic="d", data=b"x", delay_ms=60_500)["message"] == (
        "delay 1m0.5s exceeds maximum allowed delay 1m0s"
    )


def test_features_off_write_immediately(clock: Clock) -> None:
    client = make(clock, **BrokerConfig.upstream_feature_defaults())
    assert client.call(OpCode.PRODUCE_DELAYED, topic="d", data=b"x", delay_ms=10_000)["offset"] == 0
    begin = client.call(OpCode.BEGIN_TX)
    assert begin["txn_id"].startswith("txn-") and not begin["txn_id"].startswith("txn-producer-")
    assert client.call(OpCode.PRODUCE_TX, txn_id="any", topic="d", data=b"y")["offset"] == 1
    assert client.call(OpCode.ABORT_TX, txn_id="any") == {"txn_id": "any", "success": True}
    assert values(client, "d") == [b"x", b"y"]


# --- transactions -----------------------------------------------------------------------------


def test_transactions_expire_after_the_timeout(clock: Clock) -> None:
    client = make(clock, transaction_timeout=60)
    txn = client.call(OpCode.BEGIN_TX)["txn_id"]
    assert txn.startswith("txn-producer-")
    client.call(OpCode.PRODUCE_TX, txn_id=txn, topic="t", data=b"a")
    clock.now += 60.001
    assert client.call(OpCode.PRODUCE_TX, txn_id=txn, topic="t", data=b"b")["message"] == (
        "transaction is not active: aborted"
    )
    assert client.call(OpCode.COMMIT_TX, txn_id=txn) == {"txn_id": txn, "success": False}
    assert client.call(OpCode.ABORT_TX, txn_id=txn) == {"txn_id": txn, "success": True}
    assert values(client, "t") == []


def test_commit_writes_round_robin_and_ids_are_unique(clock: Clock) -> None:
    client = make(clock)
    client.call(OpCode.CREATE_TOPIC, topic="t", partitions=2)
    ids = {client.call(OpCode.BEGIN_TX)["txn_id"] for _ in range(5)}
    assert len(ids) == 5  # the clock did not move: ids still differ
    txn = sorted(ids)[0]
    for data in (b"a", b"b", b"c"):
        client.call(OpCode.PRODUCE_TX, txn_id=txn, topic="t", data=data)
    assert client.call(OpCode.COMMIT_TX, txn_id=txn)["success"] is True
    p1 = client.call(OpCode.FETCH, topic="t", partition=1, offset=0, max_messages=10)["messages"]
    assert values(client, "t") == [b"a", b"c"] and [m["value"] for m in p1] == [b"b"]
