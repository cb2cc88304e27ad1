"""The broker's reproductions of Go behaviours: encoding/json texts, Avro decode, protobuf scan."""

from __future__ import annotations

import json

import pytest

from pyflymq_broker import avro, gojson
from pyflymq_broker.delayed import go_duration
from pyflymq_broker.schemas import validate_protobuf_wire


@pytest.mark.parametrize(
    ("text", "error"),
    [
        (b"", "unexpected end of JSON input"),
        (b"   ", "unexpected end of JSON input"),
        (b"not json", "invalid character 'o' in literal null (expecting 'u')"),
        (b"{not json", "invalid character 'n' looking for beginning of object key string"),
        (b'{"a":1,}', "invalid character '}' looking for beginning of object key string"),
        (b"[1,]", "invalid character ']' looking for beginning of value"),
        (b'{"a" 1}', "invalid character '1' after object key"),
        (b'{"a":1 "b":2}', "invalid character '\"' after object key:value pair"),
        (b"[1 2]", "invalid character '2' after array element"),
        (b"01", "invalid character '1' after top-level value"),
        (b"{} x", "invalid character 'x' after top-level value"),
        (b"1.", "unexpected end of JSON input"),
        (b"1.x", "invalid character 'x' after decimal point in numeric literal"),
        (b"-a", "invalid character 'a' in numeric literal"),
        (b"1ex", "invalid character 'x' in exponent of numeric literal"),
        (b'"\\x"', "invalid character 'x' in string escape code"),
        (b'"\\u12g4"', "invalid character 'g' in \\u hexadecimal character escape"),
        (b'"a\x01"', "invalid character '\\x01' in string literal"),
        (b"trx", "invalid character 'x' in literal true (expecting 'u')"),
        (b"'", "invalid character '\\'' looking for beginning of value"),
        (b"[", "unexpected end of JSON input"),
        (b'{"a":', "unexpected end of JSON input"),
    ],
)
def test_go_syntax_errors(text: bytes, error: str) -> None:
    assert gojson.syntax_error(text) == error


@pytest.mark.parametrize(
    "text", [b"{}", b"[]", b"0", b"-0.5e+10", b' {"a": [1, true, null, "x\\u00e9"]} ', b"\t\r\nnull"]
)
def test_valid_json_passes_the_scanner(text: bytes) -> None:
    assert gojson.syntax_error(text) is None
    json.loads(text)  # sanity: Python agrees it is JSON


@pytest.mark.parametrize(
    ("text", "kind"), [(b"[1,2]", "array"), (b'"s"', "string"), (b"1", "number"), (b"true", "bool")]
)
def test_unmarshal_into_a_map_names_the_json_kind(text: bytes, kind: str) -> None:
    with pytest.raises(gojson.GoJSONError) as err:
        gojson.unmarshal_object(text)
    assert str(err.value) == f"json: cannot unmarshal {kind} into Go value of type map[string]interface {{}}"


def test_unmarshal_null_is_a_nil_map_and_numbers_are_floats() -> None:
    assert gojson.unmarshal_object(b"null") is None
    assert gojson.unmarshal_object(b'{"n": 3}') == {"n": 3.0}
    with pytest.raises(
        gojson.GoJSONError, match="cannot unmarshal number 1e400 into Go value of type float64"
    ):
        gojson.unmarshal_object(b'{"n": 1e400}')


def test_unmarshal_replaces_invalid_utf8_and_lone_surrogates() -> None:
    assert gojson.unmarshal_object(b'{"a": "x\xffy", "b": "\\ud800"}') == {"a": "x\ufffdy", "b": "\ufffd"}


def test_marshal_escapes_like_go() -> None:
    assert gojson.marshal({"a": "<&>\u2028\n\x01", "b": None, "c": [1, 2.5, True]}) == (
        '{"a":"\\u003c\\u0026\\u003e\\u2028\\n\\u0001","b":null,"c":[1,2.5,true]}'
    )
    assert gojson.marshal([{"k": "v"}], "  ") == '[\n  {\n    "k": "v"\n  }\n]'
    assert gojson.marshal([]) == "[]"
    assert gojson.marshal({}, "  ") == "{}"


