"""Integration-test helpers on top of the pyflymq pytest plugin's fixtures.

The plugin (``pyflymq_broker.pytest_plugin``) provides ``flymq_bootstrap``, ``flymq_client``,
``flymq_broker``, ``flymq_tls_bootstrap``, ``unique_topic`` and ``flymq_options``; this file adds
what the seed snippets need to build their own clients the same way ``flymq_client`` does, and
probes for the server features a real server may have switched off.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from pyflymq_core.errors import FeatureDisabledError


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


@pytest.fixture
def dlq_enabled(flymq_client: Any, unique_topic: Callable[..., str]) -> None:
    """Skip the test when the server under test has its DLQ opcodes off (``dlq.enabled = false``).

    Why a probe: FETCH_DLQ answers an empty list when the DLQ is off, which a test cannot tell
    from "no dead letters".  PURGE_DLQ of a topic that never existed is harmless and tells them
    apart: ``DLQ not enabled`` when off, success when on (deleting a missing topic succeeds).
    The embedded broker turns the DLQ on, so the tests always run there.
    """
    try:
        flymq_client.purge_dlq(unique_topic("dlq-probe"))
    except FeatureDisabledError:
        pytest.skip("the server under test has its DLQ disabled (dlq.enabled = false)")
