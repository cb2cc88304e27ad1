"""Local schema validation: agreement with the real server's verdicts, FlyMQ's number and decoder
rules, codecs built from registry schemas, and the pre-send check."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from pyflymq_core.errors import (
    InvalidArgumentError,
    InvalidArgumentTypeError,
    MissingExtraError,
    SchemaValidationError,
)
from pyflymq_core.models import SchemaInfo
from pyflymq_serde import check_before_produce, codec_from_schema, validate_locally
from pyflymq_serde.codecs.avro import AvroCodec
from pyflymq_serde.codecs.json import JsonCodec
from pyflymq_serde.codecs.protobuf import ProtobufCodec
from pyflymq_serde.schema import avro_check
from tests.unit.test_serde_codecs import USER_AVRO_SCHEMA, USER_JSON_SCHEMA, make_proto_classes

ROOT = Path(__file__).resolve().parents[2]
TRANSCRIPTS = ROOT / "tests" / "transcripts"
DOCS = ROOT / "docs" / "serde.md"

REGISTER, GET, VALIDATE, PRODUCE_WITH_SCHEMA, DELETE = 0x10, 0x11, 0x13, 0x14, 0x15

#: Exchanges where the server accepted a message that local validation rejects, on purpose.  Each id
#: must be listed (with its reason) in docs/serde.md.
STRICTER = {
    "schema_avro#6": "trailing bytes after the Avro value",
    "features_disabled_fallbacks#13": "the server's schema validation is off",
}


# --------------------------------------------------------------------------- transcript replay


@dataclass
class Verdict:
    exchange: str
    name: str
    data: bytes
    server_valid: bool
    server_errors: list[str]
    schema: tuple[str, str] | None  # (type, definition) of the latest version, None = unknown name


def _server_verdicts() -> Iterator[Verdict]:
    """Replay every scenario's schema registry state and yield each validate / produce-with-schema."""
    for path in sorted(TRANSCRIPTS.glob("*.jsonl")):
        registry: dict[tuple[str, str], dict[str, dict[int, tuple[str, str]]]] = {}
        for line in path.read_text().splitlines():
            ex = json.loads(line)
            op, fields = ex["request"]["op"], ex["request"].get("fields", {})
            response = ex["response"].get("fields") or {}
            if fields.get("_explicit_payload") or (
                "error_encoding" in response and op != PRODUCE_WITH_SCHEMA
            ):
                continue
            schemas = registry.setdefault((ex["scenario"], ex["server_profile"]), {})
            if op == REGISTER:
                definition = bytes.fromhex(fields["schema"]).decode()
                schemas.setdefault(fields["name"], {})[response["version"]] = (fields["type"], definition)
            elif op == DELETE:
                schemas.get(fields["topic"], {}).pop(fields["version"], None)
            elif op in (VALIDATE, PRODUCE_WITH_SCHEMA):
                name = fields["name"] if op == VALIDATE else fields["schema_name"]
                data = bytes.fromhex(fields["message"] if op == VALIDATE else fields["data"])
                versions = schemas.get(name) or {}
                latest = versions[max(versions)] if versions else None
                if op == VALIDATE:
                    valid, errors = response["valid"], response["errors"]
                else:
                    message = response.get("message", "")
                    valid = "error_encoding" not in response
                    assert valid or message.startswith("schema validation failed: ["), message
                    errors = [] if valid else [message[len("schema validation failed: [") : -1]]
                yield Verdict(f"{ex['scenario']}#{ex['step']}", name, data, valid, errors, latest)


VERDICTS = list(_server_verdicts())


def _category(error: str) -> str:
    """The kind of an error: its text before the first ': ' (all of it for JSON field errors)."""
    if error.startswith(("missing required field", "type mismatch", "unexpected field")):
        return error
    return error.split(": ", 1)[0]


def test_the_transcripts_hold_enough_schema_verdicts() -> None:
    assert len(VERDICTS) >= 20
    kinds = {(v.schema[0] if v.schema else None, v.server_valid) for v in VERDICTS}
    assert {("json", True), ("json", False), ("avro", True), ("avro", False), (None, True)} <= kinds


