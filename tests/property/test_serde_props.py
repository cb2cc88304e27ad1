"""Hypothesis properties of the codecs, the local validators and the encryptor.

- every codec round-trips what it accepts;
- what the codecs write, local validation accepts (so produce_with_schema never refuses our own output);
- validators fed random bytes return a list of errors and never raise;
- the protobuf scan never accepts what the server's scan (modelled from spec §9.4) or the protobuf
  runtime's own parser rejects;
- encryption round-trips, interoperates with the plain `cryptography` reference, and any change to a
  ciphertext is detected.
"""

from __future__ import annotations

import json
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from pyflymq_core.errors import DecryptionError
from pyflymq_serde import validate_locally, value_transform_from_options
from pyflymq_serde.codecs.avro import AvroCodec
from pyflymq_serde.codecs.bytes import BytesCodec
from pyflymq_serde.codecs.json import JsonCodec
from pyflymq_serde.codecs.protobuf import ProtobufCodec
from pyflymq_serde.codecs.string import StringCodec
from pyflymq_serde.crypto import Encryptor, generate_key
from pyflymq_serde.schema.protobuf_check import wire_errors
from tests.unit.test_serde_codecs import make_proto_classes

SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
PROTO = make_proto_classes()

# --------------------------------------------------------------------------- bytes / string / json

text = st.text(st.characters(codec="utf-8"))  # no lone surrogates


@SETTINGS
@given(st.binary())
def test_bytes_codec_identity(data: bytes) -> None:
    codec = BytesCodec()
    assert codec.deserialize(codec.serialize(data)) == data


@SETTINGS
@given(text)
def test_string_codec_round_trip(value: str) -> None:
    codec = StringCodec()
    assert codec.deserialize(codec.serialize(value)) == value


json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | text
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(text, inner, max_size=5),
    max_leaves=30,
)


@SETTINGS
@given(json_values)
def test_json_codec_round_trip(value: Any) -> None:
    codec = JsonCodec()
    assert codec.deserialize(codec.serialize(value)) == value


@SETTINGS
@given(st.dictionaries(text, json_values, max_size=6))
def test_json_objects_we_write_are_valid_for_an_open_registry_schema(value: dict[str, Any]) -> None:
    data = JsonCodec().serialize(value)
    assert validate_locally("json", '{"type": "object"}', data) == []


@SETTINGS
@given(st.binary(max_size=200))
def test_json_validation_of_random_bytes_never_raises(data: bytes) -> None:
    errors = validate_locally("json", '{"type": "object", "required": ["a"]}', data)
    assert isinstance(errors, list) and all(isinstance(e, str) for e in errors)


@SETTINGS
@given(st.integers(min_value=-(10**30), max_value=10**30) | st.floats(allow_nan=False, allow_infinity=False))
def test_json_integer_rule_follows_go_float64(number: int | float) -> None:
    schema = '{"type": "object", "properties": {"n": {"type": "integer"}}}'
    errors = validate_locally("json", schema, json.dumps({"n": number}).encode())
    as_float = float(number)
    go_integer = as_float.is_integer() and -(2.0**63) <= as_float < 2.0**63
    assert (errors == []) == go_integer


class Person(BaseModel):
    name: str
    age: int
    emails: list[str]
    score: float | None = None


@SETTINGS
@given(
    st.builds(
        Person,
        name=text,
        age=st.integers(min_value=-(2**40), max_value=2**40),
        emails=st.lists(text, max_size=3),
        score=st.none() | st.floats(allow_nan=False, allow_infinity=False),
    )
)
def test_pydantic_round_trip(person: Person) -> None:
    codec = JsonCodec(model=Person)
    assert codec.deserialize(codec.serialize(person)) == person


# --------------------------------------------------------------------------- avro

