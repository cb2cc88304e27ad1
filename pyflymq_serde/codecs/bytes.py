"""The ``bytes`` codec: values are already bytes and pass through unchanged.

It exists so that "no serialization" is a codec like any other (``serializer="bytes"``), and it
accepts the other buffer types (``bytearray``, ``memoryview``) by copying them into ``bytes``.
"""

from __future__ import annotations

from typing import Any

from pyflymq_core.errors import InvalidArgumentTypeError
from pyflymq_serde.codecs.base import BaseCodec, record_bytes

__all__ = ["BytesCodec"]


class BytesCodec(BaseCodec):
    """Identity codec for ``bytes`` (``bytearray``/``memoryview`` are copied to ``bytes``)."""

    name = "bytes"
    content_type = "application/octet-stream"

    def serialize(self, obj: Any) -> bytes:
        """Pass bytes through; anything else is refused rather than guessed at (no implicit ``str()``)."""
        if type(obj) is bytes:
            return obj
        if isinstance(obj, (bytes, bytearray, memoryview)):
            return bytes(obj)
        raise InvalidArgumentTypeError(
            f"the bytes codec serializes bytes, bytearray or memoryview, not {type(obj).__name__}",
            hint="Encode the value first, or choose a codec for it (serializer='string', 'json', ...).",
        )

    def deserialize(self, data: bytes) -> bytes:
        """The record's bytes as an immutable ``bytes`` (a view is copied so it outlives the buffer)."""
        return data if type(data) is bytes else bytes(record_bytes(data, self.name))
