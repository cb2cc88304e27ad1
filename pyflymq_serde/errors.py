"""The one error type the codecs add to ``pyflymq_core.errors``.

A codec that cannot turn a value into bytes (or bytes back into a value) raises
:class:`SerializationError`; a value that is well-formed but violates a schema raises
``pyflymq_core.errors.SchemaValidationError`` instead, so callers can tell "garbage" from
"valid data of the wrong shape".
"""

from __future__ import annotations

from pyflymq_core.errors import FlyMQError

__all__ = ["SerializationError"]


class SerializationError(FlyMQError, ValueError):
    """A codec could not serialize a value or deserialize a record.

    ``codec`` names the codec; ``direction`` is ``"serialize"`` or ``"deserialize"``.
    """

    default_hint = (
        "Check that producer and consumer use the same codec (and schema) for this topic, and that the "
        "value has the type the codec expects."
    )

    codec: str
    direction: str

    def __init__(
        self,
        message: str,
        *,
        codec: str,
        direction: str,
        hint: str | None = None,
        server_message: str | None = None,
    ) -> None:
        super().__init__(message, hint=hint, server_message=server_message)
        self.codec = codec
        self.direction = direction
