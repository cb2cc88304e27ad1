"""The asyncio TLS transport against a TLS broker (embedded with a generated test CA, or the real
server given with ``--flymq-bootstrap ... --flymq-tls-ca-file ...``): verification on by default,
CA file, client certificate, and ``tls_insecure_skip_verify`` that warns."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Callable
from typing import Any

import pytest

from pyflymq import AsyncFlyMQClient
from pyflymq_core.errors import ConnectionError
from pyflymq_transports.tls import InsecureTransportWarning


def _credentials(flymq_options: Any) -> dict[str, Any]:
    kwargs: dict[str, Any] = {}
    if flymq_options.username is not None:
        kwargs.update(username=flymq_options.username, password=flymq_options.password)
    return kwargs


def test_tls_with_server_verification(
    flymq_tls_bootstrap: Any, flymq_options: Any, unique_topic: Callable[..., str]
) -> None:
    if flymq_tls_bootstrap.ca_file is None:
        pytest.skip("no CA file for the TLS server under test (--flymq-tls-ca-file)")
    topic = unique_topic("aio-tls")

    async def main() -> None:
        async with AsyncFlyMQClient(
            flymq_tls_bootstrap.address,
            tls_enabled=True,
            tls_ca_file=flymq_tls_bootstrap.ca_file,
            max_retries=0,
            **_credentials(flymq_options),
        ) as client:
            assert (await client.produce(topic, b"Hello, TLS!")).offset == 0
            assert (await client.consume(topic, 0)).decode() == "Hello, TLS!"
            conn = await client.connection()
            ssl_object: Any = conn.transport.ssl_object  # type: ignore[attr-defined]
            assert isinstance(ssl_object, ssl.SSLObject)
            assert ssl_object.version() in ("TLSv1.2", "TLSv1.3")

    asyncio.run(asyncio.wait_for(main(), 30))


def test_client_certificate_is_presented(
    flymq_tls_bootstrap: Any, flymq_options: Any, unique_topic: Callable[..., str]
) -> None:
    if flymq_tls_bootstrap.cert_file is None:
        pytest.skip("no certificate/key pair available for the TLS server under test")

    async def main() -> None:
        async with AsyncFlyMQClient(
            flymq_tls_bootstrap.address,
            tls_enabled=True,
            tls_ca_file=flymq_tls_bootstrap.ca_file,
            tls_cert_file=flymq_tls_bootstrap.cert_file,
            tls_key_file=flymq_tls_bootstrap.key_file,
            **_credentials(flymq_options),
        ) as client:
            assert (await client.produce(unique_topic("aio-mtls"), b"x")).offset == 0

    asyncio.run(asyncio.wait_for(main(), 30))


def test_unverified_server_is_refused_with_a_hint(flymq_tls_bootstrap: Any, flymq_options: Any) -> None:
    async def main() -> None:
        with pytest.raises(ConnectionError) as info:
            await AsyncFlyMQClient(
                flymq_tls_bootstrap.address, tls_enabled=True, max_retries=0, **_credentials(flymq_options)
            ).connect()
        assert any("certificate" in why.lower() for _, why in info.value.servers_tried)

    if flymq_options.tls_ca_file is None and not flymq_options.embedded:
        pytest.skip("the real server's certificate may be trusted by the system store")
    asyncio.run(asyncio.wait_for(main(), 30))


def test_skip_verification_warns_and_connects(
    flymq_tls_bootstrap: Any, flymq_options: Any, unique_topic: Callable[..., str]
) -> None:
    async def main() -> None:
        with pytest.warns(InsecureTransportWarning, match="verification is disabled"):
            client = AsyncFlyMQClient(
                flymq_tls_bootstrap.address,
                tls_enabled=True,
                tls_insecure_skip_verify=True,
                **_credentials(flymq_options),
            )
            await client.connect()
        try:
            assert (await client.produce(unique_topic("aio-insecure"), b"x")).offset == 0
        finally:
            await client.close()

    asyncio.run(asyncio.wait_for(main(), 30))
