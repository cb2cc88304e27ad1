"""Dead-letter-queue records as the server reads them from ``<topic><suffix>`` (spec §9.7).

The server never writes DLQ records itself over the binary protocol; it only reads partition 0 of
the DLQ topic from offset 0 and keeps the records that decode (Go ``json.Unmarshal``) into its
DLQMessage struct. This module reproduces that decode: Go's struct rules are strict about types
(``retry_count`` must be an integer literal, ``payload`` base64, timestamps RFC 3339) and match
field names case-insensitively; a bare ``null`` decodes to an all-zero record.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from typing import Any

from pyflymq_broker import gojson

__all__ = ["DLQRecord", "decode_dlq_record", "encode_dlq_record"]

_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")
_INT64 = (-(2**63), 2**63 - 1)
_UINT64 = (0, 2**64 - 1)


@dataclass(frozen=True)
class DLQRecord:
    """A dead letter as the server's DLQMessage struct holds it (zero values for absent fields)."""

    id: str = ""
    original_topic: str = ""
    original_offset: int = 0
    payload: bytes = b""
    reason: str = ""
    error_message: str = ""
    retry_count: int = 0


_FIELDS = (
    "id",
    "original_topic",
    "original_offset",
    "payload",
    "reason",
    "error_message",
    "retry_count",
    "first_failed_at",
    "last_failed_at",
    "headers",
)


class _Invalid(Exception):
    pass


def decode_dlq_record(value: bytes) -> DLQRecord | None:
    """The record, or ``None`` when Go's unmarshal into DLQMessage would fail (record skipped)."""
    try:
        data = gojson.unmarshal(value, raw_numbers=True)
    except gojson.GoJSONError:
        return None
    if data is None:
        return DLQRecord()
    if not isinstance(data, dict):
        return None
    out: dict[str, Any] = {}
    try:
        for key, raw in data.items():
            name = _match_field(key)
            if name is None or raw is None:
                continue  # unknown fields are ignored; null leaves the zero value
            out[name] = _convert(name, raw)
    except _Invalid:
        return None
    out.pop("first_failed_at", None)
    out.pop("last_failed_at", None)
    out.pop("headers", None)
    return DLQRecord(**out)


def _match_field(key: str) -> str | None:
    if key in _FIELDS:
        return key
    lowered = key.lower()
    for name in _FIELDS:
        if name == lowered:
            return name
    return None


def _integer(raw: Any, bounds: tuple[int, int]) -> int:
    if not isinstance(raw, gojson.GoNumber):
        raise _Invalid
    try:
        number = int(raw)
    except ValueError:
        raise _Invalid from None
    if not bounds[0] <= number <= bounds[1]:
        raise _Invalid
    return number


def _convert(name: str, raw: Any) -> Any:
    if name in ("id", "original_topic", "reason", "error_message"):
        if not isinstance(raw, str) or isinstance(raw, gojson.GoNumber):
            raise _Invalid
        return raw
    if name == "original_offset":
        return _integer(raw, _UINT64)
    if name == "retry_count":
        return _integer(raw, _INT64)
    if name == "payload":
        if not isinstance(raw, str) or isinstance(raw, gojson.GoNumber):
            raise _Invalid
        text = raw.replace("\r", "").replace("\n", "")
        try:
            return base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            raise _Invalid from None
    if name in ("first_failed_at", "last_failed_at"):
        if not isinstance(raw, str) or isinstance(raw, gojson.GoNumber) or not _RFC3339.match(raw):
            raise _Invalid
        return raw
    if name == "headers":
        if not isinstance(raw, dict):
            raise _Invalid
        for item in raw.values():
            if item is not None and (not isinstance(item, str) or isinstance(item, gojson.GoNumber)):
                raise _Invalid
        return raw
    raise _Invalid  # pragma: no cover - _match_field only yields known names


def encode_dlq_record(
    *,
    id: str,
    original_topic: str,
    original_offset: int,
    payload: bytes,
    reason: str,
    error_message: str,
    retry_count: int,
    first_failed_at: str,
    last_failed_at: str,
    headers: dict[str, str] | None = None,
) -> bytes:
    """A record in the exact JSON shape the server's DLQ manager writes (for tests and clients)."""
    doc: dict[str, Any] = {
        "id": id,
        "original_topic": original_topic,
        "original_offset": original_offset,
        "payload": base64.b64encode(payload).decode("ascii"),
        "reason": reason,
        "error_message": error_message,
        "retry_count": retry_count,
        "first_failed_at": first_failed_at,
        "last_failed_at": last_failed_at,
    }
    if headers:
        doc["headers"] = dict(sorted(headers.items()))
    return gojson.marshal(doc).encode("utf-8")
