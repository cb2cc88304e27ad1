"""TLS Configuration: server verification, mutual TLS, and skipping verification (testing only).

Without ``--bootstrap`` an embedded TLS broker is started with a certificate signed by a CA made for
this run.  FlyMQ 1.26 never requests client certificates, so the mTLS part connects (the client
presents its certificate only if asked); the broker's own key pair stands in for a client one.
"""

import logging

from _support import tls_example_server

from pyflymq import ClientConfig, FlyMQClient

logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")

with tls_example_server(__doc__) as endpoint:
    # --- Basic TLS (Server Verification)
    # Connect with TLS and verify server certificate
    client = FlyMQClient(
        endpoint.address,
        tls_enabled=True,
        tls_ca_file=endpoint.ca_file,  # CA certificate for server verification
    )
    client.close()

    # Use context manager for automatic cleanup
    with FlyMQClient(endpoint.address, tls_enabled=True, tls_ca_file=endpoint.ca_file) as client:
        meta = client.produce("my-topic", b"Hello, TLS!")
        print(f"verified TLS: produced @ offset {meta.offset}")

    # --- Mutual TLS (mTLS - Client Certificate Authentication)
    if endpoint.cert_file and endpoint.key_file:
        config = ClientConfig(
            bootstrap_servers=endpoint.address,
            tls_enabled=True,
            tls_ca_file=endpoint.ca_file,  # CA certificate
            tls_cert_file=endpoint.cert_file,  # Client certificate
            tls_key_file=endpoint.key_file,  # Client private key
        )
        client = FlyMQClient(config=config)
        print(f"mTLS client: {len(client.list_topics())} topic(s) visible")
        client.close()
    else:
        print("mTLS part skipped: pass --cert-file and --key-file")

    # --- Skip Certificate Verification (Testing Only)
    # WARNING: Only use for testing - disables all certificate verification
    client = FlyMQClient(
        endpoint.address,
        tls_enabled=True,
        tls_insecure_skip_verify=True,  # Insecure - testing only!
    )
    print(f"unverified TLS: connected to {client.connected_server}")
    client.close()