@pytest.mark.parametrize("verdict", VERDICTS, ids=lambda v: v.exchange)
def test_local_validation_agrees_with_the_server(verdict: Verdict) -> None:
    if verdict.schema is None:
        # No schema under that name: the server accepts anything; there is nothing to validate locally.
        assert verdict.server_valid
        return
    schema_type, definition = verdict.schema
    local = validate_locally(schema_type, definition, verdict.data)
    if not verdict.server_valid:
        assert local, f"the server rejected {verdict.data!r} ({verdict.server_errors}) but we accept it"
        assert {_category(e) for e in local} == {_category(e) for e in verdict.server_errors}
    elif verdict.exchange in STRICTER:
        assert local, f"{verdict.exchange} is documented as stricter but we accept it"
    else:
        assert local == [], f"the server accepted {verdict.data!r}, we say {local}"


def test_every_stricter_case_is_real_and_documented() -> None:
    ids = {v.exchange for v in VERDICTS}
    docs = DOCS.read_text()
    for exchange, reason in STRICTER.items():
        assert exchange in ids
        assert exchange in docs, f"docs/serde.md must list {exchange} ({reason})"


# --------------------------------------------------------------------------- JSON rules


JSON_DEF = json.dumps(USER_JSON_SCHEMA)


@pytest.mark.parametrize(
    ("message", "errors"),
    [
        (b'{"id": 1, "name": "a"}', []),
        (b'{"id": 1.0, "name": "a"}', []),  # Go reads numbers as float64: 1.0 is an integer
        (b'{"id": 1e20, "name": "a"}', ["type mismatch at id: expected integer, got number"]),
        (b'{"id": 9223372036854775808, "name": "a"}', ["type mismatch at id: expected integer, got number"]),
        (b'{"id": -9223372036854775808, "name": "a"}', []),
        (b'{"id": true, "name": "a"}', ["type mismatch at id: expected integer, got boolean"]),
        (b'{"id": null, "name": "a"}', ["type mismatch at id: expected integer, got null"]),
        (b"[1, 2]", ["invalid JSON message: expected a JSON object, got array"]),
        (b"null", ["invalid JSON message: expected a JSON object, got null"]),
    ],
)
def test_json_rules(message: bytes, errors: list[str]) -> None:
    assert validate_locally("json", JSON_DEF, message) == errors


@pytest.mark.parametrize(
    "message",
    [
        b'{"id": NaN, "name": "a"}',
        b'{"id": Infinity, "name": "a"}',
        b'{"id": 1e400, "name": "a"}',
        b'{"id": 1' + b"0" * 400 + b', "name": "a"}',
        b'\xef\xbb\xbf{"id": 1, "name": "a"}',  # BOM
        '{"id": 1, "name": "a"}'.encode("utf-16"),
        b'{"id": 1, "name": "\xff"}',  # invalid UTF-8
        b'{"id": 1, "name": "a"} x',
        b"[" * 5000 + b"]" * 5000,
    ],
)
def test_json_that_go_would_not_parse_is_invalid(message: bytes) -> None:
    errors = validate_locally("json", JSON_DEF, message)
    assert len(errors) == 1 and errors[0].startswith("invalid JSON message: ")


def test_json_nested_required_and_additional_properties() -> None:
    schema = {
        "type": "object",
        "properties": {
            "address": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
        },
        "additionalProperties": False,
    }
    errors = validate_locally("json", json.dumps(schema), b'{"address": {}, "extra": 1}')
    assert errors == ["missing required field: address.city", "unexpected field: extra"]


def test_json_schema_keywords_beyond_the_servers_subset_are_enforced() -> None:
    schema = {"type": "object", "properties": {"n": {"type": "integer", "minimum": 10, "enum": [10, 20]}}}
    errors = validate_locally("json", json.dumps(schema), b'{"n": 5}')
    assert len(errors) == 2 and all(e.startswith("n: ") for e in errors)


def test_json_schema_draft_declared_by_the_schema_is_used() -> None:
    draft4 = {"$schema": "http://json-schema.org/draft-04/schema#", "type": "object",
              "properties": {"n": {"type": "integer"}}}  # fmt: skip
    # Draft 4 integers exclude 1.0 (stricter than the server, which reads it as an integer).
    assert validate_locally("json", json.dumps(draft4), b'{"n": 1.0}') == [
        "type mismatch at n: expected integer, got number"
    ]
    assert validate_locally("json", json.dumps(draft4), b'{"n": 1}') == []
    exclusive = {"$schema": "http://json-schema.org/draft-04/schema#", "type": "object",
                 "properties": {"n": {"maximum": 5, "exclusiveMaximum": True}}}  # fmt: skip
    assert validate_locally("json", json.dumps(exclusive), b'{"n": 5}') != []
    assert validate_locally("json", json.dumps(exclusive), b'{"n": 4}') == []


