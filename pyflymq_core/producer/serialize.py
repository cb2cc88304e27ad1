"""``serializer=`` / ``key_serializer=`` of the producers: objects in, record bytes out, in ``send()``.

A producer given a codec (a name such as ``"json"``, ``"string"``, ``"avro"``, or any object with
``serialize``/``deserialize``; resolved by :func:`pyflymq_serde.resolve_codec`, exactly like
``client.produce_object(serializer=...)``) serializes every value (and key) in ``send()``, before
anything is queued: a value the codec cannot serialize raises
:class:`~pyflymq_core.errors.SerializationError` there, naming the codec and the topic.
``pyflymq_serde`` is imported only when a codec is given (the core does not depend on it).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pyflymq_core.errors import FlyMQError, SerializationError

__all__ = ["Serialize", "serializer_for"]

#: ``serialize(obj, topic) -> bytes``: raises SerializationError (or the codec's own typed error).
Serialize = Callable[[Any, str], bytes]


def serializer_for(codec: Any, what: str) -> Serialize | None:
    """The serializing function of ``codec`` for a record's ``what`` (``"value"``/``"key"``), or
    ``None`` without a codec.  Unknown codec names raise ``ConfigurationError`` here (at producer
    creation), a missing optional dependency ``MissingExtraError``."""
    if codec is None:
        return None
    from pyflymq_serde import resolve_codec

    resolved = resolve_codec(codec)
    name = str(getattr(resolved, "name", type(resolved).__name__))
    serialize = resolved.serialize

    def run(obj: Any, topic: str) -> bytes:
        try:
            data = serialize(obj)
        except SerializationError as exc:
            if exc.topic is None:
                exc.topic = topic  # say which send() failed
            raise
        except FlyMQError:
            raise  # SchemaValidationError ...: already typed, with a hint
        except Exception as exc:
            raise SerializationError(
                f"the {name!r} codec could not serialize the {what} for topic {topic!r} "
                f"({type(obj).__name__}): {type(exc).__name__}: {exc}",
                codec=name,
                direction="serialize",
                topic=topic,
                hint=f"Pass a {what} the {name!r} codec accepts, or choose another {what} serializer.",
            ) from exc
        if type(data) is not bytes:
            if not isinstance(data, (bytes, bytearray, memoryview)):
                raise SerializationError(
                    f"the {name!r} codec returned {type(data).__name__} for the {what}, not bytes",
                    codec=name,
                    direction="serialize",
                    topic=topic,
                    hint="A codec's serialize() must return bytes.",
                )
            data = bytes(data)
        return data

    return run
