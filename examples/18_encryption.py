"""Encryption (AES-256-GCM): an ``Encryptor``, and a client that encrypts every value."""

from _support import example_server

from pyflymq import ClientConfig, Encryptor, FlyMQClient, generate_key

with example_server(__doc__) as bootstrap:
    # Generate a new encryption key
    key = generate_key()  # 64-char hex string

    # Create encryptor
    encryptor = Encryptor.from_hex_key(key)

    # Encrypt/decrypt data
    encrypted = encryptor.encrypt(b"Hello, FlyMQ!")
    decrypted = encryptor.decrypt(encrypted)
    print(f"{len(encrypted)} encrypted bytes decrypt to {decrypted!r}")

    # Use with client config
    config = ClientConfig(bootstrap_servers=bootstrap, encryption_enabled=True, encryption_key=key)

    with FlyMQClient(config=config) as client:
        meta = client.produce("secure-topic", b"card 4111")
        print(
            f"read back through the encrypting client: {client.consume('secure-topic', meta.offset).value!r}"
        )
    with FlyMQClient(bootstrap) as plain:
        stored = plain.consume("secure-topic", meta.offset).value
        print(f"stored on the server: {len(stored)} bytes, plaintext visible: {b'card 4111' in stored}")