@pytest.mark.parametrize(
    ("definition", "fragment"),
    [
        ("{not json", "invalid schema definition"),
        ("[1, 2]", "must be a JSON object"),
        ('{"type": 5}', "invalid schema definition"),
        ('{"properties": {"a": {"type": "decimal"}}}', "invalid schema definition"),
    ],
)
def test_invalid_json_definitions_make_every_message_invalid(definition: str, fragment: str) -> None:
    errors = validate_locally("json", definition, b'{"a": 1}')
    assert len(errors) == 1 and fragment in errors[0]


def test_json_references_inside_the_schema_work_remote_ones_are_not_fetched() -> None:
    local = {
        "$defs": {"id": {"type": "integer"}},
        "type": "object",
        "properties": {"id": {"$ref": "#/$defs/id"}},
    }
    assert validate_locally("json", json.dumps(local), b'{"id": 1}') == []
    assert validate_locally("json", json.dumps(local), b'{"id": "x"}') == [
        "type mismatch at id: expected integer, got string"
    ]
    remote = {"type": "object", "properties": {"a": {"$ref": "http://example.invalid/a.json"}}}
    errors = validate_locally("json", json.dumps(remote), b'{"a": 1}')
    assert len(errors) == 1 and "cannot be resolved" in errors[0] and "never fetched" in errors[0]


def test_json_definition_as_bytes_and_type_aliases() -> None:
    assert validate_locally("JSON", JSON_DEF.encode(), b'{"id": 1, "name": "a"}') == []
    with pytest.raises(InvalidArgumentError):
        validate_locally("xml", "<x/>", b"<x/>")
    with pytest.raises(InvalidArgumentTypeError):
        validate_locally("json", {"type": "object"}, b"{}")  # type: ignore[arg-type]


# --------------------------------------------------------------------------- Avro rules

AVRO_DEF = json.dumps(USER_AVRO_SCHEMA)


@pytest.mark.parametrize(
    ("schema", "data", "fragment"),
    [
        ('"boolean"', b"\x02", "invalid boolean byte 0x02"),
        ('"int"', b"\xff\xff\xff\xff\xff\x01", "longer than 5 bytes"),
        ('"int"', b"\xff\xff\xff\xff\x7f", "out of the 32-bit range"),
        ('"long"', b"\xff" * 10 + b"\x01", "longer than 10 bytes"),
        ('"long"', b"\xff" * 9 + b"\x7f", "out of the 64-bit range"),
        ('"string"', b"\x01abc", "negative string length"),
        ('"bytes"', b"\x80\x80\x81\x01", "exceeds the server's 1048576-byte limit"),
        ('["null", "int"]', b"\x04", "union index 2 out of range"),
        ('{"type": "enum", "name": "E", "symbols": ["A"]}', b"\x02", "enum index 1 out of range"),
        ('{"type": "fixed", "name": "F", "size": 4}', b"\x00\x00", "fixed needs 4 bytes"),
        ('{"type": "array", "items": "null"}', b"\x80\x80\x81\x01\x00", "more than 1048576 items"),
        ('"float"', b"\x00\x00", "float needs 4 bytes"),
        ('"string"', b"\x02\xff", "UnicodeDecodeError"),
        (AVRO_DEF, bytes.fromhex("5406626f6200"), "1 trailing bytes"),
    ],
)
def test_avro_decoder_limits(schema: str, data: bytes, fragment: str) -> None:
    errors = validate_locally("avro", schema, data)
    assert len(errors) == 1 and errors[0].startswith("Avro validation failed: ") and fragment in errors[0]


