"""The three error-frame encodings that share opcode 0xFF, decoded to one shape (spec §6.1-6.2).

``raw_unflagged``: flags 0x00, the payload is the text. ``coded``: flags 0x01, ``i32 code`` (always 1)
then a ``u16`` string. ``raw_flagged``: flags 0x01, the payload is the text. A flags-0x01 payload is
``coded`` exactly when ``6 + u16 length == payload length`` and the code is 1.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from typing import Any

from pyflymq_core.errors import ProtocolError
from pyflymq_core.protocol.constants import FLAG_BINARY, OpCode

RAW_UNFLAGGED = "raw_unflagged"
CODED = "coded"
RAW_FLAGGED = "raw_flagged"
ERROR_ENCODINGS = (RAW_UNFLAGGED, CODED, RAW_FLAGGED)

_CODED_HEAD = struct.Struct(">iH")


def decode_error_payload(flags: int, payload: bytes) -> dict[str, Any]:
    """Decode any 0xFF payload to ``{"error_encoding", "message"[, "code"]}``."""
    if flags & FLAG_BINARY:
        if len(payload) >= 6:
            code, length = _CODED_HEAD.unpack_from(payload)
            if code == 1 and 6 + length == len(payload):
                return {"error_encoding": CODED, "code": code, "message": _text(payload[6:])}
        return {"error_encoding": RAW_FLAGGED, "message": _text(payload)}
    return {"error_encoding": RAW_UNFLAGGED, "message": _text(payload)}


def encode_error_payload(fields: Mapping[str, Any]) -> tuple[int, int, bytes]:
    """Encode the error shape back to ``(0xFF, flags, payload)``."""
    try:
        encoding = fields.get("error_encoding", RAW_UNFLAGGED)
        text = str(fields["message"]).encode("utf-8", "surrogateescape")
    except KeyError:
        raise ProtocolError("error frame: missing field 'message'") from None
    if encoding == RAW_UNFLAGGED:
        return OpCode.ERROR, 0x00, text
    if encoding == RAW_FLAGGED:
        return OpCode.ERROR, FLAG_BINARY, text
    if encoding == CODED:
        if len(text) > 0xFFFF:
            raise ProtocolError("error frame: coded message longer than 65535 bytes")
        code = int(fields.get("code", 1))
        return OpCode.ERROR, FLAG_BINARY, _CODED_HEAD.pack(code, len(text)) + text
    raise ProtocolError(f"error frame: unknown error_encoding {encoding!r}")


def _text(data: bytes) -> str:
    return data.decode("utf-8", "surrogateescape")
