"""Built-in serialization plugin: codecs (bytes, string, json, avro, protobuf) and AES-256-GCM.

Loaded through the ``serde`` entry point of the ``pyflymq`` distribution.  Every factory is a lazy
import path: ``fastavro``, ``protobuf``, ``jsonschema`` and ``cryptography`` are imported only when
their codec is used, and a missing one raises ``MissingExtraError`` naming the pip extra.
"""

from __future__ import annotations

from pyflymq_core.plugins import RegisterCallback, hookimpl

__all__ = ["pyflymq_register_codecs", "pyflymq_register_encryptors"]


@hookimpl
def pyflymq_register_codecs(register: RegisterCallback) -> None:
    """Register the built-in message codecs."""
    register("bytes", "pyflymq_serde.codecs.bytes:BytesCodec", description="raw bytes, unchanged")
    register("string", "pyflymq_serde.codecs.string:StringCodec", description="text (UTF-8 by default)")
    register(
        "json", "pyflymq_serde.codecs.json:JsonCodec", extra="json", description="JSON, optional JSON Schema"
    )
    register("avro", "pyflymq_serde.codecs.avro:AvroCodec", extra="avro", description="Avro (fastavro)")
    register(
        "protobuf",
        "pyflymq_serde.codecs.protobuf:ProtobufCodec",
        extra="protobuf",
        description="Protocol Buffers messages",
    )


@hookimpl
def pyflymq_register_encryptors(register: RegisterCallback) -> None:
    """Register the built-in payload encryptor."""
    register(
        "aes-256-gcm",
        "pyflymq_serde.crypto:AesGcmEncryptor",
        extra="crypto",
        description="AES-256-GCM, FlyMQ's on-wire format",
    )
