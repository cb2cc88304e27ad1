"""Just enough Avro to reproduce the server's check: parse a schema, decode a binary prefix.

The server (hamba/avro) accepts a message when the bytes decode as Avro binary under the latest
schema; trailing bytes are not detected. Supported: all primitives, records, enums, arrays, maps,
unions, fixed, named references (recursive types included). Logical types decode as their
underlying type, which is all a decode check needs. Error texts follow hamba's shape
(``avro: unknown type: <name>``, ``map[string]interface {}: unexpected EOF``); texts for rarer
failures are close approximations (listed in docs/broker.md).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

__all__ = ["AvroError", "AvroSchema", "decode_prefix", "parse_schema"]

PRIMITIVES = ("null", "boolean", "int", "long", "float", "double", "bytes", "string")
_GO_TYPES = {
    "null": "interface {}",
    "boolean": "bool",
    "int": "int",
    "long": "int64",
    "float": "float32",
    "double": "float64",
    "bytes": "[]uint8",
    "string": "string",
    "record": "map[string]interface {}",
    "error": "map[string]interface {}",
    "enum": "string",
    "array": "[]interface {}",
    "map": "map[string]interface {}",
    "union": "interface {}",
}
_MAX_DEPTH = 512


class AvroError(ValueError):
    """A schema or decode failure; ``str()`` is the text the server would report."""


@dataclass
class AvroSchema:
    """A parsed schema node. ``kind`` is a primitive name or a complex type name."""

    kind: str
    name: str = ""
    fields: list[AvroSchema] = field(default_factory=list)
    items: AvroSchema | None = None
    branches: list[AvroSchema] = field(default_factory=list)
    symbols: int = 0
    size: int = 0
    #: For named references: resolved lazily so recursive types work.
    ref: str = ""
    registry: dict[str, AvroSchema] | None = None

    def resolve(self) -> AvroSchema:
        """The node a named reference stands for (itself for any other node).

        References resolve lazily so that recursive types need no cycle in the parsed tree.
        """
        if self.kind != "ref":
            return self
        assert self.registry is not None
        return self.registry[self.ref]

    @property
    def go_type(self) -> str:
        """The Go type name the server's validator prints for this node, so error texts match."""
        node = self.resolve()
        if node.kind == "fixed":
            return f"[{node.size}]uint8"
        return _GO_TYPES.get(node.kind, "interface {}")


def parse_schema(text: str) -> AvroSchema:
    """Parse like ``avro.Parse``: JSON when it is JSON, else the whole text is a type name."""
    try:
        data: Any = json.loads(text)
    except ValueError:
        data = text
    registry: dict[str, AvroSchema] = {}
    return _parse(data, "", registry, 0)


def _full_name(name: str, namespace: str) -> str:
    if "." in name or not namespace:
        return name
    return f"{namespace}.{name}"


def _parse(data: Any, namespace: str, registry: dict[str, AvroSchema], depth: int) -> AvroSchema:
    if depth > _MAX_DEPTH:
        raise AvroError("avro: schema nesting too deep")
    if isinstance(data, str):
        if data in PRIMITIVES:
            return AvroSchema(data)
        full = _full_name(data, namespace)
        for candidate in (full, data):
            if candidate in registry:
                return AvroSchema("ref", ref=candidate, registry=registry)
        raise AvroError(f"avro: unknown type: {data}")
    if isinstance(data, list):
        branches = [_parse(item, namespace, registry, depth + 1) for item in data]
        return AvroSchema("union", branches=branches)
    if not isinstance(data, dict):
        raise AvroError(f"avro: unknown type: {data}")
    kind = data.get("type")
    if isinstance(kind, (dict, list)):
        return _parse(kind, namespace, registry, depth + 1)
    if not isinstance(kind, str):
        raise AvroError("avro: missing type")
    if kind in PRIMITIVES:
        return AvroSchema(kind)
    if kind in ("record", "error"):
        return _parse_record(data, kind, namespace, registry, depth)
    if kind == "enum":
        name = _named(data, namespace)
        symbols = data.get("symbols")
        if not isinstance(symbols, list) or not all(isinstance(s, str) for s in symbols):
            raise AvroError(f"avro: enum {name} must have an array of symbols")
        node = AvroSchema("enum", name=name, symbols=len(symbols))
        registry[name] = node
        return node
    if kind == "fixed":
        name = _named(data, namespace)
        size = data.get("size")
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise AvroError(f"avro: fixed {name} must have a valid size")
        node = AvroSchema("fixed", name=name, size=size)
        registry[name] = node
        return node
    if kind == "array":
        if "items" not in data:
            raise AvroError("avro: array must have an items key")
        return AvroSchema("array", items=_parse(data["items"], namespace, registry, depth + 1))
    if kind == "map":
        if "values" not in data:
            raise AvroError("avro: map must have an values key")
        return AvroSchema("map", items=_parse(data["values"], namespace, registry, depth + 1))
    return _parse(kind, namespace, registry, depth + 1)


