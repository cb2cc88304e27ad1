"""Talk to a :class:`~pyflymq_broker.Broker` with field dicts instead of bytes.

For tests of the broker itself and for debugging: ``DirectClient(broker).call(OpCode.PRODUCE,
topic="t", key=b"", value=b"x", partition=-1)`` encodes the request with the protocol core, runs
it through a :class:`~pyflymq_broker.Session` (framing included) and decodes the answer; an error
frame decodes to ``{"error_encoding", "message"[, "code"]}``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pyflymq_core.protocol import FrameParser, decode_response, encode_frame, encode_request

if TYPE_CHECKING:
    from pyflymq_broker.broker import Broker

__all__ = ["DirectClient"]


class DirectClient:
    """One connection (session) to ``broker``, driven with decoded fields."""

    def __init__(self, broker: Broker, client_addr: str | None = None) -> None:
        self.broker = broker
        self.session = broker.open_session(client_addr=client_addr)
        self._parser = FrameParser()

    def call(self, op: int, fields: dict[str, Any] | None = None, /, **kwargs: Any) -> dict[str, Any]:
        """Send one request through the framing layer and return the decoded response fields."""
        payload = encode_request(op, {**(fields or {}), **kwargs})
        return self.call_raw(op, payload)

    def call_raw(self, op: int, payload: bytes, flags: int = 0x01) -> dict[str, Any]:
        """Send an already encoded payload (malformed ones included)."""
        result = self.session.feed(encode_frame(op, flags, payload))
        frames = self._parser.feed(result.output)
        if len(frames) != 1:
            raise AssertionError(f"expected one response frame, got {len(frames)} (closed={result.close})")
        frame = frames[0]
        return decode_response(op, frame.op, frame.flags, frame.payload)

    def close(self) -> None:
        """Close the session, so the broker forgets its group membership like a closed connection's."""
        self.session.close()
