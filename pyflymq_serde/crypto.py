"""AES-256-GCM payload encryption in FlyMQ's format (spec §12.4), with key rotation.

The FlyMQ server never encrypts message payloads; the SDKs do, all in one format so that any SDK can
read what another wrote::

    nonce (12 random bytes) || ciphertext (same length as the plaintext) || GCM tag (16 bytes)

AES-256-GCM, no associated data, keys configured as 64 hex characters (32 bytes).  Only record values
are encrypted, never keys (key-based partitioning must keep working).

Random 96-bit nonces are safe for about 2^32 messages per key (NIST SP 800-38D); rotate keys long
before that.  Rotation: build the encryptor with the new key and the previous ones as ``old_keys``;
it encrypts with the new key and decrypts with whichever key authenticates the record.

Keys never appear in ``repr``/``str``, error messages or logs.  ``cryptography`` (the ``crypto`` extra)
is imported when an encryptor is built, not when this module is imported; :func:`generate_key` needs
only the standard library.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterable
from typing import Any, Protocol, runtime_checkable

from pyflymq_core.errors import ConfigurationError, DecryptionError, InvalidArgumentTypeError
from pyflymq_serde._deps import require

__all__ = [
    "KEY_SIZE",
    "MIN_CIPHERTEXT",
    "NONCE_SIZE",
    "TAG_SIZE",
    "AesGcmEncryptor",
    "Encryptor",
    "PayloadEncryptor",
    "generate_key",
    "parse_hex_key",
]

KEY_SIZE = 32
NONCE_SIZE = 12
TAG_SIZE = 16
#: The shortest valid ciphertext: the nonce and the tag of an empty plaintext.
MIN_CIPHERTEXT = NONCE_SIZE + TAG_SIZE


@runtime_checkable
class PayloadEncryptor(Protocol):
    """What the client needs from an encryptor plugin (registered under ``pyflymq_register_encryptors``)."""

    def encrypt(self, plaintext: bytes) -> bytes:
        """Ciphertext of one record value; must be self-contained (nonce included), because
        records are decrypted one by one, by other processes, possibly much later."""
        ...

    def decrypt(self, data: bytes) -> bytes:
        """The plaintext of :meth:`encrypt`'s output; raise rather than return garbage when
        ``data`` does not authenticate (a wrong key or a tampered record)."""
        ...


def generate_key() -> str:
    """A new random AES-256 key as 64 lower-case hex characters (from :mod:`secrets`)."""
    return secrets.token_hex(KEY_SIZE)


def parse_hex_key(hex_key: str, what: str = "encryption key") -> bytes:
    """Decode a 64-hex-character key; the error never includes the key."""
    if not isinstance(hex_key, str):
        raise InvalidArgumentTypeError(
            f"{what} must be a str of 64 hex characters, not {type(hex_key).__name__}",
            hint="Generate one with pyflymq.generate_key().",
        )
    text = hex_key.strip()
    if len(text) != 2 * KEY_SIZE:
        raise ConfigurationError(
            f"{what} must be 64 hex characters (32 bytes for AES-256); got {len(text)} characters",
            hint="Generate one with pyflymq.generate_key().",
        )
    try:
        return bytes.fromhex(text)
    except ValueError:
        raise ConfigurationError(
            f"{what} must contain only hexadecimal characters (0-9, a-f)",
            hint="Generate one with pyflymq.generate_key().",
        ) from None


def _key_bytes(key: bytes | bytearray | str, what: str) -> bytes:
    if isinstance(key, str):
        return parse_hex_key(key, what)
    if isinstance(key, (bytes, bytearray)):
        if len(key) != KEY_SIZE:
            raise ConfigurationError(f"{what} must be {KEY_SIZE} bytes for AES-256; got {len(key)} bytes")
        return bytes(key)
    raise InvalidArgumentTypeError(
        f"{what} must be 32 bytes or 64 hex characters, not {type(key).__name__}",
        hint="Generate one with pyflymq.generate_key().",
    )


class Encryptor:
    """AES-256-GCM encryptor/decryptor in FlyMQ's ``nonce || ciphertext || tag`` format.

    ``key`` is 32 bytes or 64 hex characters; ``old_keys`` (same forms) are tried, in order, after
    the current key when decrypting.  Thread-safe: it holds no mutable state.
    """

    __slots__ = ("_ciphers", "_invalid_tag")

    def __init__(
        self, key: bytes | bytearray | str, *, old_keys: Iterable[bytes | bytearray | str] = ()
    ) -> None:
        aead = require(
            "cryptography.hazmat.primitives.ciphers.aead", extra="crypto", feature="AES-256-GCM encryption"
        )
        exceptions = require("cryptography.exceptions", extra="crypto", feature="AES-256-GCM encryption")
        if isinstance(old_keys, (str, bytes, bytearray)):
            raise InvalidArgumentTypeError(
                "old_keys must be a list of keys, not a single key",
                hint="Use old_keys=[previous_key].",
            )
        keys = [_key_bytes(key, "encryption key")]
        keys += [_key_bytes(old, f"old encryption key #{i + 1}") for i, old in enumerate(old_keys)]
        self._ciphers: tuple[Any, ...] = tuple(aead.AESGCM(k) for k in keys)
        self._invalid_tag: type[Exception] = exceptions.InvalidTag

    @classmethod
    def from_hex_key(cls, hex_key: str, *, old_keys: Iterable[str] = ()) -> Encryptor:
        """Build from a 64-hex-character key (as made by :func:`generate_key`)."""
        if not isinstance(hex_key, str):
            raise InvalidArgumentTypeError(
                f"the key must be a str of 64 hex characters, not {type(hex_key).__name__}",
                hint="Use Encryptor(key_bytes) for raw bytes, or generate a key with generate_key().",
            )
        return cls(hex_key, old_keys=old_keys)

    @property
    def key_count(self) -> int:
        """How many keys decryption tries (the current one plus the old ones)."""
        return len(self._ciphers)

    def encrypt(self, plaintext: bytes) -> bytes:
        """Encrypt with the current key and a fresh random nonce."""
        return self._seal(os.urandom(NONCE_SIZE), plaintext)

    def _seal(self, nonce: bytes, plaintext: bytes) -> bytes:
        """Encrypt with a given nonce.  Internal: reusing a nonce breaks GCM; tests use it for vectors."""
        if len(nonce) != NONCE_SIZE:
            raise ConfigurationError(f"an AES-GCM nonce is {NONCE_SIZE} bytes, not {len(nonce)}")
        if not isinstance(plaintext, (bytes, bytearray, memoryview)):
            raise InvalidArgumentTypeError(
                f"can only encrypt bytes, not {type(plaintext).__name__}",
                hint="Serialize the value first (e.g. with a codec).",
            )
        sealed: bytes = self._ciphers[0].encrypt(nonce, bytes(plaintext), None)
        return nonce + sealed

    def decrypt(self, data: bytes) -> bytes:
        """Decrypt and authenticate; raise :class:`DecryptionError` if no key authenticates ``data``."""
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise InvalidArgumentTypeError(f"can only decrypt bytes, not {type(data).__name__}")
        if len(data) < MIN_CIPHERTEXT:
            raise DecryptionError(
                f"encrypted value too short: {len(data)} bytes, at least {MIN_CIPHERTEXT} expected "
                "(12-byte nonce + 16-byte tag)",
                hint="The record was not written encrypted, or was truncated.",
            )
        raw = bytes(data)
        nonce, sealed = raw[:NONCE_SIZE], raw[NONCE_SIZE:]
        invalid_tag = self._invalid_tag
        for cipher in self._ciphers:
            try:
                plaintext: bytes = cipher.decrypt(nonce, sealed, None)
            except invalid_tag:
                continue
            return plaintext
        tried = "the key" if len(self._ciphers) == 1 else f"all {len(self._ciphers)} keys"
        raise DecryptionError(
            f"authentication failed with {tried}: wrong key, or the record was modified or not encrypted"
        )

    def __repr__(self) -> str:
        old = len(self._ciphers) - 1
        return f"{type(self).__name__}(aes-256-gcm, key=<hidden>, old_keys={old})"

    __str__ = __repr__

    def __reduce__(self) -> Any:
        raise TypeError(f"{type(self).__name__} cannot be pickled: it would write the keys out in the clear")


class AesGcmEncryptor(Encryptor):
    """The ``aes-256-gcm`` encryptor plugin (``get_registry().encryptors``); same as :class:`Encryptor`."""

    __slots__ = ()