def _named(data: dict[str, Any], namespace: str) -> str:
    name = data.get("name")
    if not isinstance(name, str) or not name:
        raise AvroError("avro: name key required")
    ns = data.get("namespace")
    return _full_name(name, ns if isinstance(ns, str) and ns else namespace)


def _parse_record(
    data: dict[str, Any], kind: str, namespace: str, registry: dict[str, AvroSchema], depth: int
) -> AvroSchema:
    name = _named(data, namespace)
    node = AvroSchema(kind, name=name)
    registry[name] = node
    inner_ns = name.rpartition(".")[0]
    fields = data.get("fields")
    if not isinstance(fields, list):
        raise AvroError(f"avro: record {name} must have an array of fields")
    for entry in fields:
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            raise AvroError(f"avro: record {name} has a field without a name")
        if "type" not in entry:
            raise AvroError(f"avro: field {entry['name']} has no type")
        node.fields.append(_parse(entry["type"], inner_ns, registry, depth + 1))
    return node


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise AvroError("unexpected EOF")
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out

    def varint(self, max_bytes: int, what: str) -> int:
        result = 0
        shift = 0
        for i in range(max_bytes):
            if self.pos >= len(self.data):
                raise AvroError("unexpected EOF")
            b = self.data[self.pos]
            self.pos += 1
            result |= (b & 0x7F) << shift
            if b < 0x80:
                return (result >> 1) ^ -(result & 1)
            shift += 7
            if i == max_bytes - 1:
                break
        raise AvroError(f"avro: {what} overflow")


def decode_prefix(schema: AvroSchema, data: bytes) -> None:
    """Decode one datum from the start of ``data``; raise :class:`AvroError` when that fails."""
    reader = _Reader(data)
    try:
        _read(schema, reader, 0)
    except AvroError as exc:
        raise AvroError(f"{schema.go_type}: {exc}") from None


def _read(schema: AvroSchema, r: _Reader, depth: int) -> None:
    if depth > _MAX_DEPTH:
        raise AvroError("avro: max recursion depth reached")
    node = schema.resolve()
    kind = node.kind
    if kind == "null":
        return
    if kind == "boolean":
        if r.take(1)[0] > 1:
            raise AvroError("avro: invalid bool")
    elif kind in ("int", "enum"):
        value = r.varint(5, "int")
        if kind == "enum" and not 0 <= value < node.symbols:
            raise AvroError(f"avro: unknown enum symbol index {value}")
    elif kind == "long":
        r.varint(10, "long")
    elif kind == "float":
        r.take(4)
    elif kind == "double":
        r.take(8)
    elif kind in ("bytes", "string"):
        length = r.varint(10, "long")
        if length < 0:
            raise AvroError(f"avro: invalid {kind} length: {length}")
        r.take(length)
    elif kind == "fixed":
        r.take(node.size)
    elif kind in ("record", "error"):
        for field_schema in node.fields:
            _read(field_schema, r, depth + 1)
    elif kind in ("array", "map"):
        assert node.items is not None
        while True:
            count = r.varint(10, "long")
            if count == 0:
                break
            if count < 0:
                r.varint(10, "long")  # block size in bytes
                count = -count
            for _ in range(count):
                before = r.pos
                if kind == "map":
                    length = r.varint(10, "long")
                    if length < 0:
                        raise AvroError(f"avro: invalid string length: {length}")
                    r.take(length)
                _read(node.items, r, depth + 1)
                if r.pos == before:
                    break  # zero-width items (null, empty record): the rest of the block is the same
    elif kind == "union":
        index = r.varint(10, "long")
        if not 0 <= index < len(node.branches):
            raise AvroError(f"avro: unknown union index {index}")
        _read(node.branches[index], r, depth + 1)
    else:  # pragma: no cover - the parser produces no other kinds
        raise AvroError(f"avro: unsupported type {kind}")
