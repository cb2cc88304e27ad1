"""Per-record work on fetched records: decryption (the client's value seam), then deserialisation.

Shared by the sync fetcher and the asyncio consumer.  Both decode a FETCH answer to raw records
first (:func:`~pyflymq_core.consumer.fetcher.decode_fetch`) and then run
:meth:`RecordPipeline.apply`, which stops at the first record it cannot handle: the records before
it are delivered, the failing one is kept with its error, and ``poll()`` raises that error once
those records were returned — with the position left *at* the bad record (what Kafka does with a
``RecordDeserializationException``).  The application skips it with
``seek(partition, error.offset + 1)``; a :class:`~pyflymq_core.consumer.ConsumerGroup` dead-letters
it.

Failures: decryption raises :class:`~pyflymq_core.errors.DecryptionError` (from the value seam);
any exception of a codec becomes a :class:`~pyflymq_core.errors.SerializationError` naming the
topic, partition, offset and codec, with the codec's own error chained as ``__cause__``.

Codecs are resolved like ``client.consume_object(deserializer=...)`` does
(:func:`pyflymq_serde.resolve_codec`): a name (``"json"``, ``"string"``, ``"avro"``, a plugin's), a
codec object, a pydantic model class or a protobuf message class.  ``pyflymq_serde`` is imported
only when a deserializer is given.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

from pyflymq_core.errors import FlyMQError, SerializationError
from pyflymq_core.models import DESERIALIZED, DESERIALIZED_KEY, ConsumedMessage

__all__ = ["FailedRecord", "RecordPipeline", "build_pipeline", "resolve_deserializer"]

#: ``decrypt(topic, partition, offset, value) -> bytes`` (the client's ``_value_decoder``).
ValueDecoder = Callable[[str, int, int, bytes], bytes]


class FailedRecord(NamedTuple):
    """A record the pipeline could not handle, and why (``message.value`` as read: still encrypted
    if the decryption failed, decrypted if the deserialisation did)."""

    message: ConsumedMessage
    error: FlyMQError


def resolve_deserializer(spec: Any) -> Any:
    """The codec for a ``deserializer=`` / ``key_deserializer=`` argument, or ``None`` without one.

    Unknown names raise ``ConfigurationError`` and a missing optional dependency
    ``MissingExtraError`` — when the consumer is created, not at the first record.
    """
    if spec is None:
        return None
    from pyflymq_serde import resolve_codec

    return resolve_codec(spec)


def _codec_name(codec: Any) -> str:
    name = getattr(codec, "name", None)
    return name if isinstance(name, str) else type(codec).__name__


class RecordPipeline:
    """Decrypts and/or deserialises fetched records in place: ``value`` becomes the decrypted
    bytes; ``deserialized`` / ``deserialized_key`` get the decoded objects."""

    __slots__ = ("_decrypt", "_key_decode", "_key_name", "_value_decode", "_value_name")

    def __init__(self, decrypt: ValueDecoder | None, value_codec: Any, key_codec: Any) -> None:
        self._decrypt = decrypt
        self._value_decode: Callable[[bytes], Any] | None = (
            None if value_codec is None else value_codec.deserialize
        )
        self._key_decode: Callable[[bytes], Any] | None = None if key_codec is None else key_codec.deserialize
        self._value_name = _codec_name(value_codec)
        self._key_name = _codec_name(key_codec)

    def apply(self, messages: list[ConsumedMessage]) -> tuple[list[ConsumedMessage], FailedRecord | None]:
        """``(records handled, first failure)``: on a failure, only the records before it."""
        decrypt = self._decrypt
        value_decode = self._value_decode
        key_decode = self._key_decode
        for index, message in enumerate(messages):
            fields = message.__dict__  # just decoded from a FETCH answer: nobody else holds it yet
            if decrypt is not None:
                try:
                    fields["value"] = decrypt(message.topic, message.partition, message.offset, message.value)
                except FlyMQError as exc:
                    return messages[:index], FailedRecord(message, exc)
            if value_decode is not None:
                try:
                    fields[DESERIALIZED] = value_decode(message.value)
                except Exception as exc:
                    return messages[:index], FailedRecord(message, self._error(message, exc, "value"))
            if key_decode is not None and message.key is not None:
                try:
                    fields[DESERIALIZED_KEY] = key_decode(message.key)
                except Exception as exc:
                    return messages[:index], FailedRecord(message, self._error(message, exc, "key"))
        return messages, None

    def _error(self, message: ConsumedMessage, exc: Exception, what: str) -> SerializationError:
        codec = self._value_name if what == "value" else self._key_name
        where = f"{message.topic}[{message.partition}]@{message.offset}"
        # A codec's own typed error already says what is wrong; a foreign one also needs its type.
        reason = str(exc) if isinstance(exc, FlyMQError) else f"{type(exc).__name__}: {exc}"
        error = SerializationError(
            f"cannot deserialize the {what} of {where} with the {codec!r} codec: {reason}",
            codec=codec,
            direction="deserialize",
            topic=message.topic,
            partition=message.partition,
            offset=message.offset,
            hint=f"The records before it were returned and the position stays at it: skip it with "
            f"seek({message.partition}, {message.offset + 1}) (topic={message.topic!r}), or fix the "
            f"{what} deserializer.",
        )
        error.__cause__ = exc
        return error


def build_pipeline(
    decrypt: ValueDecoder | None, deserializer: Any = None, key_deserializer: Any = None
) -> RecordPipeline | None:
    """The pipeline for a consumer, or ``None`` when records need no per-record work (the fast path)."""
    value_codec = resolve_deserializer(deserializer)
    key_codec = resolve_deserializer(key_deserializer)
    if decrypt is None and value_codec is None and key_codec is None:
        return None
    return RecordPipeline(decrypt, value_codec, key_codec)
