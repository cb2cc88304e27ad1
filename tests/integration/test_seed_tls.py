"""The seed README's TLS Configuration snippets against a TLS broker (embedded with a generated test
CA, or the real server given with --flymq-bootstrap ... --flymq-tls-ca-file ...)."""

from __future__ import annotations

import ssl
import warnings
from collections.abc import Callable
from typing import Any

import pytest

from pyflymq_core.errors import ConnectionError


def _credentials(flymq_options: Any) -> dict[str, Any]:
    kwargs: dict[str, Any] = {}
    if flymq_options.username is not None:
        kwargs.update(username=flymq_options.username, password=flymq_options.password)
    return kwargs


def test_basic_tls_with_server_verification(
    flymq_tls_bootstrap: Any, flymq_options: Any, unique_topic: Callable[..., str]
) -> None:
    from pyflymq import FlyMQClient

    address, ca_file = flymq_tls_bootstrap.address, flymq_tls_bootstrap.ca_file
    if ca_file is None:
        pytest.skip("no CA file for the TLS server under test (--flymq-tls-ca-file)")
    my_topic = unique_topic("my-topic")
    creds = _credentials(flymq_options)

    # Connect with TLS and verify server certificate
    client = FlyMQClient(
        address,
        tls_enabled=True,
        tls_ca_file=ca_file,  # CA certificate for server verification
        **creds,
    )

    # Use context manager for automatic cleanup
    with FlyMQClient(address, tls_enabled=True, tls_ca_file=ca_file, **creds) as client2:
        client2.produce(my_topic, b"Hello, TLS!")

    sock = client.connection().transport.socket  # type: ignore[attr-defined]
    assert isinstance(sock, ssl.SSLSocket)
    assert sock.version() in ("TLSv1.2", "TLSv1.3")
    assert client.consume(my_topic, 0).decode() == "Hello, TLS!"
    client.close()
    assert client2.closed


def test_mutual_tls_client_certificate(
    flymq_tls_bootstrap: Any, flymq_options: Any, unique_topic: Callable[..., str]
) -> None:
    from pyflymq import ClientConfig, FlyMQClient

    if flymq_tls_bootstrap.cert_file is None:
        pytest.skip("no client certificate available for the TLS server under test")
    # Any certificate/key pair will do: FlyMQ 1.26 never requests client certificates (see
    # docs/client.md); here the broker's own pair stands in for a client certificate.
    client_crt, client_key = flymq_tls_bootstrap.cert_file, flymq_tls_bootstrap.key_file

    # mTLS with client certificate authentication
    config = ClientConfig(
        bootstrap_servers=flymq_tls_bootstrap.address,
        tls_enabled=True,
        tls_ca_file=flymq_tls_bootstrap.ca_file,  # CA certificate
        tls_cert_file=client_crt,  # Client certificate
        tls_key_file=client_key,  # Client private key
        **_credentials(flymq_options),
    )
    client = FlyMQClient(config=config)

    assert client.produce(unique_topic("mtls"), b"x").offset == 0
    client.close()


def test_skip_certificate_verification_warns(
    flymq_tls_bootstrap: Any, flymq_options: Any, unique_topic: Callable[..., str]
) -> None:
    from pyflymq import FlyMQClient
    from pyflymq_transports.tls import InsecureTransportWarning

    with pytest.warns(InsecureTransportWarning, match="verification is disabled"):
        # WARNING: Only use for testing - disables all certificate verification
        client = FlyMQClient(
            flymq_tls_bootstrap.address,
            tls_enabled=True,
            tls_insecure_skip_verify=True,  # Insecure - testing only!
            **_credentials(flymq_options),
        )
    assert client.produce(unique_topic("insecure"), b"x").offset == 0
    client.close()


def test_unknown_ca_is_refused_with_a_clear_error(flymq_tls_bootstrap: Any, flymq_options: Any) -> None:
    from pyflymq import FlyMQClient

    if flymq_options.tls_ca_file is None and not flymq_options.embedded:
        pytest.skip("the real server's certificate may be trusted by the system store")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # verification stays on: no insecure warning either
        with pytest.raises(ConnectionError) as info:
            FlyMQClient(flymq_tls_bootstrap.address, tls_enabled=True, max_retries=0)
    text = str(info.value).lower()
    assert "certificate" in text
    assert info.value.servers_tried and flymq_tls_bootstrap.address == info.value.servers_tried[0][0]


def test_flymqs_scheme_selects_tls(flymq_tls_bootstrap: Any, flymq_options: Any) -> None:
    from pyflymq import FlyMQClient

    if flymq_tls_bootstrap.ca_file is None:
        pytest.skip("no CA file for the TLS server under test")
    with FlyMQClient(
        f"flymqs://{flymq_tls_bootstrap.address}",
        tls_ca_file=flymq_tls_bootstrap.ca_file,
        **_credentials(flymq_options),
    ) as client:
        assert isinstance(client.connection().transport.socket, ssl.SSLSocket)  # type: ignore[attr-defined]
        client.list_topics()


def test_plain_tcp_to_a_tls_server_fails_cleanly(flymq_tls_bootstrap: Any) -> None:
    from pyflymq import FlyMQClient

    with pytest.raises((ConnectionError,)):
        client = FlyMQClient(flymq_tls_bootstrap.address, max_retries=0, request_timeout_ms=2000)
        try:
            client.list_topics()
        finally:
            client.close()
