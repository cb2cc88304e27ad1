"""The FlyMQ clients.

* :mod:`.calls` — every operation as data (validated request payload + result parser), shared by
  the sync and asyncio clients;
* :mod:`.connection` — one pipelined connection (FIFO of pending requests, leader/follower reads);
* :mod:`.sync_client` — :class:`FlyMQClient` and :func:`connect`;
* :mod:`.cluster`, :mod:`.keepalive`, :mod:`.transactions` — routing, idle keep-alive, client-side
  transactions.

Import from here lazily: importing this package does not import the client modules.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pyflymq_core.client.connection import Connection, PendingResponse
    from pyflymq_core.client.sync_client import FlyMQClient, connect
    from pyflymq_core.client.transactions import Transaction

__all__ = ["Connection", "FlyMQClient", "PendingResponse", "Transaction", "connect"]

_EXPORTS = {
    "Connection": "pyflymq_core.client.connection",
    "PendingResponse": "pyflymq_core.client.connection",
    "FlyMQClient": "pyflymq_core.client.sync_client",
    "connect": "pyflymq_core.client.sync_client",
    "Transaction": "pyflymq_core.client.transactions",
}


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)
