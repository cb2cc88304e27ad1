"""Avro schemas and strict validation of Avro binary values (fastavro, plus FlyMQ's decoder limits).

The server (hamba/avro) checks that a message *starts with* a decodable Avro binary value of the latest
schema version; trailing bytes are ignored (spec §9.4).  Locally we require the whole message to be
exactly one value, which is stricter on purpose: a producer that appends garbage has a bug.  To never
accept what the server rejects we also enforce the decoder rules fastavro is lenient about:

* a ``boolean`` byte must be 0 or 1;
* an ``int`` varint has at most 5 bytes and a ``long`` at most 10 (we also reject values outside
  int32/int64, which hamba silently truncates);
* ``bytes``/``string`` lengths must not be negative, and ``bytes``/``string``/``fixed`` values and
  ``array``/``map`` item counts must not exceed 1 MiB / 1 048 576 (hamba's defaults);
* union and enum indexes must be in range; an empty message is invalid (``empty message``);
* a schema that is not JSON is read as a bare type name, as hamba does (``int`` is a schema).

Schemas are parsed with ``fastavro.parse_schema`` after a lint pass for Avro-spec rules fastavro does
not enforce (name syntax, unique field names, no duplicate or nested union branches, ``fixed`` size).
"""

from __future__ import annotations

import functools
import io
import json
import re
from collections.abc import Mapping
from typing import Any

from pyflymq_serde._deps import require

__all__ = ["AvroSchemaError", "parse_avro_schema", "validate_avro"]

#: hamba/avro's default ``MaxByteSliceSize`` and collection limits.
MAX_BYTES = 1_048_576
MAX_ITEMS = 1_048_576

_PRIMITIVES = frozenset({"null", "boolean", "int", "long", "float", "double", "bytes", "string"})
_NAMED = frozenset({"record", "error", "enum", "fixed"})
_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


class AvroSchemaError(ValueError):
    """The definition is not a valid Avro schema."""


class _Invalid(Exception):
    """The message is not a valid Avro binary value (internal)."""


# --------------------------------------------------------------------------- schema parsing


def _check_name(name: Any, what: str) -> None:
    if not isinstance(name, str) or not all(_NAME_RE.match(part) for part in name.split(".")):
        raise AvroSchemaError(f"invalid {what} name {name!r}")


def _fullname(name: str, namespace: str) -> str:
    return name if "." in name or not namespace else f"{namespace}.{name}"


def _branch_key(node: Any, namespace: str) -> str:
    if isinstance(node, str):
        return node if node in _PRIMITIVES else _fullname(node, namespace)
    if isinstance(node, Mapping):
        kind = node.get("type")
        if kind in _NAMED:
            ns = node.get("namespace", namespace) or ""
            return _fullname(str(node.get("name")), ns)
        return str(kind) if isinstance(kind, str) else json.dumps(kind, sort_keys=True)
    return "union"


def _lint(node: Any, namespace: str = "") -> None:
    """Avro-spec rules that fastavro's parser does not enforce."""
    if isinstance(node, list):
        seen: set[str] = set()
        for branch in node:
            if isinstance(branch, list):
                raise AvroSchemaError("a union may not immediately contain another union")
            key = _branch_key(branch, namespace)
            if key in seen:
                raise AvroSchemaError(f"duplicate type {key!r} in union")
            seen.add(key)
            _lint(branch, namespace)
        return
    if not isinstance(node, Mapping):
        return
    kind = node.get("type")
    if kind in _NAMED:
        _check_name(node.get("name"), f"{kind}")
        ns = node.get("namespace", namespace)
        if ns:
            _check_name(ns, "namespace")
        name = str(node["name"])
        namespace = name.rpartition(".")[0] if "." in name else (ns or "")
    if kind in ("record", "error"):
        fields = node.get("fields")
        if not isinstance(fields, list):
            raise AvroSchemaError(f"record {node.get('name')!r} must have a list of fields")
        names: set[str] = set()
        for field in fields:
            if not isinstance(field, Mapping):
                raise AvroSchemaError(f"record {node.get('name')!r} has a field that is not an object")
            _check_name(field.get("name"), "field")
            if field["name"] in names:
                raise AvroSchemaError(
                    f"duplicate field name {field['name']!r} in record {node.get('name')!r}"
                )
            names.add(field["name"])
            _lint(field.get("type"), namespace)
    elif kind == "fixed":
        size = node.get("size")
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise AvroSchemaError(f"fixed {node.get('name')!r} needs a non-negative integer size")
    elif kind == "array":
        _lint(node.get("items"), namespace)
    elif kind == "map":
        _lint(node.get("values"), namespace)
    elif isinstance(kind, (list, Mapping)):
        _lint(kind, namespace)


