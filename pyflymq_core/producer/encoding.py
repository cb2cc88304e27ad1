"""Encoding a record into a complete PRODUCE request frame, once, at ``send()`` time.

The PRODUCE payload is ``str topic | bytes key | bytes value | i32 partition`` (spec §8.1; the
partition is ignored by the server and sent as -1).  For the common case — no value encoder, no
compression — the frame comes from the topic's :class:`~pyflymq_core.protocol.fastpath.
ProduceTemplate`, the same precomputed encoder the client's sync ``produce()`` uses (one
``struct`` call, plus a join for a key: well under a microsecond).  Everything else (a value
encoder such as payload encryption, gzip) goes through :func:`pyflymq_core.client.calls.produce`
and the protocol layer's frame encoder.  ``tests/unit/test_producer_encoding.py`` checks that both
paths give the bytes of the core layout.
"""

from __future__ import annotations

from pyflymq_core import validation as v
from pyflymq_core.client import calls
from pyflymq_core.client.calls import ValueEncoder
from pyflymq_core.protocol import OpCode, encode_request_frame
from pyflymq_core.protocol.fastpath import ProduceTemplate

__all__ = ["PRODUCE_OP", "RecordEncoder", "encoder_for"]

PRODUCE_OP = int(OpCode.PRODUCE)


class RecordEncoder:
    """Encodes records for one producer: ``encode(topic, key, value) -> (topic, key_bytes, frame)``.

    Validation is the client's (:func:`pyflymq_core.validation.check_produce`), so a record the
    producer accepts is a record ``client.produce`` would accept, and vice versa.
    """

    def __init__(self, value_encoder: ValueEncoder | None = None, compress: bool = False) -> None:
        self._value_encoder = value_encoder
        self._compress = compress
        #: topic -> its ProduceTemplate (validated topics only); empty when the fast path is off,
        #: so a lookup miss always sends records through full validation.
        self.templates: dict[str, ProduceTemplate] = {}
        self.fast = value_encoder is None and not compress

    def encode(self, topic: str, key: bytes | str | None, value: bytes | str) -> tuple[str, bytes, bytes]:
        """The validated topic name, the key bytes (``b""`` = no key) and the request frame."""
        if self.fast:
            template = self.templates.get(topic)
            if template is not None:
                key_bytes = b"" if key is None else (key if type(key) is bytes else v.to_bytes(key, "key"))
                value_bytes = value if type(value) is bytes else v.to_bytes(value, "value")
                if len(key_bytes) + len(value_bytes) <= template.max_value:
                    frame = (
                        template.frame_keyed(key_bytes, value_bytes)
                        if key_bytes
                        else template.frame(value_bytes)
                    )
                    return topic, key_bytes, frame
            return self._encode_slow(topic, key, value)
        return self._encode_general(topic, key, value)

    def _encode_slow(
        self, topic: str, key: bytes | str | None, value: bytes | str
    ) -> tuple[str, bytes, bytes]:
        """First record of a topic, or a record near the size limit: full validation."""
        name, key_bytes, value_bytes = v.check_produce(topic, key, value)
        if self.fast and name == topic and name not in self.templates:
            template = calls.template_for(name)
            if template is not None:
                self.templates[name] = template
        fields = {"topic": name, "key": key_bytes, "value": value_bytes, "partition": -1}
        payload = calls.PRODUCE.encode(fields)
        return name, key_bytes, encode_request_frame(PRODUCE_OP, payload)

    def _encode_general(
        self, topic: str, key: bytes | str | None, value: bytes | str
    ) -> tuple[str, bytes, bytes]:
        """Through the client's call builder: value encoder (encryption) and gzip apply."""
        call = calls.produce(topic, value, key, encode_value=self._value_encoder, compress=self._compress)
        assert call.topic is not None and call.key is not None
        return call.topic, call.key, encode_request_frame(call.op, call.payload, compress=call.compress)


def encoder_for(client: object) -> RecordEncoder:
    """The encoder matching a client's value seam and compression setting."""
    value_encoder: ValueEncoder | None = getattr(client, "_value_encoder", None)
    compress = bool(getattr(client, "_compress", False))
    return RecordEncoder(value_encoder, compress)