AVRO_SCHEMA = {
    "type": "record",
    "name": "Event",
    "namespace": "pyflymq.test",
    "fields": [
        {"name": "id", "type": "long"},
        {"name": "small", "type": "int"},
        {"name": "ok", "type": "boolean"},
        {"name": "ratio", "type": "double"},
        {"name": "name", "type": "string"},
        {"name": "blob", "type": "bytes"},
        {"name": "note", "type": ["null", "string"]},
        {"name": "tags", "type": {"type": "array", "items": "int"}},
        {"name": "attrs", "type": {"type": "map", "values": "long"}},
        {"name": "kind", "type": {"type": "enum", "name": "Kind", "symbols": ["A", "B", "C"]}},
        {"name": "digest", "type": {"type": "fixed", "name": "Digest", "size": 4}},
    ],
}
AVRO_DEF = json.dumps(AVRO_SCHEMA)
avro_records = st.fixed_dictionaries(
    {
        "id": st.integers(min_value=-(2**63), max_value=2**63 - 1),
        "small": st.integers(min_value=-(2**31), max_value=2**31 - 1),
        "ok": st.booleans(),
        "ratio": st.floats(allow_nan=False),
        "name": text,
        "blob": st.binary(max_size=50),
        "note": st.none() | text,
        "tags": st.lists(st.integers(min_value=-(2**31), max_value=2**31 - 1), max_size=5),
        "attrs": st.dictionaries(text, st.integers(min_value=-(2**63), max_value=2**63 - 1), max_size=4),
        "kind": st.sampled_from(["A", "B", "C"]),
        "digest": st.binary(min_size=4, max_size=4),
    }
)


@SETTINGS
@given(avro_records)
def test_avro_round_trip_and_our_output_validates(record: dict[str, Any]) -> None:
    codec = AvroCodec(AVRO_SCHEMA)
    data = codec.serialize(record)
    assert codec.deserialize(data) == record
    assert validate_locally("avro", AVRO_DEF, data) == []


@SETTINGS
@given(st.binary(min_size=1, max_size=120))
def test_avro_validation_of_random_bytes_is_consistent_with_decoding(data: bytes) -> None:
    errors = validate_locally("avro", AVRO_DEF, data)
    assert isinstance(errors, list)
    if not errors:
        # accepted => the codec reads it, with nothing left over
        AvroCodec(AVRO_SCHEMA).deserialize(data)


@SETTINGS
@given(avro_records, st.binary(min_size=1, max_size=8))
def test_avro_trailing_bytes_are_always_rejected(record: dict[str, Any], extra: bytes) -> None:
    data = AvroCodec(AVRO_SCHEMA).serialize(record) + extra
    assert any("trailing bytes" in e for e in validate_locally("avro", AVRO_DEF, data))


# --------------------------------------------------------------------------- protobuf


def server_scan_ok(data: bytes) -> bool:
    """The FlyMQ server's protobuf wire check as described in spec §9.4 (a model for the property).

    Tags and values are varints of at most 10 bytes; wire types 0/1/2/5 are skipped by their size
    (a length is read as a signed Go int, so huge lengths wrap negative); 3 and 4 are accepted as is.
    """

    def varint(pos: int) -> tuple[int, int] | None:
        value = shift = 0
        for i in range(10):
            if pos + i >= len(data):
                return None
            byte = data[pos + i]
            value |= (byte & 0x7F) << shift
            if byte < 0x80:
                return value & (2**64 - 1), pos + i + 1
            shift += 7
        return None

    pos, steps = 0, 0
    while pos < len(data):
        steps += 1
        if steps > 10_000:
            return True  # the Go loop can cycle on wrapped lengths; treat as "did not reject"
        read = varint(pos)
        if read is None:
            return False
        tag, pos = read
        wire_type = tag & 7
        if wire_type == 0:
            read = varint(pos)
            if read is None:
                return False
            pos = read[1]
        elif wire_type == 1:
            if pos + 8 > len(data):
                return False
            pos += 8
        elif wire_type == 2:
            read = varint(pos)
            if read is None:
                return False
            length, pos = read
            signed = length - 2**64 if length >= 2**63 else length
            if pos + signed > len(data):
                return False
            pos += signed
        elif wire_type == 5:
            if pos + 4 > len(data):
                return False
            pos += 4
        elif wire_type in (3, 4):
            continue
        else:
            return False
    return True