def _load_definition(definition: str) -> Any:
    try:
        return json.loads(definition)
    except ValueError:
        # hamba/avro reads a definition that is not JSON as a bare type name ("int" is a schema).
        name = definition.strip()
        if name in _PRIMITIVES:
            return name
        raise AvroSchemaError(f"unknown type: {name[:80]}") from None


@functools.lru_cache(maxsize=256)
def _parse_text(definition: str) -> Any:
    return _parse_obj(_load_definition(definition))


def _parse_obj(schema: Any) -> Any:
    fastavro = require("fastavro", extra="avro", feature="Avro")
    _lint(schema)
    try:
        return fastavro.parse_schema(schema)
    except Exception as exc:  # fastavro raises SchemaParseException, UnknownType, TypeError, ...
        raise AvroSchemaError(f"{type(exc).__name__}: {exc}") from None


def parse_avro_schema(definition: str | bytes | bytearray | Mapping[str, Any] | list[Any]) -> Any:
    """Parse an Avro schema (JSON text, bytes, or an already-loaded dict/list) for fastavro.

    Text definitions are cached.  Raises :class:`AvroSchemaError` (a ``ValueError``) for invalid
    schemas and ``MissingExtraError`` when fastavro is not installed.
    """
    if isinstance(definition, (bytes, bytearray)):
        try:
            definition = bytes(definition).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise AvroSchemaError(f"schema is not UTF-8 (byte {exc.start})") from None
    if isinstance(definition, str):
        return _parse_text(definition)
    if isinstance(definition, Mapping) and definition.get("__fastavro_parsed"):
        return definition
    return _parse_obj(definition)


# --------------------------------------------------------------------------- strict binary walk


def _collect_named(node: Any, out: dict[str, Any]) -> None:
    if isinstance(node, list):
        for branch in node:
            _collect_named(branch, out)
    elif isinstance(node, Mapping):
        kind = node.get("type")
        if kind in _NAMED and isinstance(node.get("name"), str):
            out.setdefault(node["name"], node)
        if kind in ("record", "error"):
            for field in node.get("fields", ()):
                _collect_named(field.get("type"), out)
        elif kind == "array":
            _collect_named(node.get("items"), out)
        elif kind == "map":
            _collect_named(node.get("values"), out)
        elif isinstance(kind, (list, Mapping)):
            _collect_named(kind, out)


