"""JSON Schema validation with the ``jsonschema`` package, tuned so that it never accepts what FlyMQ rejects.

FlyMQ 1.26.11 validates JSON itself, with a small subset of JSON Schema (spec §9.4): the message must
be a JSON object; ``required`` (top level and nested objects that declare ``properties``), the
``type`` of each declared property and top-level ``additionalProperties: false`` are checked.  We
validate with the full JSON Schema vocabulary of the draft the schema declares (2020-12 when it
declares none), which is stricter, plus these adjustments where plain JSON Schema would be *more
lenient* than the server:

* numbers are read the way Go reads them into ``float64``: ``NaN``/``Infinity`` literals and numbers
  outside the float64 range are invalid JSON;
* ``integer`` means "a whole number that fits in int64 after conversion to float64" (the server
  calls ``1e20`` a ``number``, JSON Schema calls it an integer);
* the text must be strict UTF-8 JSON without a byte-order mark (Python's ``json.loads`` would also
  accept UTF-16/32 and a BOM when given bytes);
* with ``require_object=True`` (the registry's rules) the message must be a JSON object.

Error strings reuse the server's wording for the checks it shares (``missing required field: a.b``,
``type mismatch at a: expected integer, got string``, ``unexpected field: x``).
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Iterable, Mapping
from typing import Any

from pyflymq_serde._deps import require

__all__ = ["JsonSchemaChecker", "compile_json_schema", "flymq_json_type", "loads_strict"]

_MAX_ERROR_LEN = 300
_INT64_MIN = -(2.0**63)
_INT64_LIMIT = 2.0**63


class JsonParseError(ValueError):
    """The bytes are not JSON as the FlyMQ server (Go ``encoding/json``) would accept it."""


def _parse_int(text: str) -> int:
    value = int(text)
    try:
        float(value)
    except OverflowError:
        raise JsonParseError(f"number {text[:40]} is out of the float64 range") from None
    return value


def _parse_float(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise JsonParseError(f"number {text[:40]} is out of the float64 range")
    return value


def _parse_constant(name: str) -> Any:
    raise JsonParseError(f"invalid literal {name} (not JSON)")


def loads_strict(data: bytes | bytearray | memoryview | str) -> Any:
    """Parse JSON the way the server's Go decoder accepts it; raise :class:`JsonParseError` otherwise."""
    if isinstance(data, str):
        text = data
    else:
        try:
            text = bytes(data).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise JsonParseError(f"invalid UTF-8 at byte {exc.start}") from None
    try:
        return json.loads(
            text, parse_int=_parse_int, parse_float=_parse_float, parse_constant=_parse_constant
        )
    except JsonParseError:
        raise
    except RecursionError:
        raise JsonParseError("JSON nesting too deep") from None
    except ValueError as exc:  # json.JSONDecodeError, int() digit limits
        raise JsonParseError(str(exc)) from None


