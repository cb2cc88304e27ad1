"""What a codec is: the :class:`Codec` protocol every serializer/deserializer satisfies.

A codec turns one Python value into the bytes of one record value and back.  The client never
inspects values itself; ``produce_object(..., serializer=...)`` and the consumers'
``deserializer=`` accept any object with this shape (built-in or from a third-party plugin), so the
protocol is structural (``typing.Protocol``): a plugin does not need to import pyflymq to provide one.

:class:`BaseCodec` is an optional convenience base with the common attributes and a ``repr``.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from pyflymq_core.errors import InvalidArgumentTypeError

__all__ = ["BaseCodec", "Codec", "content_type_of", "record_bytes"]

BytesLike = bytes | bytearray | memoryview


def record_bytes(data: Any, codec: str) -> BytesLike:
    """``data`` if it is the bytes of a record: what every ``deserialize`` takes.  Anything else is
    a call mistake (``None``, a ``str``, an ``int``, which ``bytes()`` would silently turn into
    that many zero bytes), refused with a typed error instead of a ``TypeError`` or a wrong value."""
    if isinstance(data, (bytes, bytearray, memoryview)):
        return data
    raise InvalidArgumentTypeError(
        f"the {codec} codec deserializes a record's bytes, got {type(data).__name__}",
        hint="Pass the record's value (message.value); encode text to bytes first.",
    )


@runtime_checkable
class Codec(Protocol):
    """Structural type of a codec.

    ``name`` identifies the codec in errors and logs (the registry name for built-ins).  A codec may
    also define ``content_type`` (a MIME type such as ``application/json``); read it with
    :func:`content_type_of`, which tolerates its absence.
    """

    name: str

    def serialize(self, obj: Any) -> bytes:
        """Encode ``obj`` as the bytes of a record value."""
        ...

    def deserialize(self, data: bytes) -> Any:
        """Decode the bytes of a record value."""
        ...


def content_type_of(codec: object) -> str | None:
    """The codec's ``content_type`` if it declares one, else ``None``."""
    value = getattr(codec, "content_type", None)
    return value if isinstance(value, str) else None


class BaseCodec:
    """Convenience base for codecs: class-level ``name``/``content_type`` and a readable ``repr``."""

    name: str = "codec"
    content_type: str | None = None

    def serialize(self, obj: Any) -> bytes:
        """Encode ``obj``; subclasses override it (the base raises, so a half-written codec fails loudly)."""
        raise NotImplementedError

    def deserialize(self, data: bytes) -> Any:
        """Decode one record value; subclasses override it (the base raises, like :meth:`serialize`)."""
        raise NotImplementedError

    def _repr_details(self) -> str:
        return ""

    def __repr__(self) -> str:
        details = self._repr_details()
        return f"{type(self).__name__}({details})"
