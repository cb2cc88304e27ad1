"""AES-256-GCM in FlyMQ's format (spec §12.4): interoperability vectors, failures, key rotation,
secrecy of keys, and the client's value-transform seam."""

from __future__ import annotations

import logging
import pickle
import re

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from pyflymq_core.config import ClientConfig
from pyflymq_core.errors import ConfigurationError, DecryptionError, InvalidArgumentTypeError
from pyflymq_serde import (
    IDENTITY,
    EncryptingTransform,
    IdentityTransform,
    ValueTransform,
    value_transform_from_config,
    value_transform_from_options,
)
from pyflymq_serde.crypto import (
    MIN_CIPHERTEXT,
    AesGcmEncryptor,
    Encryptor,
    PayloadEncryptor,
    generate_key,
    parse_hex_key,
)

KEY_HEX = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
NONCE = bytes.fromhex("101112131415161718191a1b")
PLAINTEXT = b"Hello, FlyMQ!"
# Regression vector: AES-256-GCM(KEY_HEX, NONCE, PLAINTEXT, no AAD) laid out as nonce || ct || tag.
# Computed once with the plain `cryptography` reference (see test_known_vector_matches_reference).
KNOWN_CIPHERTEXT = bytes.fromhex(
    "101112131415161718191a1b359bf47a26e51af5a60c454c2e18b48c2680b5ba235f9a892f9375435f"
)
# Independent known answers: test cases 13 and 14 of McGrew & Viega, "The Galois/Counter Mode of
# Operation (GCM)" (AES-256, zero key, zero IV, no AAD).
GCM_SPEC_VECTORS = [
    (b"", bytes.fromhex("530f8afbc74536b9a963b4f1c4cb738b")),
    (bytes(16), bytes.fromhex("cea7403d4d606b6e074ec5d3baf39d18d0d1c8a799996bf0265b98b5d48ab919")),
]


def reference_encrypt(key: bytes, nonce: bytes, plaintext: bytes) -> bytes:
    """The spec's one-liner, straight from `cryptography`."""
    return nonce + AESGCM(key).encrypt(nonce, plaintext, None)


def reference_decrypt(key: bytes, data: bytes) -> bytes:
    return AESGCM(key).decrypt(data[:12], data[12:], None)


# --------------------------------------------------------------------------- keys


def test_generate_key_is_64_random_hex_chars() -> None:
    keys = {generate_key() for _ in range(50)}
    assert len(keys) == 50
    for key in keys:
        assert re.fullmatch(r"[0-9a-f]{64}", key)


def test_parse_hex_key_errors_never_contain_the_key() -> None:
    assert parse_hex_key(KEY_HEX.upper()) == bytes(range(32))
    secret = "z" * 64
    with pytest.raises(ConfigurationError) as info:
        parse_hex_key(secret)
    assert secret not in str(info.value) and secret not in repr(info.value)
    assert info.value.__cause__ is None  # not chained to fromhex's error (which quotes a position)
    with pytest.raises(ConfigurationError, match="got 63 characters"):
        parse_hex_key(KEY_HEX[:-1])
    with pytest.raises(InvalidArgumentTypeError):
        parse_hex_key(b"00" * 32)  # type: ignore[arg-type]


def test_encryptor_accepts_hex_or_raw_keys_only_of_the_right_size() -> None:
    raw = bytes(range(32))
    assert Encryptor(raw).decrypt(Encryptor(KEY_HEX).encrypt(b"x")) == b"x"
    with pytest.raises(ConfigurationError, match="32 bytes"):
        Encryptor(b"short")
    with pytest.raises(InvalidArgumentTypeError):
        Encryptor(12345)  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentTypeError):
        Encryptor.from_hex_key(raw)  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentTypeError, match="list"):
        Encryptor(KEY_HEX, old_keys=KEY_HEX)  # a str is iterable: refused at run time


# --------------------------------------------------------------------------- format and interoperability


def test_seed_example() -> None:
    key = generate_key()
    encryptor = Encryptor.from_hex_key(key)
    encrypted = encryptor.encrypt(b"Hello, FlyMQ!")
    assert encryptor.decrypt(encrypted) == b"Hello, FlyMQ!"


def test_layout_is_nonce_ciphertext_tag() -> None:
    encryptor = Encryptor.from_hex_key(KEY_HEX)
    for size in (0, 1, 13, 1000):
        data = encryptor.encrypt(b"a" * size)
        assert len(data) == 12 + size + 16
    assert len(encryptor.encrypt(b"")) == MIN_CIPHERTEXT == 28


def test_nonces_are_fresh() -> None:
    encryptor = Encryptor.from_hex_key(KEY_HEX)
    nonces = {encryptor.encrypt(b"same")[:12] for _ in range(200)}
    assert len(nonces) == 200