class _Walker:
    """Walks one Avro binary value against a parsed schema, enforcing the decoder limits above."""

    __slots__ = ("data", "named", "pos")

    def __init__(self, data: bytes, named: dict[str, Any]) -> None:
        self.data = data
        self.named = named
        self.pos = 0

    def _varint(self, max_bytes: int, what: str) -> int:
        data, pos = self.data, self.pos
        result = shift = 0
        for i in range(max_bytes):
            if pos + i >= len(data):
                raise _Invalid(f"unexpected end of data reading {what} at byte {pos}")
            byte = data[pos + i]
            result |= (byte & 0x7F) << shift
            if not byte & 0x80:
                self.pos = pos + i + 1
                return result
            shift += 7
        raise _Invalid(f"{what} varint longer than {max_bytes} bytes at byte {pos}")

    def read_int(self, what: str = "int") -> int:
        raw = self._varint(5, what)
        if raw >= 1 << 32:
            raise _Invalid(f"{what} out of the 32-bit range at byte {self.pos}")
        return (raw >> 1) ^ -(raw & 1)

    def read_long(self, what: str = "long") -> int:
        raw = self._varint(10, what)
        if raw >= 1 << 64:
            raise _Invalid(f"{what} out of the 64-bit range at byte {self.pos}")
        return (raw >> 1) ^ -(raw & 1)

    def skip(self, size: int, what: str) -> None:
        if self.pos + size > len(self.data):
            raise _Invalid(f"unexpected end of data: {what} needs {size} bytes at byte {self.pos}")
        self.pos += size

    def read_sized(self, what: str) -> None:
        size = self.read_long(f"{what} length")
        if size < 0:
            raise _Invalid(f"negative {what} length {size} at byte {self.pos}")
        if size > MAX_BYTES:
            raise _Invalid(f"{what} of {size} bytes exceeds the server's {MAX_BYTES}-byte limit")
        self.skip(size, what)

    def read_blocks(self, schema: Any, is_map: bool) -> None:
        total = 0
        while True:
            count = self.read_long("block count")
            if count == 0:
                return
            if count < 0:
                count = -count
                self.read_long("block size")
            total += count
            if total > MAX_ITEMS:
                raise _Invalid(f"more than {MAX_ITEMS} items in one array or map")
            for _ in range(count):
                if is_map:
                    self.read_sized("map key")
                self.walk(schema)

    def walk(self, schema: Any) -> None:
        if isinstance(schema, str):
            self.walk_primitive(schema)
        elif isinstance(schema, list):
            index = self.read_long("union index")
            if not 0 <= index < len(schema):
                raise _Invalid(f"union index {index} out of range (union of {len(schema)})")
            self.walk(schema[index])
        else:
            kind = schema["type"]
            if kind in ("record", "error"):
                for field in schema["fields"]:
                    self.walk(field["type"])
            elif kind == "enum":
                index = self.read_int("enum index")
                if not 0 <= index < len(schema["symbols"]):
                    raise _Invalid(f"enum index {index} out of range ({len(schema['symbols'])} symbols)")
            elif kind == "fixed":
                size = schema["size"]
                if size > MAX_BYTES:
                    raise _Invalid(f"fixed of {size} bytes exceeds the server's {MAX_BYTES}-byte limit")
                self.skip(size, "fixed")
            elif kind == "array":
                self.read_blocks(schema["items"], is_map=False)
            elif kind == "map":
                self.read_blocks(schema["values"], is_map=True)
            else:
                self.walk(kind)

    def walk_primitive(self, name: str) -> None:
        if name == "null":
            return
        if name == "boolean":
            self.skip(1, "boolean")
            if self.data[self.pos - 1] > 1:
                raise _Invalid(f"invalid boolean byte 0x{self.data[self.pos - 1]:02x} at byte {self.pos - 1}")
        elif name == "int":
            self.read_int()
        elif name == "long":
            self.read_long()
        elif name == "float":
            self.skip(4, "float")
        elif name == "double":
            self.skip(8, "double")
        elif name in ("bytes", "string"):
            self.read_sized(name)
        else:
            named = self.named.get(name)
            if named is None:
                raise _Invalid(f"schema refers to the unknown type {name!r}")
            self.walk(named)


def strict_errors(parsed: Any, data: bytes) -> list[str]:
    """Decoder-limit violations of ``data`` as one value of ``parsed`` (empty = well-formed)."""
    named: dict[str, Any] = {}
    _collect_named(parsed, named)
    walker = _Walker(data, named)
    try:
        walker.walk(parsed)
    except _Invalid as exc:
        return [f"Avro validation failed: {exc}"]
    except RecursionError:
        return ["Avro validation failed: value nested too deeply"]
    if walker.pos != len(data):
        return [
            f"Avro validation failed: {len(data) - walker.pos} trailing bytes after the value "
            "(the server ignores them; pyflymq does not)"
        ]
    return []


def validate_avro(parsed: Any, data: bytes) -> list[str]:
    """Validate ``data`` as exactly one Avro binary value of the parsed schema."""
    if not data:
        return ["empty message"]
    errors = strict_errors(parsed, data)
    if errors:
        return errors
    fastavro = require("fastavro", extra="avro", feature="Avro")
    buffer = io.BytesIO(data)
    try:
        fastavro.schemaless_reader(buffer, parsed, None)
    except Exception as exc:  # fastavro raises EOFError, ValueError, UnicodeDecodeError, ...
        return [f"Avro validation failed: {type(exc).__name__}: {exc}"]
    if buffer.tell() != len(data):
        return [f"Avro validation failed: {len(data) - buffer.tell()} trailing bytes after the value"]
    return []