@pytest.mark.parametrize(
    ("schema", "data"),
    [
        ('"boolean"', b"\x01"),
        ('"int"', b"\xfe\xff\xff\xff\x0f"),  # int32 max
        ('"long"', b"\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01"),  # int64 min
        ('{"type": "array", "items": "int"}', b"\x03\x04\x02\x04\x00"),  # block with negative count + size
        ('{"type": "map", "values": "long"}', b"\x02\x02a\x02\x00"),
        ("int", b"\x02"),  # hamba reads a non-JSON definition as a type name
        (
            '["null", {"type": "record", "name": "N", "namespace": "x", '
            '"fields": [{"name": "next", "type": ["null", "N"]}]}]',
            b"\x02\x02\x02\x00",
        ),
    ],
)
def test_avro_valid_values(schema: str, data: bytes) -> None:
    assert validate_locally("avro", schema, data) == []


@pytest.mark.parametrize(
    "schema",
    [
        "this is not avro",
        '{"type": "record", "name": "1User", "fields": []}',
        '{"type": "record", "name": "U", "fields": [{"name": "a-b", "type": "int"}]}',
        '{"type": "record", "name": "U", "fields": '
        '[{"name": "a", "type": "int"}, {"name": "a", "type": "int"}]}',
        '{"type": "record", "name": "U"}',
        '{"type": "fixed", "name": "F", "size": -1}',
        '["int", "int"]',
        '["null", ["int"]]',
        '{"type": "record", "name": "U", "fields": [{"name": "a", "type": "int", "default": "x"}]}',
        '"nosuchtype"',
    ],
)
def test_avro_invalid_schemas(schema: str) -> None:
    errors = validate_locally("avro", schema, b"\x02")
    assert len(errors) == 1 and errors[0].startswith("invalid Avro schema: ")


def test_avro_empty_message_is_reported_before_the_schema() -> None:
    assert validate_locally("avro", "this is not avro", b"") == ["empty message"]


def test_avro_recursion_limit_is_an_error_not_a_crash() -> None:
    schema = '{"type": "record", "name": "L", "fields": [{"name": "next", "type": ["null", "L"]}]}'
    deep = b"\x02" * 5000 + b"\x00"
    errors = validate_locally("avro", schema, deep)
    assert errors and errors[0].startswith("Avro validation failed")


def test_avro_limits_match_hamba_defaults() -> None:
    assert avro_check.MAX_BYTES == avro_check.MAX_ITEMS == 1 << 20


# --------------------------------------------------------------------------- Protobuf rules


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        (b"", "empty message"),
        (b"\x08", "truncated varint value"),
        (b"\x00\x01", "invalid field number 0"),
        (b"\x0f", "unknown wire type 7"),
        (b"\x0a\x05ab", "truncated length-delimited value"),
        (b"\x09\x00", "truncated 64-bit value"),
        (b"\x0d\x00", "truncated 32-bit value"),
        (b"\x0b", "unterminated group"),
        (b"\x0c", "unmatched end-group"),
        (b"\x08" + b"\xff" * 10 + b"\x01", "longer than 10 bytes"),
        (b"\x08" + b"\xff" * 9 + b"\x7f", "overflows 64 bits"),
    ],
)
def test_protobuf_wire_errors(data: bytes, fragment: str) -> None:
    errors = validate_locally("protobuf", "syntax = 'proto3';", data)
    assert len(errors) == 1 and fragment in errors[0]
    if data:
        assert errors[0].startswith("invalid Protobuf wire format: ")


def test_protobuf_wire_valid_and_proto_alias() -> None:
    message = b"\x08\x96\x01\x12\x02ab\x19" + bytes(8) + b"\x25" + bytes(4) + b"\x1b\x08\x01\x1c"
    assert validate_locally("protobuf", "", message) == []
    assert validate_locally("proto", "", message) == []


def test_protobuf_full_check_with_a_message_class() -> None:
    classes = make_proto_classes()
    user, req = classes["User"], classes["Req"]
    assert (
        validate_locally("protobuf", "", user(id=1, name="x").SerializeToString(), message_class=user) == []
    )
    # well-formed wire format but a string field holding invalid UTF-8 (proto3 rejects it)
    errors = validate_locally("protobuf", "", b"\x12\x01\xff", message_class=user)
    assert errors and "pt3.User" in errors[0]
    assert validate_locally("protobuf", "", b"\x12\x01\xff") == []  # the scan alone cannot tell
    errors = validate_locally("protobuf", "", b"\x12\x01x", message_class=req)
    assert errors == ["invalid pt2.Req: missing required fields: id"]