def test_known_vector_matches_reference() -> None:
    key = bytes.fromhex(KEY_HEX)
    assert reference_encrypt(key, NONCE, PLAINTEXT) == KNOWN_CIPHERTEXT
    assert Encryptor.from_hex_key(KEY_HEX)._seal(NONCE, PLAINTEXT) == KNOWN_CIPHERTEXT
    assert Encryptor.from_hex_key(KEY_HEX).decrypt(KNOWN_CIPHERTEXT) == PLAINTEXT


@pytest.mark.parametrize(("plaintext", "sealed"), GCM_SPEC_VECTORS)
def test_gcm_specification_vectors(plaintext: bytes, sealed: bytes) -> None:
    encryptor = Encryptor(bytes(32))
    assert encryptor._seal(bytes(12), plaintext) == bytes(12) + sealed
    assert encryptor.decrypt(bytes(12) + sealed) == plaintext


@pytest.mark.parametrize("plaintext", [b"", b"x", b"Hello, FlyMQ!", bytes(range(256)) * 40])
def test_interoperates_with_the_reference_both_ways(plaintext: bytes) -> None:
    key_hex = generate_key()
    key = bytes.fromhex(key_hex)
    encryptor = Encryptor.from_hex_key(key_hex)
    assert reference_decrypt(key, encryptor.encrypt(plaintext)) == plaintext
    nonce = bytes(range(12))
    assert encryptor.decrypt(reference_encrypt(key, nonce, plaintext)) == plaintext
    assert encryptor._seal(nonce, plaintext) == reference_encrypt(key, nonce, plaintext)


def test_seal_refuses_bad_nonce_and_non_bytes() -> None:
    encryptor = Encryptor.from_hex_key(KEY_HEX)
    with pytest.raises(ConfigurationError):
        encryptor._seal(b"short", b"x")
    with pytest.raises(InvalidArgumentTypeError):
        encryptor.encrypt("text")  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentTypeError):
        encryptor.decrypt("text")  # type: ignore[arg-type]


# --------------------------------------------------------------------------- failures


def test_wrong_key_raises() -> None:
    data = Encryptor.from_hex_key(generate_key()).encrypt(b"secret")
    with pytest.raises(DecryptionError, match="authentication failed"):
        Encryptor.from_hex_key(generate_key()).decrypt(data)


@pytest.mark.parametrize("position", [0, 11, 12, 20, -16, -1])
def test_any_flipped_bit_is_detected(position: int) -> None:
    encryptor = Encryptor.from_hex_key(KEY_HEX)
    data = bytearray(encryptor.encrypt(b"twenty bytes of data"))
    data[position] ^= 0x01
    with pytest.raises(DecryptionError):
        encryptor.decrypt(bytes(data))


def test_truncated_or_extended_ciphertext_is_detected() -> None:
    encryptor = Encryptor.from_hex_key(KEY_HEX)
    data = encryptor.encrypt(b"payload")
    with pytest.raises(DecryptionError):
        encryptor.decrypt(data[:-1])
    with pytest.raises(DecryptionError):
        encryptor.decrypt(data + b"\x00")


@pytest.mark.parametrize("size", [0, 1, 27])
def test_too_short_raises(size: int) -> None:
    with pytest.raises(DecryptionError, match=f"too short: {size} bytes"):
        Encryptor.from_hex_key(KEY_HEX).decrypt(b"\x00" * size)


def test_plaintext_record_is_not_returned_as_garbage() -> None:
    with pytest.raises(DecryptionError):
        Encryptor.from_hex_key(KEY_HEX).decrypt(b'{"a plain json record": "not encrypted at all"}')


# --------------------------------------------------------------------------- rotation


def test_key_rotation_decrypts_with_old_keys_and_encrypts_with_the_new_one() -> None:
    old1, old2, new = generate_key(), generate_key(), generate_key()
    written_v1 = Encryptor.from_hex_key(old1).encrypt(b"v1")
    written_v2 = Encryptor.from_hex_key(old2).encrypt(b"v2")
    rotated = Encryptor.from_hex_key(new, old_keys=[old2, old1])
    assert rotated.key_count == 3
    assert rotated.decrypt(written_v1) == b"v1"
    assert rotated.decrypt(written_v2) == b"v2"
    fresh = rotated.encrypt(b"v3")
    assert Encryptor.from_hex_key(new).decrypt(fresh) == b"v3"
    with pytest.raises(DecryptionError):
        Encryptor.from_hex_key(old1).decrypt(fresh)
    with pytest.raises(DecryptionError, match="all 3 keys"):
        rotated.decrypt(Encryptor.from_hex_key(generate_key()).encrypt(b"x"))


def test_invalid_old_key_is_named_by_position_without_its_value() -> None:
    bad = "g" * 64
    with pytest.raises(ConfigurationError, match="old encryption key #2") as info:
        Encryptor.from_hex_key(KEY_HEX, old_keys=[generate_key(), bad])
    assert bad not in str(info.value)


