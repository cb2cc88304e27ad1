"""pyflymq_serde: message codecs, schema validation and payload encryption for pyflymq.

Importing this package imports no optional dependency (fastavro, protobuf, jsonschema,
cryptography); each is imported by the feature that needs it, and a missing one raises
``MissingExtraError`` naming the pip extra.

Seams used by the client:

* :func:`resolve_codec` — ``serializer=``/``deserializer=`` values to codec objects;
* :func:`validate_locally`, :func:`check_before_produce`, :func:`codec_from_schema` — registry schemas;
* :func:`value_transform_from_config` / :class:`ValueTransform` — encryption of record values.
"""

from __future__ import annotations

from pyflymq_serde.codecs.base import BaseCodec, Codec, content_type_of
from pyflymq_serde.errors import SerializationError
from pyflymq_serde.resolve import resolve_codec
from pyflymq_serde.schema import check_before_produce, codec_from_schema, validate_locally
from pyflymq_serde.values import (
    IDENTITY,
    EncryptingTransform,
    IdentityTransform,
    ValueTransform,
    value_transform_from_config,
    value_transform_from_options,
)

__all__ = [
    "IDENTITY",
    "BaseCodec",
    "Codec",
    "EncryptingTransform",
    "IdentityTransform",
    "SerializationError",
    "ValueTransform",
    "check_before_produce",
    "codec_from_schema",
    "content_type_of",
    "resolve_codec",
    "validate_locally",
    "value_transform_from_config",
    "value_transform_from_options",
]
