"""Where the reactive consumers read from: an :class:`AsyncFlyMQClient` of their own, opened from
the configuration of the client they were given.

Why not the given sync client's connection: the reactive consumers fetch ahead on a background loop
(native asyncio, no thread per blocking call), which a sync client's blocking connection cannot
serve.  The derived client uses the same bootstrap servers, TLS settings, timeouts and the *current*
credentials of the sync client (including an ``authenticate()`` made after it was created).
"""

from __future__ import annotations

from typing import Any

from pyflymq_core.client.async_client import AsyncFlyMQClient
from pyflymq_core.errors import ConfigurationError

__all__ = ["async_client_for"]


def async_client_for(client: Any) -> tuple[AsyncFlyMQClient, bool]:
    """``(async client, owned)``: ``client`` itself when it is asynchronous, else a new
    :class:`AsyncFlyMQClient` built from its configuration (``owned``: close it when done)."""
    if isinstance(client, AsyncFlyMQClient):
        return client, False
    from pyflymq_core.client.sync_client import FlyMQClient

    if not isinstance(client, FlyMQClient):
        raise ConfigurationError(
            f"expected a FlyMQClient or an AsyncFlyMQClient, got {type(client).__name__}",
            hint="Pass the client returned by pyflymq.connect(...) or pyflymq.connect_async(...).",
        )
    if client._transport_factory is not None:
        raise ConfigurationError(
            "this FlyMQClient was built with a custom transport_factory, which the reactive consumer's "
            "own asyncio connection cannot reuse",
            hint="Pass an AsyncFlyMQClient built with an asyncio transport_factory instead.",
        )
    if client.closed:
        raise ConfigurationError("the FlyMQClient is closed", hint="Pass an open client.")
    config = client.config
    credentials = client._credentials
    if credentials is not None:
        username, password = credentials
        current = config.password.get_secret_value() if config.password is not None else None
        if (config.username, current) != (username, password):
            config = config.with_options(username=username, password=password)
    return AsyncFlyMQClient(config=config), True
