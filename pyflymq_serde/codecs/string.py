"""The ``string`` codec: text encoded with a fixed encoding (UTF-8 by default)."""

from __future__ import annotations

import codecs
from typing import Any

from pyflymq_core.errors import InvalidArgumentError, InvalidArgumentTypeError
from pyflymq_serde.codecs.base import BaseCodec, record_bytes
from pyflymq_serde.errors import SerializationError

__all__ = ["StringCodec"]


class StringCodec(BaseCodec):
    """``str`` <-> bytes in ``encoding``; undecodable bytes raise ``SerializationError``.

    ``errors`` is the standard codec error handler (``"strict"`` by default, so corrupt data is never
    silently replaced; pass ``"replace"`` to accept it lossily).
    """

    name = "string"

    def __init__(self, encoding: str = "utf-8", errors: str = "strict") -> None:
        try:
            self.encoding = codecs.lookup(encoding).name
            codecs.lookup_error(errors)
        except LookupError as exc:
            raise InvalidArgumentError(
                f"unknown text encoding or error handler: {exc}",
                hint="Use a standard codec name such as 'utf-8' and a handler such as 'strict'.",
            ) from exc
        self.errors = errors
        self.content_type = f"text/plain; charset={self.encoding}"

    def serialize(self, obj: Any) -> bytes:
        """Encode text; non-``str`` values are refused rather than silently ``str()``-ed."""
        if not isinstance(obj, str):
            raise InvalidArgumentTypeError(
                f"the string codec serializes str, not {type(obj).__name__}",
                hint="Pass text, or use serializer='bytes' for raw bytes.",
            )
        try:
            return obj.encode(self.encoding, self.errors)
        except UnicodeEncodeError as exc:
            raise SerializationError(
                f"cannot encode the text as {self.encoding}: {exc.reason} at position {exc.start}",
                codec=self.name,
                direction="serialize",
            ) from exc

    def deserialize(self, data: bytes) -> str:
        """Decode text; undecodable bytes raise (with ``errors="strict"``) instead of becoming U+FFFD."""
        try:
            return bytes(record_bytes(data, self.name)).decode(self.encoding, self.errors)
        except UnicodeDecodeError as exc:
            raise SerializationError(
                f"the record is not valid {self.encoding} text: {exc.reason} at byte {exc.start}",
                codec=self.name,
                direction="deserialize",
                hint="The record was probably written with another codec; consume it with "
                "deserializer='bytes' to inspect it.",
            ) from exc

    def _repr_details(self) -> str:
        return f"encoding={self.encoding!r}"
