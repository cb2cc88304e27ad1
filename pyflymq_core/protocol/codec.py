"""Generic, stable entry points over the layout table.

These are what the conformance tests drive, what the broker uses, and what anyone debugging a
capture can call: opcode + dict in, bytes out, and back. Clients use the same compiled layouts
through :func:`request_layout` / :func:`response_layout` without the dict-of-opcode lookup cost.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pyflymq_core.errors import ProtocolError
from pyflymq_core.protocol.constants import FLAG_BINARY, OpCode
from pyflymq_core.protocol.error_frame import decode_error_payload, encode_error_payload
from pyflymq_core.protocol.layouts import LAYOUTS, RESPONSE_OPCODES
from pyflymq_core.protocol.types import CompiledLayout, compile_layout

_REQUESTS: dict[int, CompiledLayout] = {}
_RESPONSES: dict[int, CompiledLayout] = {}


def _op_name(op: int) -> str:
    try:
        return OpCode(op).name
    except ValueError:
        return f"0x{op:02x}"


def request_ops() -> list[int]:
    """Every opcode with a request layout (dispatched by the server or not)."""
    return sorted(LAYOUTS)


def response_ops() -> list[int]:
    """Every opcode the server answers with a normal (non-error) response."""
    return sorted(op for op, (_, response) in LAYOUTS.items() if response is not None)


def request_layout(op: int) -> CompiledLayout:
    """The compiled request layout of ``op`` (compiled on first use: imports stay cheap)."""
    layout = _REQUESTS.get(op)
    if layout is None:
        try:
            request = LAYOUTS[op][0]
        except KeyError:
            raise ProtocolError(f"no request layout for opcode {op} ({_op_name(op)})") from None
        layout = _REQUESTS[op] = compile_layout(f"{_op_name(op)} request", request)
    return layout


def response_layout(op: int) -> CompiledLayout:
    """The compiled layout of the normal response to request ``op``."""
    layout = _RESPONSES.get(op)
    if layout is None:
        response = LAYOUTS.get(op, (None, None))[1]
        if response is None:
            raise ProtocolError(f"opcode {op} ({_op_name(op)}) has no response layout")
        layout = _RESPONSES[op] = compile_layout(f"{_op_name(op)} response", response)
    return layout


def response_opcode(op: int) -> int:
    """The opcode of a normal response to request ``op`` (AUTH answers with 0x71)."""
    return RESPONSE_OPCODES.get(op, op)


def has_handler_layout(op: int) -> bool:
    """Whether ``op`` has a normal response, i.e. the server dispatches it."""
    return LAYOUTS.get(op, (None, None))[1] is not None


def encode_request(op: int, fields: Mapping[str, Any]) -> bytes:
    """Encode the payload of request ``op`` from its fields."""
    return request_layout(op).encode(fields)


def decode_request(op: int, payload: bytes) -> dict[str, Any]:
    """Decode the payload of request ``op``; malformed input raises :class:`ProtocolError`."""
    return request_layout(op).decode(bytes(payload))


def encode_response(op: int, fields: Mapping[str, Any]) -> tuple[int, int, bytes]:
    """Encode the reply to request ``op``: ``(response op, flags, payload)``.

    Fields carrying ``error_encoding`` produce an error frame (op 0xFF) in that encoding.
    """
    if "error_encoding" in fields:
        return encode_error_payload(fields)
    return response_opcode(op), FLAG_BINARY, response_layout(op).encode(fields)


def decode_response(op: int, resp_op: int, flags: int, payload: bytes) -> dict[str, Any]:
    """Decode the reply to request ``op`` that arrived with ``resp_op``/``flags``."""
    if resp_op == OpCode.ERROR:
        return decode_error_payload(flags, bytes(payload))
    expected = response_opcode(op)
    if resp_op != expected:
        raise ProtocolError(
            f"response opcode 0x{resp_op:02x} does not answer request {_op_name(op)}"
            f" (expected 0x{expected:02x}); the connection is out of step"
        )
    return response_layout(op).decode(bytes(payload))
