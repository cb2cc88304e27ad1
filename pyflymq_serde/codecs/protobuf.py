"""The ``protobuf`` codec: Protocol Buffers messages in their wire format (the ``protobuf`` extra).

Give it the generated message class.  Without one it can still serialize any message object (and a
registry schema can be used for server-compatible checks), but it cannot deserialize: the bytes do
not say which message they hold, and a ``.proto`` text cannot be compiled without ``protoc``.
With a class, ``dict`` values are accepted too (``json_format.ParseDict``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pyflymq_core.errors import ConfigurationError, InvalidArgumentTypeError, SchemaValidationError
from pyflymq_serde._deps import require
from pyflymq_serde.codecs.base import BaseCodec, record_bytes
from pyflymq_serde.errors import SerializationError

__all__ = ["ProtobufCodec"]


class ProtobufCodec(BaseCodec):
    """Protobuf codec for ``message_class`` (a generated ``google.protobuf.message.Message`` subclass)."""

    name = "protobuf"
    content_type = "application/x-protobuf"

    def __init__(self, message_class: type[Any] | None = None) -> None:
        require("google.protobuf", extra="protobuf", feature="the protobuf codec")
        self._message = require("google.protobuf.message", extra="protobuf", feature="the protobuf codec")
        if message_class is not None and not (
            isinstance(message_class, type) and issubclass(message_class, self._message.Message)
        ):
            raise InvalidArgumentTypeError(
                f"message_class must be a generated protobuf message class, not {message_class!r}",
                hint="Pass the class from your *_pb2 module, e.g. ProtobufCodec(user_pb2.User).",
            )
        self.message_class = message_class

    def serialize(self, obj: Any) -> bytes:
        """Serialize a message of the codec's class (a dict is parsed into one first).

        A wrong message type or unset proto2 required fields raise before sending: the server stores
        protobuf bytes without understanding them, so it could not catch the mistake.
        """
        cls = self.message_class
        if cls is not None and isinstance(obj, Mapping):
            json_format = require(
                "google.protobuf.json_format", extra="protobuf", feature="the protobuf codec"
            )
            try:
                obj = json_format.ParseDict(obj, cls())
            except json_format.ParseError as exc:
                raise SchemaValidationError(
                    f"dict does not match {cls.DESCRIPTOR.full_name}: {exc}", errors=[str(exc)]
                ) from None
        if not isinstance(obj, self._message.Message) or (cls is not None and not isinstance(obj, cls)):
            expected = cls.DESCRIPTOR.full_name if cls is not None else "a protobuf message"
            raise InvalidArgumentTypeError(
                f"the protobuf codec serializes {expected}, not {type(obj).__name__}",
                hint="Pass an instance of the message class the codec was built with.",
            )
        try:
            data: bytes = obj.SerializeToString()
        except self._message.EncodeError as exc:  # proto2 required fields unset
            raise SchemaValidationError(
                f"{obj.DESCRIPTOR.full_name} is incomplete: {exc}",
                errors=list(obj.FindInitializationErrors()) or [str(exc)],
            ) from None
        return data

    def deserialize(self, data: bytes) -> Any:
        """Parse the record as the codec's message class.

        The class is required: protobuf bytes do not say which message they encode.
        """
        cls = self.message_class
        if cls is None:
            raise ConfigurationError(
                "the protobuf codec needs a message class to deserialize",
                hint="Use ProtobufCodec(MyMessage) or resolve_codec(MyMessage); "
                "or consume with deserializer='bytes' and parse the bytes yourself.",
            )
        try:
            message = cls.FromString(bytes(record_bytes(data, self.name)))
        except self._message.DecodeError as exc:
            raise SerializationError(
                f"the record is not a valid {cls.DESCRIPTOR.full_name}: {exc}",
                codec=self.name,
                direction="deserialize",
            ) from exc
        if not message.IsInitialized():  # Python's parser, unlike C++'s, accepts missing required fields
            missing = list(message.FindInitializationErrors())
            raise SchemaValidationError(
                f"the record is an incomplete {cls.DESCRIPTOR.full_name}: missing {', '.join(missing)}",
                errors=[f"missing required field: {name}" for name in missing],
            )
        return message

    def _repr_details(self) -> str:
        cls = self.message_class
        return "" if cls is None else f"message_class={cls.DESCRIPTOR.full_name}"
