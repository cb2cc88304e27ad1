"""Result models: seed accessors, and the unvalidated fast construction used on hot paths."""

from __future__ import annotations

import pickle

import pytest
from pydantic import ValidationError

from pyflymq_core.models import (
    DESERIALIZED,
    DESERIALIZED_KEY,
    AclInfo,
    AclList,
    ClusterMetadata,
    ConsumedMessage,
    DLQMessage,
    FetchResult,
    PartitionMetadata,
    RecordMetadata,
    TopicMetadata,
    ValidationResult,
    fast_model,
    fast_models,
    fields_set,
)


def _message(**overrides: object) -> ConsumedMessage:
    fields: dict[str, object] = {
        "topic": "orders",
        "partition": 0,
        "offset": 7,
        "key": b"user-123",
        "value": b'{"id": 1}',
    }
    fields.update(overrides)
    return ConsumedMessage(**fields)  # type: ignore[arg-type]


def test_consumed_message_accessors() -> None:
    msg = _message()
    assert msg.decode() == '{"id": 1}'
    assert msg.decode_key() == "user-123"
    assert msg.data == msg.value  # the Rx seed filters on m.data
    assert msg.offset == 7 and msg.partition == 0 and msg.topic == "orders"


def test_keyless_message_decodes_key_to_none() -> None:
    msg = _message(key=None)
    assert msg.key is None and msg.decode_key() is None


def test_decode_with_encoding_and_errors() -> None:
    msg = _message(value="é".encode("latin-1"), key="ü".encode("latin-1"))
    assert msg.decode("latin-1") == "é" and msg.decode_key("latin-1") == "ü"
    assert msg.decode(errors="replace") == "\ufffd"
    with pytest.raises(UnicodeDecodeError):
        msg.decode()


def test_fast_model_equals_validated_model() -> None:
    fields = {"topic": "t", "partition": 1, "offset": 2, "key": None, "value": b"v"}
    fast = fast_model(ConsumedMessage)(dict(fields))
    slow = ConsumedMessage(**fields)  # type: ignore[arg-type]
    assert fast == slow
    assert repr(fast) == repr(slow)
    assert fast.model_dump() == slow.model_dump()
    assert fast.model_fields_set == slow.model_fields_set
    assert hash(fast) == hash(slow)
    assert pickle.loads(pickle.dumps(fast)) == slow
    assert fast.model_copy(update={"offset": 3}).offset == 3


def test_fast_models_equal_one_by_one_construction() -> None:
    dicts = [
        {"topic": "t", "partition": 1, "offset": i, "key": None if i % 2 else b"k", "value": b"v" * i}
        for i in range(5)
    ]
    built = fast_models(ConsumedMessage, [dict(d) for d in dicts], fields_set(ConsumedMessage))
    assert built == [ConsumedMessage(**d) for d in dicts]  # type: ignore[arg-type]
    assert [m.model_dump() for m in built] == dicts
    assert all(m.model_fields_set == set(ConsumedMessage.model_fields) for m in built)
    assert fast_models(ConsumedMessage, [], fields_set(ConsumedMessage)) == []


def test_fast_record_metadata_is_frozen() -> None:
    meta = fast_model(RecordMetadata)(
        {"topic": "t", "partition": 0, "offset": 5, "timestamp": 1, "key_size": -1, "value_size": 3}
    )
    with pytest.raises(ValidationError):
        meta.offset = 6
    assert meta == RecordMetadata(topic="t", partition=0, offset=5, timestamp=1, key_size=-1, value_size=3)


def test_user_construction_validates() -> None:
    with pytest.raises(ValidationError):
        ConsumedMessage(topic="t", partition="zero", offset=0, value=b"")  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        RecordMetadata(topic="t", partition=0, offset=0, timestamp=0, unknown=1)  # type: ignore[call-arg]


def test_fetch_result_is_iterable_and_sized() -> None:
    messages = [_message(offset=i) for i in range(3)]
    result = FetchResult(topic="orders", partition=0, messages=messages, next_offset=3)
    assert len(result) == 3
    assert [m.offset for m in result] == [0, 1, 2]
    assert result[1].offset == 1
    assert [m.offset for m in result.messages] == [0, 1, 2]


def test_dlq_message_decode() -> None:
    msg = DLQMessage(id="m1", data=b"payload", error="boom", retries=2)
    assert msg.decode() == "payload"


def test_validation_result_truthiness() -> None:
    assert ValidationResult(valid=True)
    assert not ValidationResult(valid=False, errors=["missing required field: name"])


def test_cluster_metadata_helpers() -> None:
    partition = PartitionMetadata(
        partition=0, leader_id="n1", leader_addr=":9092", epoch=1, state="online", replicas=["n1"], isr=["n1"]
    )
    meta = ClusterMetadata(cluster_id="standalone", topics=[TopicMetadata(topic="a", partitions=[partition])])
    assert meta.standalone
    found = meta.topic("a")
    assert found is not None and found.partition_count == 1
    assert meta.topic("b") is None


def test_acl_list_iterates_entries() -> None:
    acl = AclInfo(topic="t", exists=True, public=False, allowed_users=["bob"], allowed_roles=[])
    listing = AclList(acls=[acl], default_public=True)
    assert list(listing) == [acl] and len(listing) == 1


def test_fetched_messages_read_like_validated_ones() -> None:
    from pyflymq_core.client import calls
    from pyflymq_core.protocol import Frame, encode_response

    frame = Frame(
        *encode_response(
            0x07,
            {"message_count": 1, "next_offset": 1, "messages": [{"offset": 0, "key": b"k", "value": b"v"}]},
        )
    )
    fetched = calls.complete(calls.fetch("t", 0, 0, 10), frame).messages[0]
    validated = ConsumedMessage(topic="t", partition=0, offset=0, key=b"k", value=b"v")
    assert fetched == validated and repr(fetched) == repr(validated)
    assert fetched.model_dump() == validated.model_dump()
    copy = fetched.model_copy(update={"offset": 9})
    assert copy.offset == 9 and fetched.offset == 0 and fetched.model_fields_set == validated.model_fields_set


def test_deserialized_views_default_to_none_and_stay_out_of_equality_and_dumps() -> None:
    plain = _message()
    assert plain.deserialized is None and plain.deserialized_key is None
    decoded = _message()
    decoded.__dict__[DESERIALIZED] = {"id": 1}  # what a consumer with deserializer= stores
    decoded.__dict__[DESERIALIZED_KEY] = "user-123"
    assert decoded.deserialized == {"id": 1} and decoded.deserialized_key == "user-123"
    assert decoded == plain and hash(decoded) == hash(plain)  # the record is the same record
    assert decoded.model_dump() == plain.model_dump()
    assert "deserialized={'id': 1}" in repr(decoded) and "deserialized" not in repr(plain)
    copied = pickle.loads(pickle.dumps(decoded))
    assert copied.deserialized == {"id": 1} and copied.deserialized_key == "user-123"
    assert decoded.model_copy().deserialized == {"id": 1}
    with pytest.raises(ValidationError):
        ConsumedMessage(topic="t", partition=0, offset=0, value=b"v", deserialized=1)  # type: ignore[call-arg]
