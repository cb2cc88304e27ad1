"""Load the project's copy of the golden transcripts and convert their JSON fields to codec shapes.

The transcripts write byte fields as lowercase hex; the codec uses ``bytes``. Which fields are bytes
depends on the opcode and direction, so the conversion is driven by the layouts themselves.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pyflymq_core.protocol import request_layout, response_layout
from pyflymq_core.protocol.types import Bytes, ListOf, Sized, Struct, WireType

TRANSCRIPTS_DIR = Path(__file__).resolve().parent.parent / "transcripts"


@dataclass(frozen=True)
class Exchange:
    file: str
    scenario: str
    step: int
    profile: str
    data: dict[str, Any]

    @property
    def id(self) -> str:
        return f"{self.scenario}#{self.step}"

    @property
    def request(self) -> dict[str, Any]:
        return self.data["request"]  # type: ignore[no-any-return]

    @property
    def response(self) -> dict[str, Any]:
        return self.data["response"]  # type: ignore[no-any-return]


def iter_exchanges() -> Iterator[Exchange]:
    for path in sorted(TRANSCRIPTS_DIR.glob("*.jsonl")):
        for line in path.read_text().splitlines():
            if line.strip():
                d = json.loads(line)
                yield Exchange(path.name, d["scenario"], d["step"], d["server_profile"], d)


def _convert(t: WireType, value: Any, to_bytes: bool) -> Any:
    if isinstance(t, Bytes):
        if to_bytes:
            return bytes.fromhex(value)
        return value.hex()
    if isinstance(t, ListOf):
        return [_convert(t.item, v, to_bytes) for v in value]
    if isinstance(t, Sized):
        return _convert(t.inner, value, to_bytes)
    if isinstance(t, Struct):
        out = dict(value)
        for f in t.fields:
            if f.name in out:
                out[f.name] = _convert(f.type, out[f.name], to_bytes)
        return out
    return value


def request_fields_to_codec(op: int, fields: dict[str, Any]) -> dict[str, Any]:
    clean = {k: v for k, v in fields.items() if not k.startswith("_")}
    return _convert(request_layout(op).struct, clean, True)  # type: ignore[no-any-return]


def response_fields_to_codec(op: int, fields: dict[str, Any]) -> dict[str, Any]:
    if "error_encoding" in fields:
        return dict(fields)
    return _convert(response_layout(op).struct, fields, True)  # type: ignore[no-any-return]