# --------------------------------------------------------------------------- codec_from_schema


def _info(kind: str, definition: str) -> SchemaInfo:
    return SchemaInfo(id="s-v1", name="s", version=1, type=kind, definition=definition)


def test_codec_from_json_schema_info() -> None:
    codec = codec_from_schema(_info("json", JSON_DEF))
    assert isinstance(codec, JsonCodec) and codec.require_object
    data = codec.serialize({"id": 1, "name": "a"})
    assert validate_locally("json", JSON_DEF, data) == []
    with pytest.raises(SchemaValidationError):
        codec.serialize({"id": 1})
    with pytest.raises(SchemaValidationError):
        codec.serialize([1])


def test_codec_from_json_schema_with_model() -> None:
    from tests.unit.test_serde_codecs import User

    codec = codec_from_schema({"type": "json", "definition": JSON_DEF}, model=User)
    assert codec.deserialize(b'{"id": 3, "name": "z"}') == User(id=3, name="z")


def test_codec_from_avro_schema_info_produces_server_valid_bytes() -> None:
    codec = codec_from_schema(_info("avro", AVRO_DEF))
    assert isinstance(codec, AvroCodec)
    data = codec.serialize({"id": 42, "name": "bob"})
    assert data == bytes.fromhex("5406626f62") and validate_locally("avro", AVRO_DEF, data) == []


def test_codec_from_protobuf_schema_info() -> None:
    user = make_proto_classes()["User"]
    codec = codec_from_schema(_info("protobuf", "syntax = 'proto3';"), message_class=user)
    assert isinstance(codec, ProtobufCodec) and codec.message_class is user
    assert isinstance(codec_from_schema(_info("proto", "x")), ProtobufCodec)


def test_codec_from_schema_rejects_incomplete_input() -> None:
    with pytest.raises(InvalidArgumentTypeError):
        codec_from_schema({"type": "json"})
    with pytest.raises(InvalidArgumentTypeError):
        codec_from_schema(_info("json", None))  # type: ignore[arg-type]
    with pytest.raises(Exception, match="model"):
        codec_from_schema(_info("avro", AVRO_DEF), model=dict)


# --------------------------------------------------------------------------- check_before_produce


def test_check_before_produce_raises_with_every_violation() -> None:
    check_before_produce("user", "json", JSON_DEF, b'{"id": 1, "name": "a"}')
    with pytest.raises(SchemaValidationError) as info:
        check_before_produce("user", "json", JSON_DEF, b'{"id": "x"}')
    assert "'user'" in str(info.value)
    assert set(info.value.errors) == {
        "missing required field: name",
        "type mismatch at id: expected integer, got string",
    }
    assert info.value.hint is not None and "nothing was sent" in info.value.hint


def test_check_before_produce_with_a_missing_extra(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import pyflymq_serde.schema as schema_module

    def missing(*args: Any, **kwargs: Any) -> list[str]:
        raise MissingExtraError("JSON Schema validation needs 'jsonschema'", extra="json-test")

    monkeypatch.setattr(schema_module, "validate_locally", missing)
    monkeypatch.setattr(schema_module, "_warned_extras", set())
    caplog.set_level(logging.WARNING, logger="pyflymq.serde")
    check_before_produce("user", "json", JSON_DEF, b"{}")
    check_before_produce("user", "json", JSON_DEF, b"{}")
    warnings = [r for r in caplog.records if "not validated locally" in r.getMessage()]
    assert len(warnings) == 1 and "pyflymq[json-test]" in warnings[0].getMessage()
    with pytest.raises(MissingExtraError):
        check_before_produce("user", "json", JSON_DEF, b"{}", missing_extra="raise")


def test_validate_locally_takes_text_and_refuses_other_types() -> None:
    from pyflymq_core.errors import InvalidArgumentTypeError
    from pyflymq_serde.schema import validate_locally

    schema = '{"type": "object", "required": ["id"]}'
    assert validate_locally("json", schema, '{"id": 1}') == []  # str: UTF-8, as produce_with_schema
    assert validate_locally("json", schema, b'{"id": 1}') == []
    with pytest.raises(InvalidArgumentTypeError, match="data must be bytes or str"):
        validate_locally("json", schema, 5)  # type: ignore[arg-type]  # bytes(5): five zero bytes
