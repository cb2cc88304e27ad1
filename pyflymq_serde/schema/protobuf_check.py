"""Protobuf validation without a compiled schema: a strict wire-format scan, plus a full parse when
the caller supplies the generated message class.

Why only a scan: a registry schema is ``.proto`` *text*, and turning it into a message class needs
``protoc`` (or a .proto parser), which pyflymq does not ship.  The server does not use the definition
either (spec §9.4): it only checks that the bytes scan as protobuf wire format.  Our scan is the
standard one (protobuf's own rules), stricter than the server's on purpose:

* field number 0 and numbers above 2^29-1 are invalid;
* a varint has at most 10 bytes and fits in 64 bits;
* start/end-group markers must pair up (the server skips them without checking);
* an empty message is invalid (``empty message``), as on the server, even though an all-defaults
  message legitimately serializes to no bytes.

With ``message_class`` the bytes must also parse as that message (``FromString``) with every proto2
``required`` field set.
"""

from __future__ import annotations

from typing import Any

from pyflymq_serde._deps import require

__all__ = ["validate_protobuf", "wire_errors"]

_MAX_FIELD = (1 << 29) - 1


class _Invalid(Exception):
    pass


def _varint(data: bytes, pos: int, what: str) -> tuple[int, int]:
    result = shift = 0
    for i in range(10):
        if pos + i >= len(data):
            raise _Invalid(f"truncated {what} at position {pos}")
        byte = data[pos + i]
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            if result >= 1 << 64:
                raise _Invalid(f"{what} overflows 64 bits at position {pos}")
            return result, pos + i + 1
        shift += 7
    raise _Invalid(f"{what} longer than 10 bytes at position {pos}")


def _scan(data: bytes) -> None:
    pos, end = 0, len(data)
    groups: list[int] = []
    while pos < end:
        start = pos
        tag, pos = _varint(data, pos, "tag")
        field, wire_type = tag >> 3, tag & 7
        if not 1 <= field <= _MAX_FIELD:
            raise _Invalid(f"invalid field number {field} at position {start}")
        if wire_type == 0:
            _, pos = _varint(data, pos, "varint value")
        elif wire_type == 1:
            if pos + 8 > end:
                raise _Invalid(f"truncated 64-bit value at position {pos}")
            pos += 8
        elif wire_type == 2:
            length, pos = _varint(data, pos, "length")
            if length > end - pos:
                raise _Invalid(f"truncated length-delimited value at position {pos}")
            pos += length
        elif wire_type == 5:
            if pos + 4 > end:
                raise _Invalid(f"truncated 32-bit value at position {pos}")
            pos += 4
        elif wire_type == 3:
            groups.append(field)
        elif wire_type == 4:
            if not groups or groups.pop() != field:
                raise _Invalid(f"unmatched end-group for field {field} at position {start}")
        else:
            raise _Invalid(f"unknown wire type {wire_type} at position {start}")
    if groups:
        raise _Invalid(f"unterminated group for field {groups[-1]}")


def wire_errors(data: bytes) -> list[str]:
    """Wire-format violations of ``data`` (empty list = well-formed, including empty data)."""
    try:
        _scan(data)
    except _Invalid as exc:
        return [f"invalid Protobuf wire format: {exc}"]
    return []


def parse_errors(message_class: Any, data: bytes) -> list[str]:
    """Errors parsing ``data`` as ``message_class`` (needs the ``protobuf`` package)."""
    require("google.protobuf", extra="protobuf", feature="Protobuf")
    message_module = require("google.protobuf.message", extra="protobuf", feature="Protobuf")
    try:
        message = message_class.FromString(data)
    except message_module.DecodeError as exc:
        return [f"invalid {message_class.DESCRIPTOR.full_name}: {exc}"]
    if not message.IsInitialized():
        missing = ", ".join(message.FindInitializationErrors())
        return [f"invalid {message_class.DESCRIPTOR.full_name}: missing required fields: {missing}"]
    return []


def validate_protobuf(data: bytes, message_class: Any = None) -> list[str]:
    """Server-compatible checks, then (with ``message_class``) a full parse."""
    if not data:
        return ["empty message"]
    errors = wire_errors(data)
    if errors or message_class is None:
        return errors
    return parse_errors(message_class, data)
