"""asyncio high-level API over :class:`~pyflymq_core.client.async_client.AsyncFlyMQClient`.

* :mod:`.producer` — :class:`AsyncProducer`: pipelined batches, futures, callbacks, retries, a
  bounded buffer (``client.producer(...)``);
* :mod:`.consumer` — :class:`AsyncConsumer`: ``async for``, ``poll``, commit, seek/position, client-side
  partition assignment (``client.consumer(...)``);
* :mod:`.transaction` — :class:`AsyncTransaction` (``async with client.transaction() as txn``).

They share their pure logic with the sync producer and consumer (:mod:`pyflymq_core.producer`,
:mod:`pyflymq_core.consumer`): record encoding, partition assignment, offset look-ups, configuration
handling and error types, so both flavours behave the same.

Import lazily: importing this package imports none of them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pyflymq_core.aio.consumer import AsyncConsumer
    from pyflymq_core.aio.producer import AsyncProducer
    from pyflymq_core.aio.transaction import AsyncTransaction

__all__ = ["AsyncConsumer", "AsyncProducer", "AsyncTransaction"]

_EXPORTS = {
    "AsyncConsumer": "pyflymq_core.aio.consumer",
    "AsyncProducer": "pyflymq_core.aio.producer",
    "AsyncTransaction": "pyflymq_core.aio.transaction",
}


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)
