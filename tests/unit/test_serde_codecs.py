"""Built-in codecs (bytes, string, json, avro, protobuf) and resolve_codec()."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from pydantic import BaseModel

from pyflymq_core.errors import (
    ConfigurationError,
    InvalidArgumentError,
    InvalidArgumentTypeError,
    SchemaError,
    SchemaValidationError,
)
from pyflymq_core.plugins import get_registry, reset_plugins
from pyflymq_serde import Codec, SerializationError, content_type_of, resolve_codec
from pyflymq_serde.codecs.avro import AvroCodec
from pyflymq_serde.codecs.bytes import BytesCodec
from pyflymq_serde.codecs.json import JsonCodec
from pyflymq_serde.codecs.protobuf import ProtobufCodec
from pyflymq_serde.codecs.string import StringCodec

USER_JSON_SCHEMA = {
    "type": "object",
    "properties": {"id": {"type": "integer"}, "name": {"type": "string"}},
    "required": ["id", "name"],
}
USER_AVRO_SCHEMA = {
    "type": "record",
    "name": "User",
    "fields": [{"name": "id", "type": "long"}, {"name": "name", "type": "string"}],
}


def make_proto_classes() -> dict[str, Any]:
    """Generated-style protobuf classes built from descriptors (no protoc needed).

    ``pt3.User`` (proto3: id int64 = 1, name string = 2, tags repeated string = 3) and ``pt2.Req``
    (proto2: required int64 id = 1, optional string note = 2).  Each call uses a fresh pool.
    """
    from google.protobuf import (  # type: ignore[import-untyped, unused-ignore]
        descriptor_pb2,
        descriptor_pool,
        message_factory,
    )

    field = descriptor_pb2.FieldDescriptorProto
    pool = descriptor_pool.DescriptorPool()
    user_file = descriptor_pb2.FileDescriptorProto(name="pyflymq_pt3.proto", package="pt3", syntax="proto3")
    user = user_file.message_type.add(name="User")
    user.field.add(name="id", number=1, type=field.TYPE_INT64, label=field.LABEL_OPTIONAL)
    user.field.add(name="name", number=2, type=field.TYPE_STRING, label=field.LABEL_OPTIONAL)
    user.field.add(name="tags", number=3, type=field.TYPE_STRING, label=field.LABEL_REPEATED)
    pool.Add(user_file)
    req_file = descriptor_pb2.FileDescriptorProto(name="pyflymq_pt2.proto", package="pt2", syntax="proto2")
    req = req_file.message_type.add(name="Req")
    req.field.add(name="id", number=1, type=field.TYPE_INT64, label=field.LABEL_REQUIRED)
    req.field.add(name="note", number=2, type=field.TYPE_STRING, label=field.LABEL_OPTIONAL)
    pool.Add(req_file)
    return {
        "User": message_factory.GetMessageClass(pool.FindMessageTypeByName("pt3.User")),
        "Req": message_factory.GetMessageClass(pool.FindMessageTypeByName("pt2.Req")),
    }


class User(BaseModel):
    id: int
    name: str
    tags: list[str] = []


# --------------------------------------------------------------------------- bytes / string


def test_bytes_codec_passes_bytes_through_and_copies_buffers() -> None:
    codec = BytesCodec()
    payload = b"\x00\xffdata"
    assert codec.serialize(payload) is payload
    assert codec.serialize(bytearray(b"ab")) == b"ab"
    assert type(codec.serialize(memoryview(b"cd"))) is bytes
    assert codec.deserialize(payload) is payload
    with pytest.raises(InvalidArgumentTypeError, match="not str"):
        codec.serialize("text")


def test_string_codec_round_trip_and_strict_errors() -> None:
    codec = StringCodec()
    assert codec.serialize("héllo ✓") == "héllo ✓".encode()
    assert codec.deserialize("héllo ✓".encode()) == "héllo ✓"
    assert codec.content_type == "text/plain; charset=utf-8"
    with pytest.raises(SerializationError) as info:
        codec.deserialize(b"\xff\xfe")
    assert info.value.codec == "string" and info.value.direction == "deserialize"
    with pytest.raises(InvalidArgumentTypeError):
        codec.serialize(b"bytes")
    with pytest.raises(SerializationError, match=r"surrogate|encode"):
        codec.serialize("\ud800")


def test_string_codec_other_encodings_and_handlers() -> None:
    latin = StringCodec("latin-1")
    assert latin.serialize("é") == b"\xe9" and latin.deserialize(b"\xe9") == "é"
    assert StringCodec(errors="replace").deserialize(b"a\xffb") == "a\ufffdb"
    with pytest.raises(InvalidArgumentError):
        StringCodec("no-such-encoding")
    with pytest.raises(InvalidArgumentError):
        StringCodec(errors="no-such-handler")


# --------------------------------------------------------------------------- json


def test_json_codec_compact_utf8_and_round_trip() -> None:
    codec = JsonCodec()
    value = {"a": [1, 2.5, None, True], "é": "✓"}
    data = codec.serialize(value)
    assert data == '{"a":[1,2.5,null,true],"é":"✓"}'.encode()
    assert codec.deserialize(data) == value
    assert content_type_of(codec) == "application/json"


def test_json_codec_refuses_nan_and_unserializable_values() -> None:
    codec = JsonCodec()
    with pytest.raises(SerializationError, match=r"float|JSON"):
        codec.serialize({"x": float("nan")})
    with pytest.raises(SerializationError, match="set"):
        codec.serialize({1, 2})
    assert JsonCodec(default=str).serialize({"x": {1}}) == b'{"x":"{1}"}'
    with pytest.raises(SerializationError) as info:
        codec.deserialize(b"not json")
    assert info.value.direction == "deserialize"


def test_json_codec_sort_keys_gives_stable_bytes() -> None:
    codec = JsonCodec(sort_keys=True)
    assert codec.serialize({"b": 1, "a": 2}) == codec.serialize({"a": 2, "b": 1}) == b'{"a":2,"b":1}'


def test_json_codec_schema_validates_both_directions() -> None:
    codec = JsonCodec(schema=USER_JSON_SCHEMA)
    assert codec.deserialize(codec.serialize({"id": 1, "name": "a"})) == {"id": 1, "name": "a"}
    with pytest.raises(SchemaValidationError) as info:
        codec.serialize({"id": "x"})
    assert set(info.value.errors) == {
        "missing required field: name",
        "type mismatch at id: expected integer, got string",
    }
    with pytest.raises(SchemaValidationError):
        codec.deserialize(b'{"id": 1}')
    # only one direction
    assert JsonCodec(schema=USER_JSON_SCHEMA, validate="serialize").deserialize(b'{"id": 1}') == {"id": 1}
    with pytest.raises(SchemaValidationError):
        JsonCodec(schema=USER_JSON_SCHEMA, validate="deserialize").deserialize(b'{"id": 1}')
    assert JsonCodec(schema=USER_JSON_SCHEMA, validate="none").serialize({}) == b"{}"


def test_json_codec_schema_from_text_and_invalid_schema() -> None:
    codec = JsonCodec(schema=json.dumps(USER_JSON_SCHEMA))
    assert codec.schema == USER_JSON_SCHEMA
    with pytest.raises(SchemaError, match="invalid schema definition"):
        JsonCodec(schema="{not json")
    with pytest.raises(SchemaError, match="invalid schema definition"):
        JsonCodec(schema={"type": 5})
    with pytest.raises(InvalidArgumentTypeError):
        JsonCodec(validate="sometimes")


def test_json_codec_require_object() -> None:
    codec = JsonCodec(require_object=True)
    assert codec.serialize({"a": 1}) == b'{"a":1}'
    with pytest.raises(SchemaValidationError, match="expected a JSON object, got array"):
        codec.serialize([1])
    with pytest.raises(SchemaValidationError, match="got string"):
        codec.deserialize(b'"text"')


def test_json_codec_schema_rejects_what_the_server_cannot_read() -> None:
    codec = JsonCodec(schema={"type": "object"})
    with pytest.raises(SerializationError, match="float64"):
        codec.serialize({"big": 10**400})


def test_pydantic_models_round_trip() -> None:
    codec = JsonCodec(model=User)
    user = User(id=7, name="Ann", tags=["x"])
    data = codec.serialize(user)
    assert json.loads(data) == {"id": 7, "name": "Ann", "tags": ["x"]}
    back = codec.deserialize(data)
    assert isinstance(back, User) and back == user
    # any model serializes with a plain json codec too
    assert JsonCodec().serialize(user) == data
    with pytest.raises(SerializationError, match="User"):
        codec.deserialize(b'{"id": "not a number", "name": "x"}')
    with pytest.raises(InvalidArgumentTypeError):
        JsonCodec(model=dict)


def test_pydantic_model_with_schema() -> None:
    codec = JsonCodec(model=User, schema=USER_JSON_SCHEMA)
    assert codec.deserialize(b'{"id": 1, "name": "a"}') == User(id=1, name="a")
    with pytest.raises(SchemaValidationError):
        codec.deserialize(b'{"id": 1}')


# --------------------------------------------------------------------------- avro


def test_avro_codec_matches_the_server_accepted_encoding() -> None:
    codec = AvroCodec(USER_AVRO_SCHEMA)
    # transcripts/schemas.jsonl schema_avro#3: 5406626f62 is {"id": 42, "name": "bob"}, valid on the server
    assert codec.serialize({"id": 42, "name": "bob"}) == bytes.fromhex("5406626f62")
    assert codec.deserialize(bytes.fromhex("5406626f62")) == {"id": 42, "name": "bob"}
    assert codec.content_type == "avro/binary"
    assert AvroCodec(json.dumps(USER_AVRO_SCHEMA)).serialize({"id": 1, "name": ""}) == b"\x02\x00"


def test_avro_codec_validates_before_writing() -> None:
    codec = AvroCodec(USER_AVRO_SCHEMA)
    with pytest.raises(SchemaValidationError) as info:
        codec.serialize({"id": "x", "name": "bob"})
    assert info.value.errors
    with pytest.raises(SchemaValidationError):
        codec.serialize({"id": 1})


def test_avro_codec_rejects_truncated_and_trailing_bytes() -> None:
    codec = AvroCodec(USER_AVRO_SCHEMA)
    with pytest.raises(SerializationError):
        codec.deserialize(bytes.fromhex("5406"))
    with pytest.raises(SerializationError, match="left over"):
        codec.deserialize(bytes.fromhex("5406626f62ff"))
    lenient = AvroCodec(USER_AVRO_SCHEMA, strict=False)
    assert lenient.deserialize(bytes.fromhex("5406626f62ff")) == {"id": 42, "name": "bob"}


def test_avro_codec_schema_evolution_with_reader_schema() -> None:
    v2 = {
        "type": "record",
        "name": "User",
        "fields": [*USER_AVRO_SCHEMA["fields"], {"name": "email", "type": "string", "default": ""}],
    }
    old = AvroCodec(USER_AVRO_SCHEMA).serialize({"id": 1, "name": "a"})
    assert AvroCodec(USER_AVRO_SCHEMA, reader_schema=v2).deserialize(old) == {
        "id": 1,
        "name": "a",
        "email": "",
    }


def test_avro_codec_accepts_pydantic_models() -> None:
    class AvroUser(BaseModel):
        id: int
        name: str

    codec = AvroCodec(USER_AVRO_SCHEMA)
    assert codec.serialize(AvroUser(id=42, name="bob")) == bytes.fromhex("5406626f62")


def test_avro_codec_needs_a_valid_schema() -> None:
    with pytest.raises(ConfigurationError, match="needs a schema"):
        AvroCodec()
    with pytest.raises(SchemaError, match="invalid Avro schema"):
        AvroCodec({"type": "record", "name": "1bad", "fields": []})
    with pytest.raises(SchemaError, match="invalid Avro schema"):
        AvroCodec("this is not avro")


def test_avro_codec_output_is_readable_by_plain_fastavro() -> None:
    import fastavro

    data = AvroCodec(USER_AVRO_SCHEMA).serialize({"id": -5, "name": "zoë"})
    parsed = fastavro.parse_schema(USER_AVRO_SCHEMA)
    assert fastavro.schemaless_reader(io.BytesIO(data), parsed, None) == {"id": -5, "name": "zoë"}


# --------------------------------------------------------------------------- protobuf


def test_protobuf_codec_round_trip_and_wire_format() -> None:
    classes = make_proto_classes()
    user_cls = classes["User"]
    codec = ProtobufCodec(user_cls)
    message = user_cls(id=150, name="ab", tags=["x"])
    data = codec.serialize(message)
    assert data == bytes.fromhex("089601") + b"\x12\x02ab" + b"\x1a\x01x"  # field 1 varint 150, ...
    back = codec.deserialize(data)
    assert isinstance(back, user_cls) and back == message
    assert codec.serialize({"id": 150, "name": "ab", "tags": ["x"]}) == data
    assert codec.content_type == "application/x-protobuf"


def test_protobuf_codec_errors() -> None:
    classes = make_proto_classes()
    codec = ProtobufCodec(classes["User"])
    with pytest.raises(SerializationError, match=r"pt3\.User"):
        codec.deserialize(b"\x0a\x05ab")  # length runs past the end
    with pytest.raises(InvalidArgumentTypeError, match=r"pt3\.User"):
        codec.serialize(classes["Req"](id=1))
    with pytest.raises(InvalidArgumentTypeError):
        codec.serialize(b"raw")
    with pytest.raises(SchemaValidationError):
        codec.serialize({"no_such_field": 1})
    with pytest.raises(InvalidArgumentTypeError):
        ProtobufCodec(dict)


def test_protobuf_codec_required_fields() -> None:
    req_cls = make_proto_classes()["Req"]
    codec = ProtobufCodec(req_cls)
    with pytest.raises(SchemaValidationError) as info:
        codec.serialize(req_cls(note="x"))
    assert "id" in info.value.errors[0]
    with pytest.raises(SchemaValidationError, match="missing id"):
        codec.deserialize(b"\x12\x01x")  # only the optional note
    assert codec.deserialize(b"\x08\x01").id == 1


def test_protobuf_codec_without_class_serializes_but_cannot_deserialize() -> None:
    user_cls = make_proto_classes()["User"]
    codec = ProtobufCodec()
    assert codec.serialize(user_cls(id=1)) == b"\x08\x01"
    with pytest.raises(ConfigurationError, match="message class"):
        codec.deserialize(b"\x08\x01")


# --------------------------------------------------------------------------- resolve_codec


@pytest.fixture
def builtins_only(monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("PYFLYMQ_PLUGINS", "")
    reset_plugins()
    yield
    reset_plugins()


@pytest.mark.usefixtures("builtins_only")
@pytest.mark.parametrize(
    ("name", "cls"),
    [("bytes", BytesCodec), ("string", StringCodec), ("json", JsonCodec), ("protobuf", ProtobufCodec)],
)
def test_resolve_codec_by_name(name: str, cls: type) -> None:
    codec = resolve_codec(name)
    assert type(codec) is cls and codec.name == name
    assert isinstance(codec, Codec)
    assert resolve_codec(name.upper()) is codec  # cached, case-insensitive


@pytest.mark.usefixtures("builtins_only")
def test_resolve_codec_with_options_builds_a_new_codec() -> None:
    avro = resolve_codec("avro", schema=USER_AVRO_SCHEMA)
    assert isinstance(avro, AvroCodec)
    assert avro.deserialize(avro.serialize({"id": 1, "name": "x"})) == {"id": 1, "name": "x"}
    latin = resolve_codec("string", encoding="latin-1")
    assert latin is not resolve_codec("string") and latin.serialize("é") == b"\xe9"
    with pytest.raises(ConfigurationError, match="needs a schema"):
        resolve_codec("avro")


@pytest.mark.usefixtures("builtins_only")
def test_resolve_codec_unknown_name_lists_the_available_ones() -> None:
    with pytest.raises(ConfigurationError) as info:
        resolve_codec("yaml")
    assert "json" in str(info.value) and "avro" in str(info.value)


@pytest.mark.usefixtures("builtins_only")
def test_resolve_codec_passes_objects_and_classes() -> None:
    codec = StringCodec()
    assert resolve_codec(codec) is codec

    class Custom:
        name = "custom"

        def serialize(self, obj: Any) -> bytes:
            return repr(obj).encode()

        def deserialize(self, data: bytes) -> Any:
            return data.decode()

    custom = Custom()
    assert resolve_codec(custom) is custom
    model_codec = resolve_codec(User)
    assert isinstance(model_codec, JsonCodec) and model_codec.model is User
    user_cls = make_proto_classes()["User"]
    proto_codec = resolve_codec(user_cls)
    assert isinstance(proto_codec, ProtobufCodec) and proto_codec.message_class is user_cls
    for bad in (42, object(), int):
        with pytest.raises(InvalidArgumentTypeError):
            resolve_codec(bad)
    with pytest.raises(InvalidArgumentTypeError):
        resolve_codec(custom, schema={})


@pytest.mark.usefixtures("builtins_only")
def test_resolve_codec_rejects_a_plugin_factory_that_is_not_a_codec() -> None:
    from pyflymq_core.plugins import get_plugin_manager, hookimpl

    class NotACodecPlugin:
        @hookimpl
        def pyflymq_register_codecs(self, register: Any) -> None:
            register("notacodec", lambda: object())

    plugin = NotACodecPlugin()
    get_plugin_manager().register(plugin, name="notacodec-plugin")
    try:
        assert "notacodec" in get_registry().codecs
        with pytest.raises(ConfigurationError, match="serialize"):
            resolve_codec("notacodec")
    finally:
        get_plugin_manager().unregister(plugin)


@pytest.mark.usefixtures("builtins_only")
def test_registered_factory_paths_are_the_implemented_classes() -> None:
    codecs = get_registry().codecs
    assert codecs.get("bytes") is BytesCodec
    assert codecs.get("string") is StringCodec
    assert codecs.get("json") is JsonCodec
    assert codecs.get("avro") is AvroCodec
    assert codecs.get("protobuf") is ProtobufCodec
    from pyflymq_serde.crypto import AesGcmEncryptor

    assert get_registry().encryptors.get("aes-256-gcm") is AesGcmEncryptor


@pytest.mark.parametrize(
    "codec",
    [JsonCodec(), StringCodec(), BytesCodec(), AvroCodec({"type": "string"})],
    ids=lambda codec: codec.name,
)
@pytest.mark.parametrize("wrong", [None, "text", 5], ids=["None", "str", "int"])
def test_deserialize_refuses_what_is_not_a_record_s_bytes(codec: Any, wrong: Any) -> None:
    # bytes(5) would be five zero bytes: a wrong value, not an error, without the check.
    with pytest.raises(InvalidArgumentTypeError, match="deserializes a record's bytes") as caught:
        codec.deserialize(wrong)
    assert caught.value.hint is not None and "message.value" in caught.value.hint


@pytest.mark.parametrize("view", [memoryview(b'"x"'), bytearray(b'"x"')], ids=["memoryview", "bytearray"])
def test_deserialize_takes_any_bytes_like_record(view: Any) -> None:
    assert JsonCodec().deserialize(view) == "x"
    assert StringCodec().deserialize(view) == '"x"'
    assert BytesCodec().deserialize(view) == b'"x"'