@pytest.mark.parametrize(
    ("ns", "text"),
    [
        (0, "0s"),
        (86_400_001_000_000, "24h0m0.001s"),
        (86_400 * 10**9, "24h0m0s"),
        (90 * 10**9, "1m30s"),
        (1_500_000, "1.5ms"),
        (2_000, "2µs"),
        (7, "7ns"),
        (-1_500_000_000, "-1.5s"),
    ],
)
def test_go_duration(ns: int, text: str) -> None:
    assert go_duration(ns) == text


USER = (
    '{"type":"record","name":"User","fields":[{"name":"id","type":"long"},{"name":"name","type":"string"}]}'
)


def test_avro_record_decode_prefix() -> None:
    schema = avro.parse_schema(USER)
    avro.decode_prefix(schema, bytes.fromhex("5406626f62"))
    avro.decode_prefix(schema, bytes.fromhex("5406626f62ffff"))  # trailing bytes are not detected
    avro.decode_prefix(schema, b'{"id":42,"name":"bob"}')  # long -62, 17-byte string: decodes
    with pytest.raises(avro.AvroError, match=r"^map\[string\]interface \{\}: unexpected EOF$"):
        avro.decode_prefix(schema, bytes.fromhex("5406"))


def test_avro_unknown_type_and_bad_schemas() -> None:
    with pytest.raises(avro.AvroError, match=r"^avro: unknown type: this is not avro$"):
        avro.parse_schema("this is not avro")
    with pytest.raises(avro.AvroError):
        avro.parse_schema('{"type":"record","name":"R"}')
    assert avro.parse_schema('"long"').kind == "long"


def test_avro_complex_types() -> None:
    schema = avro.parse_schema(
        json.dumps(
            {
                "type": "record",
                "name": "Node",
                "namespace": "ex",
                "fields": [
                    {"name": "tags", "type": {"type": "array", "items": "string"}},
                    {"name": "attrs", "type": {"type": "map", "values": "int"}},
                    {"name": "color", "type": {"type": "enum", "name": "Color", "symbols": ["R", "G"]}},
                    {"name": "hash", "type": {"type": "fixed", "name": "H", "size": 2}},
                    {"name": "next", "type": ["null", "Node"]},
                ],
            }
        )
    )
    leaf = bytes([0, 0, 2, 0xAA, 0xBB, 0])  # empty array, empty map, G, fixed, null
    tags = bytes([2, 2]) + b"a" + bytes([0])  # one block of 1 string "a"
    attrs = bytes([2, 2]) + b"k" + bytes([4, 0])  # {"k": 2}
    avro.decode_prefix(schema, tags + attrs + bytes([0, 1, 2, 2]) + leaf)  # color R, hash, next -> Node
    with pytest.raises(avro.AvroError, match="unknown enum symbol"):
        avro.decode_prefix(schema, bytes([0, 0, 4]))
    with pytest.raises(avro.AvroError, match="unknown union index"):
        avro.decode_prefix(schema, bytes([0, 0, 0, 1, 2, 8]))


def test_avro_huge_count_of_zero_width_items_terminates() -> None:
    schema = avro.parse_schema('{"type":"array","items":"null"}')
    value = 10**15 << 1  # zigzag encoding of the block count 10**15
    varint = bytearray()
    while value >= 0x80:
        varint.append((value & 0x7F) | 0x80)
        value >>= 7
    varint.append(value)
    avro.decode_prefix(schema, bytes(varint) + b"\x00")


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (bytes.fromhex("089601"), None),
        (bytes.fromhex("12036162 63".replace(" ", "")), None),
        (bytes.fromhex("0b"), None),  # start group: accepted as is
        (bytes.fromhex("0896"), "invalid varint value at position 1"),
        (bytes.fromhex("1205616263"), "truncated length-delimited value at position 2"),
        (bytes.fromhex("0901020304"), "truncated 64-bit value at position 1"),
        (bytes.fromhex("0d0102"), "truncated 32-bit value at position 1"),
        (bytes.fromhex("0e"), "unknown wire type 6 at position 1"),
        (bytes.fromhex("ff" * 11), "invalid varint at position 0"),
    ],
)
def test_protobuf_wire_scan(data: bytes, problem: str | None) -> None:
    assert validate_protobuf_wire(data) == problem
