"""Codecs, registry schemas and encryption against a server (the embedded broker by default, or a
real FlyMQ with --flymq-bootstrap), through the pytest plugin's fixtures."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from pyflymq_core.errors import DecryptionError, SchemaValidationError
from pyflymq_serde import codec_from_schema, resolve_codec, validate_locally, value_transform_from_options
from pyflymq_serde.crypto import Encryptor, generate_key
from tests.unit.test_serde_codecs import USER_AVRO_SCHEMA, USER_JSON_SCHEMA, User, make_proto_classes


def _round_trip(client: Any, topic: str, codec: Any, value: Any) -> Any:
    meta = client.produce(topic, codec.serialize(value))
    return codec.deserialize(client.consume(topic, meta.offset, meta.partition).value)


@pytest.mark.parametrize(
    ("codec", "value"),
    [
        ("bytes", b"\x00\x01raw\xff"),
        ("string", "héllo ✓"),
        ("json", {"a": [1, 2.5, None], "b": "é"}),
        (User, User(id=1, name="Ann", tags=["x"])),
    ],
    ids=["bytes", "string", "json", "pydantic"],
)
def test_codec_values_survive_the_server(
    flymq_client: Any, unique_topic: Callable[..., str], codec: Any, value: Any
) -> None:
    assert _round_trip(flymq_client, unique_topic("serde"), resolve_codec(codec), value) == value


def test_avro_and_protobuf_values_survive_the_server(
    flymq_client: Any, unique_topic: Callable[..., str]
) -> None:
    avro = resolve_codec("avro", schema=USER_AVRO_SCHEMA)
    assert _round_trip(flymq_client, unique_topic("avro"), avro, {"id": 9, "name": "x"}) == {
        "id": 9,
        "name": "x",
    }
    user_cls = make_proto_classes()["User"]
    message = user_cls(id=5, name="p", tags=["a", "b"])
    assert _round_trip(flymq_client, unique_topic("proto"), resolve_codec(user_cls), message) == message


# --------------------------------------------------------------------------- registry schemas


def test_json_schema_codec_from_the_registry(flymq_client: Any, unique_topic: Callable[..., str]) -> None:
    name, topic = unique_topic("schema"), unique_topic("users")
    flymq_client.register_schema(name, "json", json.dumps(USER_JSON_SCHEMA))
    codec = codec_from_schema(flymq_client.get_schema(name), model=User)
    data = codec.serialize(User(id=3, name="Eve"))
    meta = flymq_client.produce_with_schema(topic, data, name)
    got = flymq_client.fetch(topic, partition=0, offset=0, max_messages=10)
    assert [codec.deserialize(m.value) for m in got.messages] == [User(id=3, name="Eve")]
    assert meta.offset == 0


def test_local_and_server_verdicts_agree(flymq_client: Any, unique_topic: Callable[..., str]) -> None:
    json_name, avro_name = unique_topic("json"), unique_topic("avro")
    flymq_client.register_schema(json_name, "json", json.dumps(USER_JSON_SCHEMA))
    flymq_client.register_schema(avro_name, "avro", json.dumps(USER_AVRO_SCHEMA))
    avro_ok = resolve_codec("avro", schema=USER_AVRO_SCHEMA).serialize({"id": 42, "name": "bob"})
    cases = [
        (json_name, "json", USER_JSON_SCHEMA, b'{"id": 1, "name": "a"}'),
        (json_name, "json", USER_JSON_SCHEMA, b'{"id": 1}'),
        (json_name, "json", USER_JSON_SCHEMA, b'{"id": "x", "name": 5}'),
        (json_name, "json", USER_JSON_SCHEMA, b"not json"),
        (avro_name, "avro", USER_AVRO_SCHEMA, avro_ok),
        (avro_name, "avro", USER_AVRO_SCHEMA, avro_ok[:-1]),
        (avro_name, "avro", USER_AVRO_SCHEMA, b""),
    ]
    for name, kind, schema, message in cases:
        server = flymq_client.validate_schema(name, message)
        local = validate_locally(kind, json.dumps(schema), message)
        assert bool(server.valid) == (local == []), (message, server, local)


def test_produce_with_schema_refuses_invalid_data(
    flymq_client: Any, unique_topic: Callable[..., str]
) -> None:
    name = unique_topic("schema")
    flymq_client.register_schema(name, "json", json.dumps(USER_JSON_SCHEMA))
    with pytest.raises(SchemaValidationError) as info:
        flymq_client.produce_with_schema(unique_topic("t"), b'{"id": 1}', name)
    assert any("missing required field: name" in e for e in info.value.errors)


# --------------------------------------------------------------------------- encryption


def test_encrypted_values_through_the_transform_seam(
    flymq_client: Any, unique_topic: Callable[..., str]
) -> None:
    key = generate_key()
    topic = unique_topic("enc")
    transform = value_transform_from_options(encryption_enabled=True, encryption_key=key)
    meta = flymq_client.produce(topic, transform.encode(topic, b"card=4111"))
    stored = flymq_client.consume(topic, meta.offset, meta.partition)
    assert b"card" not in stored.value  # the server only ever sees ciphertext
    reference = AESGCM(bytes.fromhex(key))
    assert reference.decrypt(stored.value[:12], stored.value[12:], None) == b"card=4111"
    assert transform.decode(topic, stored.partition, stored.offset, stored.value) == b"card=4111"
    other = value_transform_from_options(encryption_enabled=True, encryption_key=generate_key())
    with pytest.raises(DecryptionError) as info:
        other.decode(topic, stored.partition, stored.offset, stored.value)
    assert (info.value.topic, info.value.partition, info.value.offset) == (topic, meta.partition, meta.offset)


@pytest.fixture
def encrypted_client_factory(flymq_bootstrap: str, flymq_options: Any) -> Iterator[Callable[..., Any]]:
    from pyflymq import FlyMQClient

    clients: list[Any] = []

    def make(key: str, **options: Any) -> Any:
        client = FlyMQClient(
            flymq_bootstrap,
            encryption_enabled=True,
            encryption_key=key,
            **options,
            **flymq_options.client_kwargs(),
        )
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


def test_client_config_encrypts_every_produce_and_decrypts_every_read(
    flymq_client: Any, unique_topic: Callable[..., str], encrypted_client_factory: Callable[..., Any]
) -> None:
    key = generate_key()
    topic = unique_topic("enc")
    client = encrypted_client_factory(key)
    first = client.produce(topic, b"plain-1", key="k")
    client.produce_with_ttl(topic, b"plain-2", ttl_ms=60_000)
    client.produce_delayed(topic, b"plain-3", delay_ms=0)
    # what the server stores is ciphertext in FlyMQ's format, readable by any SDK with the key
    raw = flymq_client.fetch(topic, partition=first.partition, offset=0, max_messages=10).messages
    assert raw and all(b"plain" not in m.value for m in raw)
    assert Encryptor.from_hex_key(key).decrypt(raw[0].value) == b"plain-1"
    assert raw[0].key == b"k"  # keys are not encrypted
    # the encrypting client reads plaintext back through consume and fetch
    assert client.consume(topic, first.offset, first.partition).value == b"plain-1"
    values = {
        m.value for m in client.fetch(topic, partition=first.partition, offset=0, max_messages=10).messages
    }
    assert b"plain-1" in values


def test_wrong_key_names_topic_partition_and_offset(
    unique_topic: Callable[..., str], encrypted_client_factory: Callable[..., Any]
) -> None:
    topic = unique_topic("enc")
    meta = encrypted_client_factory(generate_key()).produce(topic, b"secret")
    intruder = encrypted_client_factory(generate_key())
    with pytest.raises(DecryptionError) as info:
        intruder.consume(topic, meta.offset, meta.partition)
    assert (info.value.topic, info.value.partition, info.value.offset) == (topic, meta.partition, meta.offset)


def test_plaintext_records_are_not_returned_as_garbage(
    flymq_client: Any, unique_topic: Callable[..., str], encrypted_client_factory: Callable[..., Any]
) -> None:
    topic = unique_topic("enc")
    meta = flymq_client.produce(topic, b"this record was never encrypted")
    with pytest.raises(DecryptionError):
        encrypted_client_factory(generate_key()).consume(topic, meta.offset, meta.partition)
