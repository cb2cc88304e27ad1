"""The per-record pipeline of the consumers: decryption, ``deserializer=`` / ``key_deserializer=``,
and stopping at the first record that cannot be handled (no server needed)."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel

from pyflymq_core.consumer.assignment import TopicPartition
from pyflymq_core.consumer.buffer import PartitionBuffer, first_failure
from pyflymq_core.consumer.records import FailedRecord, build_pipeline, resolve_deserializer
from pyflymq_core.errors import ConfigurationError, DecryptionError, SerializationError
from pyflymq_core.models import ConsumedMessage


def _messages(*values: bytes, key: bytes | None = None) -> list[ConsumedMessage]:
    return [
        ConsumedMessage(topic="orders", partition=1, offset=10 + i, key=key, value=value)
        for i, value in enumerate(values)
    ]


class Order(BaseModel):
    id: int


def test_no_pipeline_without_per_record_work() -> None:
    assert build_pipeline(None) is None
    assert build_pipeline(None, None, None) is None
    assert resolve_deserializer(None) is None


def test_codecs_resolve_like_consume_object_and_unknown_names_fail_early() -> None:
    assert resolve_deserializer("json").deserialize(b'{"a": 1}') == {"a": 1}
    assert resolve_deserializer(Order).deserialize(b'{"id": 3}') == Order(id=3)
    with pytest.raises(ConfigurationError):
        build_pipeline(None, "no-such-codec")


def test_values_and_keys_are_deserialized_next_to_the_raw_bytes() -> None:
    pipeline = build_pipeline(None, Order, "string")
    assert pipeline is not None
    messages = _messages(b'{"id": 1}', b'{"id": 2}', key=b"user-7")
    handled, failed = pipeline.apply(messages)
    assert failed is None and handled is messages
    assert [m.deserialized for m in handled] == [Order(id=1), Order(id=2)]
    assert {m.deserialized_key for m in handled} == {"user-7"}
    assert handled[0].value == b'{"id": 1}' and handled[0].key == b"user-7"  # raw bytes stay
    keyless = pipeline.apply(_messages(b'{"id": 1}'))[0][0]
    assert keyless.deserialized_key is None


def test_the_first_bad_record_stops_the_batch_with_a_located_error() -> None:
    pipeline = build_pipeline(None, "json")
    assert pipeline is not None
    handled, failed = pipeline.apply(_messages(b"[1]", b"{not json", b"[3]"))
    assert [m.deserialized for m in handled] == [[1]]
    assert isinstance(failed, FailedRecord) and failed.message.offset == 11
    error = failed.error
    assert isinstance(error, SerializationError)
    assert (error.topic, error.partition, error.offset) == ("orders", 1, 11)
    assert error.direction == "deserialize" and error.codec == "json"
    assert isinstance(error.__cause__, SerializationError)  # the codec's own error
    # ... whose text is quoted once, without repeating its type name
    assert str(error).startswith("cannot deserialize the value of orders[1]@11 with the 'json' codec: ")
    assert str(error.__cause__) in str(error) and "SerializationError" not in str(error)
    assert error.hint is not None and "seek(1, 12)" in error.hint


def test_a_bad_key_names_the_key_codec() -> None:
    def fail(data: bytes) -> Any:
        raise ValueError("nope")

    class KeyCodec:
        name = "strict-key"
        deserialize = staticmethod(fail)

        def serialize(self, obj: Any) -> bytes:
            return b""

    pipeline = build_pipeline(None, None, KeyCodec())
    assert pipeline is not None
    _, failed = pipeline.apply(_messages(b"v", key=b"k"))
    assert failed is not None and isinstance(failed.error, SerializationError)
    assert failed.error.codec == "strict-key" and "the key of orders[1]@10" in str(failed.error)
    assert str(failed.error).endswith("codec: ValueError: nope")  # a foreign error keeps its type name


def test_decryption_runs_first_and_its_failure_keeps_the_stored_bytes() -> None:
    def decrypt(topic: str, partition: int, offset: int, value: bytes) -> bytes:
        if value.startswith(b"bad"):
            raise DecryptionError("cannot decrypt", topic=topic, partition=partition, offset=offset)
        return value[::-1]

    pipeline = build_pipeline(decrypt, "string")
    assert pipeline is not None
    handled, failed = pipeline.apply(_messages(b"cba", b"bad-cipher"))
    assert [(m.value, m.deserialized) for m in handled] == [(b"abc", "abc")]
    assert failed is not None and isinstance(failed.error, DecryptionError)
    assert failed.message.value == b"bad-cipher"


def test_a_failed_record_is_raised_only_after_the_records_before_it_and_a_seek_clears_it() -> None:
    state = PartitionBuffer(TopicPartition("orders", 1), 10, None, fetch_size=100)
    good = _messages(b"a")
    bad = _messages(b"x", b"y")[1]
    failure = FailedRecord(bad, SerializationError("bad", topic="orders", partition=1, offset=11))
    assert state.take_in(good, 13, failure, now=0.0) is False  # no prefetch past the failure
    assert state.fetch_offset == 11 and not state.wants_fetch(now=1.0)
    assert first_failure([state]) is None  # the good record first
    state.index = 1  # handed out
    assert first_failure([state]) is failure
    state.paused = True
    assert first_failure([state]) is None
    state.paused = False
    state.reset(12)
    assert state.failed is None and state.wants_fetch(now=1.0)
