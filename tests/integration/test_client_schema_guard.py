"""produce_with_schema validates locally before sending; objects and key rotation through the client."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from pyflymq import FlyMQClient
from pyflymq_core.errors import (
    DecryptionError,
    SchemaNotFoundError,
    SchemaValidationError,
    TopicNotFoundError,
)
from pyflymq_serde.crypto import generate_key

SCHEMA = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
    "required": ["name"],
}


def _count(client: FlyMQClient, topic: str) -> int:
    try:
        return len(client.fetch(topic, 0, 0, max_messages=100).messages)
    except TopicNotFoundError:  # never created: nothing was written
        return 0


def test_invalid_record_is_refused_before_anything_is_sent(
    flymq_client: FlyMQClient, unique_topic: Callable[..., str]
) -> None:
    name, topic = unique_topic("schema"), unique_topic("users")
    flymq_client.register_schema(name, "json", json.dumps(SCHEMA))
    with pytest.raises(SchemaValidationError) as exc:
        flymq_client.produce_with_schema(topic, json.dumps({"age": "old"}).encode(), name)
    assert exc.value.errors  # each violation is listed
    assert _count(flymq_client, topic) == 0
    meta = flymq_client.produce_with_schema(topic, json.dumps({"name": "Alice", "age": 30}).encode(), name)
    assert flymq_client.consume(topic, meta.offset).decode() == '{"name": "Alice", "age": 30}'


def test_a_new_schema_version_registered_by_this_client_is_used_at_once(
    flymq_client: FlyMQClient, unique_topic: Callable[..., str]
) -> None:
    name, topic = unique_topic("schema"), unique_topic("users")
    flymq_client.register_schema(name, "json", json.dumps({"type": "object"}))
    flymq_client.produce_with_schema(topic, b'{"x": 1}', name)
    stricter = {**SCHEMA, "required": []}
    stricter["properties"] = {"x": {"type": "string"}}
    flymq_client.register_schema(name, "json", json.dumps(stricter))
    with pytest.raises(SchemaValidationError):
        flymq_client.produce_with_schema(topic, b'{"x": 1}', name)


def test_unknown_schema_names_are_refused_unless_validation_is_off(
    flymq_client: FlyMQClient, unique_topic: Callable[..., str]
) -> None:
    name, topic = unique_topic("missing"), unique_topic("t")
    with pytest.raises(SchemaNotFoundError, match="not registered"):
        flymq_client.produce_with_schema(topic, b"{}", name)
    # The server itself accepts any record under an unknown name.
    flymq_client.produce_with_schema(topic, b"{}", name, validate=False)


def test_objects_round_trip_through_codecs(
    flymq_client: FlyMQClient, unique_topic: Callable[..., str]
) -> None:
    topic = unique_topic("objects")
    meta = flymq_client.produce_object(topic, {"id": 1, "tags": ["a"]})
    assert flymq_client.consume_object(topic, meta.offset) == {"id": 1, "tags": ["a"]}
    meta = flymq_client.produce_object(topic, "héllo", serializer="string")
    assert flymq_client.consume_object(topic, meta.offset, deserializer="string") == "héllo"


def test_rotated_keys_still_decrypt_old_records(
    flymq_bootstrap: str, flymq_client_kwargs: dict[str, Any], unique_topic: Callable[..., str]
) -> None:
    topic = unique_topic("rotation")
    old, new = generate_key(), generate_key()
    with FlyMQClient(
        flymq_bootstrap, encryption_enabled=True, encryption_key=old, **flymq_client_kwargs
    ) as c:
        first = c.produce(topic, b"written with the old key")
    with FlyMQClient(
        flymq_bootstrap,
        encryption_enabled=True,
        encryption_key=new,
        encryption_old_keys=[old],
        **flymq_client_kwargs,
    ) as c:
        second = c.produce(topic, b"written with the new key")
        assert c.consume(topic, first.offset).value == b"written with the old key"
        assert c.consume(topic, second.offset).value == b"written with the new key"
    with (
        FlyMQClient(flymq_bootstrap, encryption_enabled=True, encryption_key=new, **flymq_client_kwargs) as c,
        pytest.raises(DecryptionError),
    ):
        c.consume(topic, first.offset)


def test_a_refusal_by_a_cached_schema_is_checked_against_the_latest_version(
    flymq_client: Any,
    flymq_client_kwargs: dict[str, Any],
    flymq_bootstrap: str,
    unique_topic: Callable[..., str],
) -> None:
    # Client A caches v1; client B registers a compatible v2 with a new optional field. A record
    # using that field must not be refused by A's 30-second-old copy.
    name, topic = unique_topic("evolving"), unique_topic("evolving-topic")
    v1 = {"type": "object", "properties": {"id": {"type": "integer"}}, "additionalProperties": False}
    v2 = {
        "type": "object",
        "properties": {"id": {"type": "integer"}, "note": {"type": "string"}},
        "additionalProperties": False,
    }
    flymq_client.register_schema(name, "json", json.dumps(v1))
    flymq_client.create_topic(topic, partitions=1)
    flymq_client.produce_with_schema(topic, b'{"id": 1}', name)  # caches v1
    with FlyMQClient(flymq_bootstrap, **flymq_client_kwargs) as other:
        other.register_schema(name, "json", json.dumps(v2))
    meta = flymq_client.produce_with_schema(topic, b'{"id": 2, "note": "new in v2"}', name)
    assert meta.topic == topic
