"""Schema-aware helpers for the client: local validation and codecs built from registry schemas.

FlyMQ's registry (``register_schema``/``get_schema``) stores JSON, Avro and Protobuf schemas, but the
server's own validation is partial and off by default (spec §9.4-9.5, SEMANTICS_NOTES §E #28).  The
client therefore validates **locally first**, with the real validators, and only sends a message that
passes.  Local validation never accepts what the server would reject; where it is stricter, the
reason is listed in ``docs/serde.md``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from typing import Any

from pyflymq_core.errors import (
    ConfigurationError,
    InvalidArgumentTypeError,
    MissingExtraError,
    SchemaValidationError,
)
from pyflymq_core.validation import check_schema_type, to_bytes
from pyflymq_serde.codecs.base import Codec

__all__ = ["check_before_produce", "codec_from_schema", "normalize_schema_type", "validate_locally"]

logger = logging.getLogger("pyflymq.serde")

_warned_extras: set[str] = set()
_warned_lock = threading.Lock()


def normalize_schema_type(schema_type: str) -> str:
    """``json`` | ``avro`` | ``protobuf`` (``proto`` is the server's alias for ``protobuf``)."""
    kind = check_schema_type(schema_type)
    return "protobuf" if kind == "proto" else kind


def _text(definition: str | bytes | bytearray | memoryview) -> str | bytes:
    if isinstance(definition, (bytearray, memoryview)):
        return bytes(definition)
    if isinstance(definition, (str, bytes)):
        return definition
    raise InvalidArgumentTypeError(
        f"a schema definition must be str or bytes, not {type(definition).__name__}"
    )


def validate_locally(
    schema_type: str,
    definition: str | bytes,
    data: bytes | str,
    *,
    message_class: Any = None,
) -> list[str]:
    """Validate ``data`` against a registry schema (``schema_type`` + ``definition``) on the client.

    Returns the list of violations (empty = valid), in the server's wording where the server checks
    the same thing.  An invalid definition is reported as a violation (as the server does), not raised.

    * ``json``: ``jsonschema`` (the draft the schema declares, else 2020-12) with FlyMQ's number rules;
      the message must be a JSON object.
    * ``avro``: exactly one Avro binary value of the schema (fastavro, plus the server decoder's
      limits); trailing bytes are an error (the server ignores them).
    * ``protobuf``/``proto``: a strict wire-format scan (the definition cannot be compiled without
      ``protoc``); with ``message_class`` the bytes must also parse as that message.

    Raises ``MissingExtraError`` when the validator's package is not installed.
    """
    kind = normalize_schema_type(schema_type)
    text = _text(definition)
    payload = to_bytes(data, "data")  # str as UTF-8, as produce_with_schema takes it; not bytes(5)
    if kind == "json":
        from pyflymq_serde.schema.json_check import compile_json_schema, validate_json

        try:
            checker = compile_json_schema(text)
        except ValueError as exc:
            return [str(exc)]
        return validate_json(checker, payload, require_object=True)
    if kind == "avro":
        from pyflymq_serde.schema.avro_check import AvroSchemaError, parse_avro_schema, validate_avro

        if not payload:
            return ["empty message"]
        try:
            parsed = parse_avro_schema(text)
        except AvroSchemaError as exc:
            return [f"invalid Avro schema: {exc}"]
        return validate_avro(parsed, payload)
    from pyflymq_serde.schema.protobuf_check import validate_protobuf

    return validate_protobuf(payload, message_class)


def check_before_produce(
    schema_name: str,
    schema_type: str,
    definition: str | bytes,
    data: bytes,
    *,
    message_class: Any = None,
    missing_extra: str = "warn",
) -> None:
    """The client's pre-send check for ``produce_with_schema``: raise if ``data`` is invalid.

    Raises :class:`SchemaValidationError` (``errors`` = the violations) naming ``schema_name``.
    When the validator's optional package is missing, ``missing_extra="warn"`` (default) logs one
    warning per extra and lets the message go to the server (which validates it if its schema
    feature is on); ``"raise"`` propagates the ``MissingExtraError``.
    """
    try:
        errors = validate_locally(schema_type, definition, data, message_class=message_class)
    except MissingExtraError as exc:
        if missing_extra == "raise":
            raise
        with _warned_lock:
            first = exc.extra not in _warned_extras
            _warned_extras.add(exc.extra)
        if first:
            logger.warning(
                "schema %r not validated locally: %s. %s (only the server will validate, and only if "
                "its schema feature is enabled)",
                schema_name,
                exc.message,
                exc.hint,
            )
        return
    if errors:
        raise SchemaValidationError(
            f"message does not match schema {schema_name!r}: " + "; ".join(errors[:5]),
            errors=errors,
            hint=f"Fix the message so it matches the latest version of {schema_name!r} "
            "(see e.errors); nothing was sent.",
        )


def _schema_fields(schema_info: Any) -> tuple[str, str | bytes]:
    if isinstance(schema_info, Mapping):
        kind = schema_info.get("type", schema_info.get("schema_type"))
        definition = schema_info.get("definition", schema_info.get("schema"))
    else:
        kind = getattr(schema_info, "type", None) or getattr(schema_info, "schema_type", None)
        definition = getattr(schema_info, "definition", None)
        if definition is None:
            definition = getattr(schema_info, "schema", None)
    if not isinstance(kind, str) or not isinstance(definition, (str, bytes, bytearray)):
        raise InvalidArgumentTypeError(
            f"expected a schema with a 'type' and a 'definition' (a get_schema() result), got {schema_info!r}"
        )
    return kind, bytes(definition) if isinstance(definition, bytearray) else definition


def codec_from_schema(schema_info: Any, *, message_class: Any = None, model: Any = None) -> Codec:
    """Build a codec from a registry schema (the result of ``client.get_schema(name)``).

    ``schema_info`` is any object or mapping with ``type`` and ``definition``.

    * ``json`` -> :class:`~pyflymq_serde.codecs.json.JsonCodec` validating against the schema (and
      requiring JSON objects, like the registry); ``model=`` deserializes into a pydantic model.
    * ``avro`` -> :class:`~pyflymq_serde.codecs.avro.AvroCodec` for the schema.
    * ``protobuf`` -> :class:`~pyflymq_serde.codecs.protobuf.ProtobufCodec` for ``message_class``
      (a ``.proto`` text cannot be compiled here; without a class the codec can only serialize).
    """
    kind_text, definition = _schema_fields(schema_info)
    kind = normalize_schema_type(kind_text)
    if kind == "json":
        from pyflymq_serde.codecs.json import JsonCodec

        return JsonCodec(schema=definition, model=model, require_object=True)
    if model is not None:
        raise ConfigurationError(f"model= is only supported for JSON schemas, not {kind}")
    if kind == "avro":
        from pyflymq_serde.codecs.avro import AvroCodec

        return AvroCodec(definition)
    from pyflymq_serde.codecs.protobuf import ProtobufCodec

    return ProtobufCodec(message_class)