def flymq_json_type(value: Any) -> str:
    """The JSON type name the server reports for ``value`` (``integer`` for whole int64 numbers)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, str):
        return "string"
    if isinstance(value, (int, float)):
        return "integer" if _is_flymq_integer(value) else "number"
    if isinstance(value, (list, tuple)):
        return "array"
    if isinstance(value, Mapping):
        return "object"
    return type(value).__name__


def _is_flymq_integer(value: int | float) -> bool:
    try:
        as_float = float(value)
    except OverflowError:
        return False
    return as_float.is_integer() and _INT64_MIN <= as_float < _INT64_LIMIT


def _path(parts: Iterable[Any]) -> str:
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _clip(text: str) -> str:
    return text if len(text) <= _MAX_ERROR_LEN else text[: _MAX_ERROR_LEN - 3] + "..."


class JsonSchemaChecker:
    """A compiled JSON schema; :meth:`errors` lists every violation of one parsed instance."""

    def __init__(self, schema: Mapping[str, Any]) -> None:
        jsonschema = require("jsonschema", extra="json", feature="JSON Schema validation")
        validators = jsonschema.validators
        base = validators.validator_for(schema, default=jsonschema.Draft202012Validator)
        try:
            base.check_schema(schema)
        except jsonschema.exceptions.SchemaError as exc:
            raise ValueError(f"invalid schema definition: {_clip(exc.message)}") from None
        checker = base.TYPE_CHECKER

        def is_integer(type_checker: Any, instance: Any) -> bool:
            return bool(checker.is_type(instance, "integer")) and _is_flymq_integer(instance)

        flavoured = validators.extend(base, type_checker=checker.redefine("integer", is_integer))
        self.schema = schema
        self._validator = flavoured(schema)
        self._unknown_type = jsonschema.exceptions.UnknownType
        # jsonschema >= 4.18 wraps referencing's Unresolvable; older versions raise RefResolutionError.
        self._unresolvable: type[Exception] = (
            getattr(jsonschema.exceptions, "_RefResolutionError", None)
            or jsonschema.exceptions.RefResolutionError
        )

    def errors(self, instance: Any) -> list[str]:
        """Violations of ``instance`` (already parsed), sorted; empty when it is valid."""
        found: set[str] = set()
        try:
            for error in self._validator.iter_errors(instance):
                found.update(self._describe(error))
        except self._unknown_type as exc:
            found.add(f"schema uses the unknown type {exc.type!r}")
        except self._unresolvable as exc:
            found.add(
                _clip(
                    f"schema reference cannot be resolved ({exc}); only references inside the schema "
                    "are followed, remote ones are never fetched"
                )
            )
        except RecursionError:
            found.add("message nesting too deep to validate")
        return sorted(found)

    @staticmethod
    def _describe(error: Any) -> list[str]:
        path = _path(error.absolute_path)
        instance = error.instance
        if error.validator == "required" and isinstance(instance, Mapping):
            missing = [name for name in error.validator_value if name not in instance]
            return [f"missing required field: {_join(path, str(name))}" for name in missing]
        if error.validator == "type":
            expected = error.validator_value
            wanted = expected if isinstance(expected, str) else " or ".join(map(str, expected))
            where = path or "<root>"
            got = flymq_json_type(instance)
            if got == wanted and isinstance(instance, float):
                got = "number"  # e.g. 1.0 under draft 4, whose integers exclude floats
            return [f"type mismatch at {where}: expected {wanted}, got {got}"]
        if (
            error.validator == "additionalProperties"
            and isinstance(instance, Mapping)
            and "patternProperties" not in error.schema
        ):
            declared = error.schema.get("properties", {})
            extra = [name for name in instance if name not in declared]
            if extra:
                return [f"unexpected field: {_join(path, str(name))}" for name in extra]
        return [_clip(f"{path or '<root>'}: {error.message}")]


@functools.lru_cache(maxsize=256)
def _compile_text(definition: str) -> JsonSchemaChecker:
    try:
        schema = loads_strict(definition)
    except JsonParseError as exc:
        raise ValueError(f"invalid schema definition: {exc}") from None
    if not isinstance(schema, dict):
        raise ValueError(
            "invalid schema definition: a FlyMQ JSON schema must be a JSON object, "
            f"not {flymq_json_type(schema)}"
        )
    return JsonSchemaChecker(schema)


def compile_json_schema(definition: str | bytes | Mapping[str, Any]) -> JsonSchemaChecker:
    """Compile (and cache, for text definitions) a JSON schema.

    Raises ``ValueError("invalid schema definition: ...")`` when the definition is not a JSON object
    or not a valid schema of its draft, and ``MissingExtraError`` without ``jsonschema``.
    """
    if isinstance(definition, Mapping):
        return JsonSchemaChecker(definition)
    if isinstance(definition, (bytes, bytearray, memoryview)):
        try:
            definition = bytes(definition).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ValueError(f"invalid schema definition: invalid UTF-8 at byte {exc.start}") from None
    return _compile_text(definition)


def validate_json(
    checker: JsonSchemaChecker, data: bytes | bytearray | memoryview, *, require_object: bool
) -> list[str]:
    """Parse ``data`` strictly and validate it; the list of errors (empty = valid)."""
    try:
        instance = loads_strict(data)
    except JsonParseError as exc:
        return [f"invalid JSON message: {exc}"]
    if require_object and not isinstance(instance, dict):
        return [f"invalid JSON message: expected a JSON object, got {flymq_json_type(instance)}"]
    return checker.errors(instance)
