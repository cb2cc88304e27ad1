"""Encoding a record into a complete PRODUCE request frame, once, at ``send()`` time.

The PRODUCE payload is ``str topic | bytes key | bytes value | i32 partition`` (spec §8.1; the
partition is ignored by the server and sent as -1).  For the common case — no value encoder, no
compression — the frame is built by one ``bytes.join`` of the cached per-topic prefix (header bytes
that do not depend on the record are packed per record, the topic's length-prefixed name is
cached), which costs well under a microsecond.  Everything else (a value encoder such as payload
encryption, gzip) goes through :func:`pyflymq_core.client.calls.produce` and the protocol layer's
frame encoder.  ``tests/unit/test_producer_encoding.py`` checks that both paths give the bytes of
the core layout.
"""

from __future__ import annotations

import struct

from pyflymq_core import validation as v
from pyflymq_core.client import calls
from pyflymq_core.client.calls import ValueEncoder
from pyflymq_core.protocol import FLAG_BINARY, MAGIC, VERSION, OpCode, encode_request_frame

__all__ = ["PRODUCE_OP", "RecordEncoder"]

PRODUCE_OP = int(OpCode.PRODUCE)

pack_u32 = struct.Struct(">I").pack
#: ``u32 key length = 0`` and ``u32 value length`` in one call (keyless records).
pack_u32_pair = struct.Struct(">II").pack
_pack_u16 = struct.Struct(">H").pack
#: Magic, version, opcode PRODUCE, flags (binary): the frame header minus its payload length.
HEADER4 = bytes((MAGIC, VERSION, PRODUCE_OP, FLAG_BINARY))
#: The i32 partition, always -1 (the server ignores it).
TAIL = struct.pack(">i", -1)
#: Payload bytes besides the topic prefix, key and value: two u32 lengths and the i32 partition.
FIXED = 4 + 4 + 4
#: Key + value bytes below which the fast path needs no size check (far below the 32 MiB limit).
MAX_FAST = v.MAX_REQUEST_PAYLOAD - v.STR16_MAX - FIXED - 2


class RecordEncoder:
    """Encodes records for one producer: ``encode(topic, key, value) -> (topic, key_bytes, frame)``.

    Validation is the client's (:func:`pyflymq_core.validation.check_produce`), so a record the
    producer accepts is a record ``client.produce`` would accept, and vice versa.
    """

    def __init__(self, value_encoder: ValueEncoder | None = None, compress: bool = False) -> None:
        self._value_encoder = value_encoder
        self._compress = compress
        #: topic -> ``u16 len + name`` (validated topics only); empty when the fast path is off, so
        #: a lookup miss always sends records through full validation.
        self.prefixes: dict[str, bytes] = {}
        self.fast = value_encoder is None and not compress

    def encode(self, topic: str, key: bytes | str | None, value: bytes | str) -> tuple[str, bytes, bytes]:
        """The validated topic name, the key bytes (``b""`` = no key) and the request frame."""
        if self.fast:
            prefix = self.prefixes.get(topic)
            if prefix is not None:
                key_bytes = b"" if key is None else (key if type(key) is bytes else v.to_bytes(key, "key"))
                value_bytes = value if type(value) is bytes else v.to_bytes(value, "value")
                klen = len(key_bytes)
                vlen = len(value_bytes)
                if klen + vlen < MAX_FAST:
                    size = len(prefix) + klen + vlen + FIXED
                    frame = b"".join(
                        (
                            HEADER4,
                            pack_u32(size),
                            prefix,
                            pack_u32(klen),
                            key_bytes,
                            pack_u32(vlen),
                            value_bytes,
                            TAIL,
                        )
                    )
                    return topic, key_bytes, frame
            return self._encode_slow(topic, key, value)
        return self._encode_general(topic, key, value)

    def _encode_slow(
        self, topic: str, key: bytes | str | None, value: bytes | str
    ) -> tuple[str, bytes, bytes]:
        """First record of a topic, or a record near the size limit: full validation."""
        name, key_bytes, value_bytes = v.check_produce(topic, key, value)
        if self.fast and name == topic and name not in self.prefixes:
            encoded = name.encode("utf-8")
            self.prefixes[name] = _pack_u16(len(encoded)) + encoded
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
