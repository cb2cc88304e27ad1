"""The ``avro`` codec: schemaless Avro binary with fastavro (the ``avro`` extra).

"Schemaless" is the encoding FlyMQ's registry validates (spec §9.4): the bare binary value, with no
container-file header and no schema fingerprint.  The codec needs the writer schema; give
``reader_schema`` too to read old records with a newer schema (Avro schema resolution).
pydantic models are accepted when serializing (through ``model_dump()``).
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from typing import Any

from pyflymq_core.errors import ConfigurationError, SchemaError, SchemaValidationError
from pyflymq_serde._deps import require
from pyflymq_serde.codecs.base import BaseCodec, record_bytes
from pyflymq_serde.errors import SerializationError
from pyflymq_serde.schema.avro_check import AvroSchemaError, parse_avro_schema

__all__ = ["AvroCodec"]

AvroSchema = str | bytes | Mapping[str, Any] | list[Any]


class AvroCodec(BaseCodec):
    """Avro binary codec.

    :param schema: the writer schema (JSON text, bytes, a dict/list, or a fastavro-parsed schema).
    :param reader_schema: optional reader schema for schema evolution when deserializing.
    :param validate: check values against the schema before writing (clear
        ``SchemaValidationError`` instead of fastavro writing a wrong value or failing obscurely).
    :param strict: reject records with bytes left over after the value (the server would accept them).
    """

    name = "avro"
    content_type = "avro/binary"

    def __init__(
        self,
        schema: AvroSchema | None = None,
        *,
        reader_schema: AvroSchema | None = None,
        validate: bool = True,
        strict: bool = True,
    ) -> None:
        self._fastavro = require("fastavro", extra="avro", feature="the avro codec")
        if schema is None:
            raise ConfigurationError(
                "the avro codec needs a schema",
                hint="Build it with AvroCodec(schema) or resolve_codec('avro', schema=...), or from a "
                "registry schema with codec_from_schema(client.get_schema(name)).",
            )
        try:
            self.parsed_schema = parse_avro_schema(schema)
            self._reader = parse_avro_schema(reader_schema) if reader_schema is not None else None
        except AvroSchemaError as exc:
            raise SchemaError(f"invalid Avro schema: {exc}") from None
        self._validate = validate
        self._strict = strict

    def serialize(self, obj: Any) -> bytes:
        """Write ``obj`` (a mapping or a pydantic model) as schemaless Avro.

        Validated first when the codec was built with ``validate=True``, so a bad value fails with the
        field errors instead of fastavro's first low-level complaint.
        """
        if hasattr(obj, "model_dump") and not isinstance(obj, type):
            obj = obj.model_dump()
        fastavro = self._fastavro
        if self._validate:
            try:
                fastavro.validation.validate(obj, self.parsed_schema, raise_errors=True)
            except fastavro.validation.ValidationError as exc:
                errors = [str(error) for error in getattr(exc, "errors", ())] or [str(exc)]
                raise SchemaValidationError(
                    "value does not match the Avro schema: " + "; ".join(errors[:5]), errors=errors
                ) from None
        buffer = io.BytesIO()
        try:
            fastavro.schemaless_writer(buffer, self.parsed_schema, obj)
        except Exception as exc:  # fastavro raises TypeError, ValueError, AttributeError, ...
            raise SerializationError(
                f"cannot write the value as Avro: {type(exc).__name__}: {exc}",
                codec=self.name,
                direction="serialize",
            ) from exc
        return buffer.getvalue()

    def deserialize(self, data: bytes) -> Any:
        """Read one schemaless Avro value (resolved to ``reader_schema`` when given).

        With ``strict`` (the default) left-over bytes are an error: they mean the record was written
        with another schema, and silently ignoring them would hand back wrong data.
        """
        buffer = io.BytesIO(record_bytes(data, self.name))
        try:
            value = self._fastavro.schemaless_reader(buffer, self.parsed_schema, self._reader)
        except Exception as exc:  # EOFError, IndexError, UnicodeDecodeError, SchemaResolutionError...
            raise SerializationError(
                f"the record is not a valid Avro value of the schema: {type(exc).__name__}: {exc}",
                codec=self.name,
                direction="deserialize",
            ) from exc
        if self._strict and buffer.tell() != len(data):
            raise SerializationError(
                f"{len(data) - buffer.tell()} bytes left over after the Avro value",
                codec=self.name,
                direction="deserialize",
                hint="The record was written with another schema or codec; pass strict=False to "
                "ignore trailing bytes as the server does.",
            )
        return value

    def _repr_details(self) -> str:
        name = self.parsed_schema.get("name") if isinstance(self.parsed_schema, Mapping) else None
        return f"schema={name or type(self.parsed_schema).__name__!s}"
