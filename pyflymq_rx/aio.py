"""``AsyncReactiveConsumer``: ``async with AsyncReactiveConsumer(client, topic, group) as consumer:
async for message in consumer`` — the seed's "Async Consumer".

``client`` may be a sync :class:`~pyflymq.FlyMQClient` (as in the seed) or an
:class:`~pyflymq.AsyncFlyMQClient`.  With a sync client the consumer opens an asyncio client of its
own from that client's configuration and current credentials (see :mod:`pyflymq_rx._clients`), and
closes it on exit: reading is native asyncio, no thread blocks on a socket.

A background task polls an :class:`~pyflymq_core.aio.consumer.AsyncConsumer` into a bounded buffer
(``buffer_size`` messages, ``backpressure`` = ``block`` | ``drop_oldest`` | ``error``, see
:mod:`pyflymq_rx.backpressure`); ``async for`` takes from it.  Offsets committed (every
``auto_commit_interval_ms`` and on exit) are those of messages the loop *received*: messages still in
the buffer at exit are read again by the group's next consumer (at-least-once).
"""

from __future__ import annotations

import asyncio
import logging
from types import TracebackType
from typing import Any

from pyflymq_core.aio.consumer import AsyncConsumer
from pyflymq_core.client.async_client import AsyncFlyMQClient
from pyflymq_core.errors import ConnectionError, FlyMQError
from pyflymq_core.models import ConsumedMessage
from pyflymq_rx._delivery import Delivery
from pyflymq_rx.backpressure import DEFAULT_BUFFER_SIZE, AsyncBuffer, Backpressure

__all__ = ["AsyncReactiveConsumer"]

logger = logging.getLogger("pyflymq.rx")


class AsyncReactiveConsumer:
    """An async iterator of :class:`~pyflymq_core.models.ConsumedMessage` with bounded buffering.

    Options: ``buffer_size`` (default 1000), ``backpressure`` (``"block"``), ``poll_timeout_ms``
    (500), and any :class:`~pyflymq_core.config.ConsumerConfig` option (``auto_offset_reset``,
    ``enable_auto_commit``, ``member_index``/``member_count``, ...).
    """

    def __init__(
        self,
        client: Any,
        topic: str | list[str],
        group_id: str | None = None,
        *,
        buffer_size: int = DEFAULT_BUFFER_SIZE,
        backpressure: Backpressure | str = Backpressure.BLOCK,
        poll_timeout_ms: int = 500,
        **consumer_options: Any,
    ) -> None:
        self._given = client
        self._topics = topic
        self._delivery = Delivery(group_id, poll_timeout_ms, consumer_options)
        self._buffer: AsyncBuffer[ConsumedMessage] = AsyncBuffer(buffer_size, backpressure)
        self._client: AsyncFlyMQClient | None = None
        self._owned = False
        self._consumer: AsyncConsumer | None = None
        self._fetcher: asyncio.Task[None] | None = None
        self._started = False
        self._closed = False

    # ------------------------------------------------------------------ lifecycle

    @property
    def dropped(self) -> int:
        """Messages discarded by ``backpressure="drop_oldest"``."""
        return self._buffer.dropped

    @property
    def buffered(self) -> int:
        """Messages fetched and waiting for the subscriber (at most ``buffer_size``)."""
        return len(self._buffer)

    async def start(self) -> AsyncReactiveConsumer:
        """Connect, assign partitions, resolve start offsets and start fetching (idempotent)."""
        if self._started:
            return self
        if self._closed:
            raise ConnectionError("the consumer is closed", hint="Create a new AsyncReactiveConsumer.")
        self._client, self._owned, self._consumer = await self._delivery.open(self._given, self._topics)
        self._started = True
        self._fetcher = asyncio.get_running_loop().create_task(self._fetch_loop(), name="pyflymq-rx-fetch")
        return self

    def stop(self) -> None:
        """End the iteration now (messages still buffered are not delivered; ``close()`` cleans up)."""
        dropped = self._buffer.finish(discard=True)
        if dropped:
            logger.debug("stop(): %d buffered message(s) not delivered (not committed)", dropped)

    async def close(self) -> None:
        """Stop fetching, commit what was delivered, close the consumer (and the owned client)."""
        if self._closed:
            return
        self._closed = True
        self.stop()
        fetcher, self._fetcher = self._fetcher, None
        if fetcher is not None and not fetcher.done():
            fetcher.cancel()
            await asyncio.wait([fetcher])
        try:
            if self._consumer is not None:
                await self._delivery.commit(self._consumer)
        except FlyMQError as exc:
            logger.warning("final commit of the reactive consumer failed: %s", exc)
            raise
        finally:
            if self._consumer is not None:
                await self._consumer.close()
            if self._owned and self._client is not None:
                await self._client.close()

    async def __aenter__(self) -> AsyncReactiveConsumer:
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            await self.close()
            return
        try:
            await self.close()
        except FlyMQError as close_error:  # never hide the exception (or cancellation) leaving the block
            logger.error("closing the reactive consumer after %s failed: %s", exc_type.__name__, close_error)

    # ------------------------------------------------------------------ iteration

    def __aiter__(self) -> AsyncReactiveConsumer:
        return self

    async def __anext__(self) -> ConsumedMessage:
        if not self._started:
            if self._closed:
                raise StopAsyncIteration
            await self.start()
        message = await self._buffer.get()
        self._delivery.record(message)
        return message

    # ------------------------------------------------------------------ the fetch task

    async def _fetch_loop(self) -> None:
        consumer = self._consumer
        assert consumer is not None
        buffer = self._buffer
        delivery = self._delivery
        try:
            while True:
                records = await consumer.poll(delivery.poll_timeout_ms)
                for record in records:
                    while (placed := await buffer.put(record, delivery.until_commit())) is None:
                        # a slow loop holds the buffer full: still commit what it received
                        if delivery.commit_due():
                            await delivery.commit(consumer)
                    if not placed:
                        return  # stopped
                if delivery.commit_due():
                    await delivery.commit(consumer)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # FlyMQError, BufferFullError (policy "error"), or a bug
            if not isinstance(exc, FlyMQError):
                logger.exception("the reactive consumer's fetch task failed")
            buffer.finish(exc)
