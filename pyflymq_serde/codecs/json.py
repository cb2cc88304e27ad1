"""The ``json`` codec: stdlib ``json``, optional JSON Schema validation, pydantic models.

* Plain use needs nothing beyond the standard library: values are dumped compactly as UTF-8 with
  ``allow_nan=False`` (``NaN`` is not JSON and the server's Go decoder rejects it).
* ``schema=`` validates every serialized and deserialized value with ``jsonschema`` (the ``json``
  extra) using the rules of :mod:`pyflymq_serde.schema.json_check`.  Serialized values are validated
  *as the bytes that will be sent*, so what passes here is exactly what a consumer will read back.
* pydantic: any ``BaseModel`` instance is serialized with ``model_dump_json()``; with ``model=`` the
  codec deserializes into that model class (``model_validate_json``), so models round-trip.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from pyflymq_core.errors import InvalidArgumentTypeError, SchemaError, SchemaValidationError
from pyflymq_serde.codecs.base import BaseCodec, record_bytes
from pyflymq_serde.errors import SerializationError
from pyflymq_serde.schema.json_check import (
    JsonParseError,
    JsonSchemaChecker,
    compile_json_schema,
    flymq_json_type,
    loads_strict,
)

__all__ = ["JsonCodec"]


class JsonCodec(BaseCodec):
    """JSON codec.

    :param schema: a JSON schema (text, bytes or dict) to validate values against, or ``None``.
    :param model: a pydantic model class to deserialize into (and to accept when serializing).
    :param require_object: only JSON objects are valid (FlyMQ's registry rule; set by
        :func:`~pyflymq_serde.schema.codec_from_schema`).
    :param validate: with a schema, which directions validate: ``"both"`` (default),
        ``"serialize"``, ``"deserialize"`` or ``"none"``.
    :param default: ``json.dumps`` fallback for objects JSON cannot represent (e.g. ``str``).
    :param sort_keys: dump object keys sorted (stable bytes for equal values).
    """

    name = "json"
    content_type = "application/json"

    def __init__(
        self,
        *,
        schema: str | bytes | Mapping[str, Any] | None = None,
        model: type[Any] | None = None,
        require_object: bool = False,
        validate: str = "both",
        default: Callable[[Any], Any] | None = None,
        sort_keys: bool = False,
    ) -> None:
        if validate not in ("both", "serialize", "deserialize", "none"):
            raise InvalidArgumentTypeError(
                f"validate must be 'both', 'serialize', 'deserialize' or 'none', not {validate!r}"
            )
        if model is not None and not (isinstance(model, type) and hasattr(model, "model_validate_json")):
            raise InvalidArgumentTypeError(
                f"model must be a pydantic BaseModel subclass, not {model!r}",
                hint="Pass the model class itself, e.g. JsonCodec(model=User).",
            )
        self.model = model
        self.require_object = require_object
        self._checker: JsonSchemaChecker | None = None
        if schema is not None:
            try:
                self._checker = compile_json_schema(schema)
            except ValueError as exc:
                raise SchemaError(str(exc)) from None
        self._validate_out = self._checker is not None and validate in ("both", "serialize")
        self._validate_in = self._checker is not None and validate in ("both", "deserialize")
        self._default = default
        self._sort_keys = sort_keys

    @property
    def schema(self) -> Mapping[str, Any] | None:
        """The JSON schema this codec validates against, if any."""
        return self._checker.schema if self._checker is not None else None

    # ------------------------------------------------------------------ serialize

    def serialize(self, obj: Any) -> bytes:
        """Compact UTF-8 JSON of ``obj`` (a pydantic model dumps itself).

        NaN and infinities are refused (the server's JSON parser rejects them), and with a schema or
        ``require_object`` the output is parsed back and checked before anything is sent.
        """
        dump = getattr(obj, "model_dump_json", None)
        if dump is not None and not isinstance(obj, type):
            data: bytes = dump().encode("utf-8")
        else:
            try:
                text = json.dumps(
                    obj,
                    ensure_ascii=False,
                    allow_nan=False,
                    separators=(",", ":"),
                    default=self._default,
                    sort_keys=self._sort_keys,
                )
            except (TypeError, ValueError, RecursionError) as exc:
                raise SerializationError(
                    f"cannot serialize {type(obj).__name__} as JSON: {exc}",
                    codec=self.name,
                    direction="serialize",
                    hint="Pass JSON-compatible values (dict, list, str, int, float, bool, None), a "
                    "pydantic model, or give the codec a default= function for other types.",
                ) from exc
            try:
                data = text.encode("utf-8")
            except UnicodeEncodeError as exc:
                raise SerializationError(
                    "cannot serialize the value as JSON: a string holds an unpaired surrogate "
                    f"at {exc.start}",
                    codec=self.name,
                    direction="serialize",
                ) from exc
        if self._validate_out or self.require_object:
            try:
                value = loads_strict(data)
            except JsonParseError as exc:
                raise SerializationError(
                    f"the serialized JSON would be rejected by the FlyMQ server: {exc}",
                    codec=self.name,
                    direction="serialize",
                ) from None
            self._check(value, "serialize")
        return data

    # ------------------------------------------------------------------ deserialize

    def deserialize(self, data: bytes) -> Any:
        """Parse one record value; into the codec's ``model`` when it has one.

        A schema or ``require_object`` makes parsing strict, as the server's would be, so what this
        returns is what the server accepted.
        """
        given = record_bytes(data, self.name)
        record = given.tobytes() if isinstance(given, memoryview) else given  # json takes no views
        if self._validate_in or self.require_object:
            try:
                value = loads_strict(record)
            except JsonParseError as exc:
                raise self._bad_json(exc) from None
            self._check(value, "deserialize")
            if self.model is None:
                return value
        elif self.model is None:
            try:
                return json.loads(record)
            except (ValueError, RecursionError) as exc:
                raise self._bad_json(exc) from None
        return self._to_model(record)

    def _to_model(self, data: bytes | bytearray) -> Any:
        assert self.model is not None
        try:
            return self.model.model_validate_json(data)
        except ValueError as exc:  # pydantic.ValidationError is a ValueError
            raise SerializationError(
                f"the record does not match the model {self.model.__name__}: {exc}",
                codec=self.name,
                direction="deserialize",
                hint="Check that the producer used the same model, or consume with deserializer='json'.",
            ) from exc

    def _bad_json(self, exc: BaseException) -> SerializationError:
        return SerializationError(
            f"the record is not valid JSON: {exc}",
            codec=self.name,
            direction="deserialize",
            hint="The record was probably written with another codec; consume it with "
            "deserializer='bytes' to inspect it.",
        )

    def _check(self, value: Any, direction: str) -> None:
        if self.require_object and not isinstance(value, dict):
            errors = [f"expected a JSON object, got {flymq_json_type(value)}"]
        elif self._checker is not None and (
            self._validate_out if direction == "serialize" else self._validate_in
        ):
            errors = self._checker.errors(value)
        else:
            return
        if errors:
            raise SchemaValidationError(
                f"JSON value does not match the schema ({direction}): " + "; ".join(errors[:5]),
                errors=errors,
            )

    def _repr_details(self) -> str:
        parts = []
        if self._checker is not None:
            parts.append("schema=...")
        if self.model is not None:
            parts.append(f"model={self.model.__name__}")
        return ", ".join(parts)