proto_like = st.lists(
    st.one_of(
        st.tuples(st.integers(1, 2**29 - 1), st.just(0), st.integers(0, 2**64 - 1)),
        st.tuples(st.integers(1, 2**29 - 1), st.just(1), st.binary(min_size=8, max_size=8)),
        st.tuples(st.integers(1, 2**29 - 1), st.just(2), st.binary(max_size=20)),
        st.tuples(st.integers(1, 2**29 - 1), st.just(5), st.binary(min_size=4, max_size=4)),
    ),
    max_size=8,
)


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _encode_fields(fields: list[tuple[int, int, Any]]) -> bytes:
    out = b""
    for number, wire_type, value in fields:
        out += _varint(number << 3 | wire_type)
        if wire_type == 0:
            out += _varint(value)
        elif wire_type == 2:
            out += _varint(len(value)) + value
        else:
            out += value
    return out


@SETTINGS
@given(st.binary(max_size=60) | proto_like.map(_encode_fields))
def test_protobuf_scan_never_accepts_what_the_server_rejects(data: bytes) -> None:
    if not wire_errors(data):
        assert server_scan_ok(data)


@SETTINGS
@given(st.binary(max_size=60) | proto_like.map(_encode_fields))
def test_protobuf_scan_is_at_least_as_strict_as_the_protobuf_runtime(data: bytes) -> None:
    # (It is stricter on field number 0 and on 10-byte varints overflowing 64 bits, which the upb
    # runtime tolerates; see test_serde_schema.test_protobuf_wire_errors.)
    from google.protobuf import empty_pb2, message  # type: ignore[import-untyped, unused-ignore]

    try:
        empty_pb2.Empty.FromString(data)  # every field is unknown: a pure wire-format parse
    except message.DecodeError:
        assert wire_errors(data) != []


@SETTINGS
@given(proto_like.map(_encode_fields))
def test_well_formed_messages_validate(data: bytes) -> None:
    assume(data)
    assert validate_locally("protobuf", "", data) == []


@SETTINGS
@given(st.integers(min_value=-(2**63), max_value=2**63 - 1), text, st.lists(text, max_size=4))
def test_protobuf_codec_round_trip(number: int, name: str, tags: list[str]) -> None:
    user = PROTO["User"]
    codec = ProtobufCodec(user)
    message = user(id=number, name=name, tags=tags)
    data = codec.serialize(message)
    assert codec.deserialize(data) == message
    assert wire_errors(data) == []


# --------------------------------------------------------------------------- encryption

KEY = generate_key()
ENCRYPTOR = Encryptor.from_hex_key(KEY)
REFERENCE = AESGCM(bytes.fromhex(KEY))


@SETTINGS
@given(st.binary(max_size=2000))
def test_encryption_round_trip_and_reference_interop(plaintext: bytes) -> None:
    sealed = ENCRYPTOR.encrypt(plaintext)
    assert len(sealed) == len(plaintext) + 28
    assert ENCRYPTOR.decrypt(sealed) == plaintext
    assert REFERENCE.decrypt(sealed[:12], sealed[12:], None) == plaintext
    nonce = sealed[:12]
    assert ENCRYPTOR.decrypt(nonce + REFERENCE.encrypt(nonce, plaintext, None)) == plaintext


@SETTINGS
@given(st.binary(max_size=200), st.data())
def test_any_modification_is_detected(plaintext: bytes, data: st.DataObject) -> None:
    sealed = bytearray(ENCRYPTOR.encrypt(plaintext))
    index = data.draw(st.integers(0, len(sealed) - 1))
    sealed[index] ^= data.draw(st.integers(1, 255))
    try:
        ENCRYPTOR.decrypt(bytes(sealed))
    except DecryptionError:
        return
    raise AssertionError("a modified ciphertext was accepted")


@SETTINGS
@given(st.binary(max_size=300), st.integers(0, 10), st.integers(0, 2**40))
def test_transform_never_returns_garbage(data: bytes, partition: int, offset: int) -> None:
    transform = value_transform_from_options(encryption_enabled=True, encryption_key=KEY)
    try:
        transform.decode("topic", partition, offset, data)
    except DecryptionError as exc:
        assert (exc.topic, exc.partition, exc.offset) == ("topic", partition, offset)
        return
    raise AssertionError("random bytes decrypted")