# --------------------------------------------------------------------------- secrecy


def test_keys_never_appear_in_repr_str_or_pickles(caplog: pytest.LogCaptureFixture) -> None:
    key, old = generate_key(), generate_key()
    encryptor = Encryptor.from_hex_key(key, old_keys=[old])
    transform = EncryptingTransform(encryptor)
    caplog.set_level(logging.DEBUG)
    logging.getLogger("test").debug("encryptor %s %r transform %r", encryptor, encryptor, transform)
    texts = [repr(encryptor), str(encryptor), repr(transform), caplog.text]
    for text in texts:
        for secret in (key, old, bytes.fromhex(key).hex().upper()):
            assert secret not in text
    assert "key=<hidden>" in repr(encryptor) and "old_keys=1" in repr(encryptor)
    assert not hasattr(encryptor, "__dict__")
    with pytest.raises(TypeError, match="pickled"):
        pickle.dumps(encryptor)


def test_registered_plugin_class_is_an_encryptor() -> None:
    plugin = AesGcmEncryptor(KEY_HEX, old_keys=[generate_key()])
    assert isinstance(plugin, Encryptor) and isinstance(plugin, PayloadEncryptor)
    assert Encryptor.from_hex_key(KEY_HEX).decrypt(plugin.encrypt(b"x")) == b"x"
    assert "AesGcmEncryptor(aes-256-gcm, key=<hidden>" in repr(plugin)


# --------------------------------------------------------------------------- value transform seam


def test_identity_when_encryption_is_off() -> None:
    assert value_transform_from_options() is IDENTITY
    assert value_transform_from_options(encryption_enabled=False, encryption_key=KEY_HEX) is IDENTITY
    assert value_transform_from_config(object()) is IDENTITY
    value = b"unchanged"
    assert IDENTITY.encode("t", value) is value
    assert IDENTITY.decode("t", 0, 0, value) is value
    assert not IDENTITY.enabled and isinstance(IDENTITY, IdentityTransform)


def test_transform_from_client_config_with_secret_key() -> None:
    key = generate_key()
    config = ClientConfig.model_validate({"encryption_enabled": True, "encryption_key": key})
    transform = ValueTransform.from_config(config)
    assert isinstance(transform, EncryptingTransform) and transform.enabled
    sealed = transform.encode("orders", b"payload")
    assert sealed != b"payload" and reference_decrypt(bytes.fromhex(key), sealed) == b"payload"
    assert transform.decode("orders", 0, 3, sealed) == b"payload"
    assert key not in repr(transform)


def test_transform_old_keys_from_config_object() -> None:
    old, new = generate_key(), generate_key()

    class Config:
        def __init__(self) -> None:
            self.encryption_enabled = True
            self.encryption_key = new
            self.encryption_old_keys = [old]

    transform = value_transform_from_config(Config())
    assert transform.decode("t", 0, 0, Encryptor.from_hex_key(old).encrypt(b"old")) == b"old"


def test_decrypt_failure_names_topic_partition_and_offset() -> None:
    transform = value_transform_from_options(encryption_enabled=True, encryption_key=generate_key())
    foreign = Encryptor.from_hex_key(generate_key()).encrypt(b"x")
    with pytest.raises(DecryptionError) as info:
        transform.decode("payments", 2, 41, foreign)
    err = info.value
    assert (err.topic, err.partition, err.offset) == ("payments", 2, 41)
    assert "payments[2]@41" in str(err)
    with pytest.raises(DecryptionError) as info:
        transform.decode("payments", None, None, b"short")
    assert (info.value.partition, info.value.offset) == (None, None)
    assert "too short" in str(info.value) and "payments" in str(info.value)


def test_enabled_without_key_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="encryption_key"):
        value_transform_from_options(encryption_enabled=True)


def test_custom_encryptor_and_registry_algorithm() -> None:
    class Xor:
        def encrypt(self, plaintext: bytes) -> bytes:
            return bytes(b ^ 0x5A for b in plaintext)

        def decrypt(self, data: bytes) -> bytes:
            return bytes(b ^ 0x5A for b in data)

    transform = value_transform_from_options(encryption_enabled=True, encryptor=Xor())
    assert transform.decode("t", 0, 0, transform.encode("t", b"abc")) == b"abc"
    by_name = value_transform_from_options(
        encryption_enabled=True, encryption_key=KEY_HEX, encryption_algorithm="aes-256-gcm"
    )
    assert by_name.decode("t", 0, 0, Encryptor.from_hex_key(KEY_HEX).encrypt(b"z")) == b"z"
    with pytest.raises(ConfigurationError, match="unknown encryptor"):
        value_transform_from_options(
            encryption_enabled=True, encryption_key=KEY_HEX, encryption_algorithm="rot13"
        )
