"""Turn what a user passes as ``serializer=``/``deserializer=`` into a codec object.

Accepted: a registered codec name (``"json"``, ``"avro"``, a third-party ``"toycsv"`` ...), any
object with ``serialize``/``deserialize`` (used as is), a pydantic model class (a ``json`` codec
that deserializes into it) or a generated protobuf message class (a ``protobuf`` codec for it).

Names go through the plugin registry (``get_registry().codecs``), so third-party codecs installed
through the ``pyflymq`` entry points work by name with no change to pyflymq.  A name resolved without
options returns a cached instance (codecs are stateless), so resolving on every call is cheap.
"""

from __future__ import annotations

import threading
from typing import Any

from pyflymq_core.errors import ConfigurationError, InvalidArgumentTypeError
from pyflymq_serde.codecs.base import Codec

__all__ = ["resolve_codec"]

_cache_lock = threading.Lock()
#: (registry the instances came from, name -> instance); replaced when the registry is rebuilt.
_cache: tuple[object, dict[str, Codec]] | None = None


def _is_codec(obj: object) -> bool:
    return callable(getattr(obj, "serialize", None)) and callable(getattr(obj, "deserialize", None))


def _from_name(name: str, options: dict[str, Any]) -> Codec:
    global _cache
    from pyflymq_core.plugins import get_registry

    registry = get_registry()
    key = name.lower()
    if not options:
        cache = _cache
        if cache is not None and cache[0] is registry and key in cache[1]:
            return cache[1][key]
    codec = registry.codecs.create(key, **options)
    if not _is_codec(codec):
        entry = registry.codecs.entry(key)
        raise ConfigurationError(
            f"codec {key!r} (plugin {entry.plugin!r}) built {type(codec).__name__}, which has no "
            "serialize()/deserialize() methods",
            hint="A codec plugin's factory must return an object with serialize(obj) -> bytes and "
            "deserialize(data) -> object.",
        )
    if not options:
        with _cache_lock:
            cache = _cache
            if cache is None or cache[0] is not registry:
                cache = (registry, {})
                _cache = cache
            cache[1][key] = codec
    return codec  # type: ignore[no-any-return]


def resolve_codec(codec: Any, /, **options: Any) -> Codec:
    """Return a codec for ``codec`` (name, codec object, pydantic model class or protobuf class).

    ``options`` are passed to the codec's factory when ``codec`` is a name
    (``resolve_codec("avro", schema=...)``).  Unknown names raise ``ConfigurationError`` listing the
    available codecs; a codec whose optional dependency is missing raises ``MissingExtraError``
    naming the extra (``pip install 'pyflymq[avro]'``).
    """
    if isinstance(codec, str):
        return _from_name(codec, options)
    if isinstance(codec, type):
        if hasattr(codec, "model_validate_json"):
            from pyflymq_serde.codecs.json import JsonCodec

            return JsonCodec(model=codec, **options)
        if hasattr(codec, "DESCRIPTOR") and hasattr(codec, "FromString"):
            from pyflymq_serde.codecs.protobuf import ProtobufCodec

            return ProtobufCodec(codec, **options)
    elif _is_codec(codec):
        if options:
            raise InvalidArgumentTypeError("options can only be given with a codec name or class")
        return codec  # type: ignore[no-any-return]
    raise InvalidArgumentTypeError(
        f"cannot use {codec!r} as a codec",
        hint="Pass a codec name ('json', 'string', 'bytes', 'avro', 'protobuf' or a plugin's), an object "
        "with serialize()/deserialize(), a pydantic model class or a protobuf message class.",
    )
