"""The client's seam for per-record value processing: encryption on the way out, decryption on the way in.

The client builds one :class:`ValueTransform` from its configuration when it is created, then calls

* ``transform.encode(topic, value)`` on every value it produces (all produce variants), and
* ``transform.decode(topic, partition, offset, value)`` on every value it returns (consume, fetch,
  poll, DLQ, ...).

With encryption off, :func:`value_transform_from_config` returns :data:`IDENTITY`, whose methods
return the value unchanged (one call per record, nothing else); hot loops can also test
``transform.enabled`` once and skip the calls entirely.  With encryption on, a wrong key, a tampered
record or an unencrypted record raises :class:`~pyflymq_core.errors.DecryptionError` naming the topic,
partition and offset: garbage is never returned.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from pyflymq_core.errors import ConfigurationError, DecryptionError
from pyflymq_serde.crypto import PayloadEncryptor

__all__ = [
    "IDENTITY",
    "EncryptingTransform",
    "IdentityTransform",
    "ValueTransform",
    "value_transform_from_config",
    "value_transform_from_options",
]

DEFAULT_ALGORITHM = "aes-256-gcm"


class ValueTransform:
    """Base of the value transforms; see the module docstring for how the client uses them."""

    __slots__ = ()

    #: ``False`` for the identity transform: callers may skip ``encode``/``decode`` altogether.
    enabled: bool = False

    def encode(self, topic: str, value: bytes) -> bytes:
        """Transform a value about to be produced to ``topic``."""
        raise NotImplementedError

    def decode(self, topic: str, partition: int | None, offset: int | None, value: bytes) -> bytes:
        """Transform a value read from ``topic``/``partition`` at ``offset`` (``None`` when unknown)."""
        raise NotImplementedError

    @staticmethod
    def from_config(config: Any) -> ValueTransform:
        """Same as :func:`value_transform_from_config`."""
        return value_transform_from_config(config)


class IdentityTransform(ValueTransform):
    """Encryption off: values pass through unchanged."""

    __slots__ = ()
    enabled = False

    def encode(self, topic: str, value: bytes) -> bytes:
        return value

    def decode(self, topic: str, partition: int | None, offset: int | None, value: bytes) -> bytes:
        return value

    def __repr__(self) -> str:
        return "IdentityTransform()"


#: The shared identity transform.
IDENTITY = IdentityTransform()


class EncryptingTransform(ValueTransform):
    """Encrypts produced values and decrypts consumed ones with a :class:`PayloadEncryptor`."""

    __slots__ = ("encryptor",)
    enabled = True

    def __init__(self, encryptor: PayloadEncryptor) -> None:
        self.encryptor = encryptor

    def encode(self, topic: str, value: bytes) -> bytes:
        return self.encryptor.encrypt(value)

    def decode(self, topic: str, partition: int | None, offset: int | None, value: bytes) -> bytes:
        try:
            return self.encryptor.decrypt(value)
        except DecryptionError as exc:
            where = topic if partition is None else f"{topic}[{partition}]"
            if offset is not None:
                where += f"@{offset}"
            raise DecryptionError(
                f"cannot decrypt the record at {where}: {exc.message}",
                hint=exc.hint,
                topic=topic,
                partition=partition,
                offset=offset,
            ) from None

    def __repr__(self) -> str:
        return f"EncryptingTransform({self.encryptor!r})"


def value_transform_from_options(
    *,
    encryption_enabled: bool = False,
    encryption_key: str | bytes | None = None,
    encryption_old_keys: Sequence[str | bytes] | None = None,
    encryption_algorithm: str = DEFAULT_ALGORITHM,
    encryptor: PayloadEncryptor | None = None,
) -> ValueTransform:
    """Build the transform from explicit options (what :func:`value_transform_from_config` reads).

    ``encryptor`` overrides the key options with a ready-made encryptor.  A non-default
    ``encryption_algorithm`` is looked up in the plugin registry (``get_registry().encryptors``) and
    called as ``factory(encryption_key, old_keys=[...])``.
    """
    if not encryption_enabled:
        return IDENTITY
    if encryptor is not None:
        return EncryptingTransform(encryptor)
    if encryption_key is None or encryption_key == "":
        raise ConfigurationError(
            "encryption_enabled is set but no encryption_key is configured",
            hint="Set ClientConfig(encryption_key=generate_key()) (64 hex characters) and share that key "
            "with every producer and consumer of the topic.",
        )
    old_keys: Iterable[str | bytes] = encryption_old_keys or ()
    if isinstance(old_keys, (str, bytes)):
        old_keys = [old_keys]
    if encryption_algorithm.lower() == DEFAULT_ALGORITHM:
        from pyflymq_serde.crypto import Encryptor

        return EncryptingTransform(Encryptor(encryption_key, old_keys=old_keys))
    from pyflymq_core.plugins import get_registry

    factory = get_registry().encryptors.get(encryption_algorithm)
    return EncryptingTransform(factory(encryption_key, old_keys=list(old_keys)))


def _reveal(secret: Any) -> Any:
    """Unwrap a pydantic ``SecretStr``/``SecretBytes`` (configs may hold keys that way to hide them)."""
    getter = getattr(secret, "get_secret_value", None)
    return getter() if callable(getter) else secret


def value_transform_from_config(config: Any) -> ValueTransform:
    """Build the transform from a ``ClientConfig``-like object.

    Reads ``encryption_enabled``, ``encryption_key``, ``encryption_old_keys`` and (optionally)
    ``encryption_algorithm`` / ``encryptor`` as attributes; missing attributes take the defaults, so
    this works whatever subset of options the config class defines.  Keys may be plain strings or
    pydantic secrets.
    """
    old_keys = getattr(config, "encryption_old_keys", None)
    return value_transform_from_options(
        encryption_enabled=bool(getattr(config, "encryption_enabled", False)),
        encryption_key=_reveal(getattr(config, "encryption_key", None)),
        encryption_old_keys=None if old_keys is None else [_reveal(k) for k in old_keys],
        encryption_algorithm=getattr(config, "encryption_algorithm", None) or DEFAULT_ALGORITHM,
        encryptor=getattr(config, "encryptor", None),
    )
