"""Integration-test helpers on top of the pyflymq pytest plugin's fixtures.

The plugin (``pyflymq_broker.pytest_plugin``) provides ``flymq_bootstrap``, ``flymq_client``,
``flymq_broker``, ``flymq_tls_bootstrap``, ``unique_topic`` and ``flymq_options``; this file only adds
what the seed snippets need to build their own clients the same way ``flymq_client`` does.
"""

from __future__ import annotations

from typing import Any

import pytest


@pytest.fixture
def flymq_client_kwargs(flymq_options: Any) -> dict[str, Any]:
    """Keyword options for a client of the server under test (credentials/TLS from --flymq-*)."""
    kwargs: dict[str, Any] = flymq_options.client_kwargs()
    return kwargs


@pytest.fixture
def embedded_only(flymq_options: Any) -> None:
    """Skip the test against a real server (it inspects or reconfigures the embedded broker)."""
    if not flymq_options.embedded:
        pytest.skip("needs the embedded broker (--flymq-bootstrap points at a real server)")
