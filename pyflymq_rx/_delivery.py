"""What both reactive consumers share: their options, the inner consumer, and the offsets to commit.

:class:`~pyflymq_rx.consumer.ReactiveConsumer` (threads and an Observable) and
:class:`~pyflymq_rx.aio.AsyncReactiveConsumer` (an async iterator) differ only in how they hand
messages to the subscriber.  What they read and which offsets they commit — those of messages
*delivered* to the subscriber, never those merely buffered — must not differ, so it is written once,
here.
"""

from __future__ import annotations

import time
from typing import Any

from pyflymq_core.aio.consumer import AsyncConsumer
from pyflymq_core.client.async_client import AsyncFlyMQClient
from pyflymq_core.config import ConsumerConfig
from pyflymq_core.consumer.consumer import build_consumer_config
from pyflymq_core.models import ConsumedMessage
from pyflymq_rx._clients import async_client_for

__all__ = ["Delivery"]


class Delivery:
    """One reactive consumer's options, its delivered and committed offsets, and its commit clock.

    ``consumer_options`` are :class:`~pyflymq_core.config.ConsumerConfig` options plus the seed's
    ``auto_commit`` alias.  The inner consumer never commits by itself: only :meth:`commit` does,
    with the offsets :meth:`record` noted, so a message still buffered at stop is read again by the
    group's next consumer (at-least-once).
    """

    def __init__(self, group_id: str | None, poll_timeout_ms: int, consumer_options: dict[str, Any]) -> None:
        options = dict(consumer_options)
        auto_commit = options.pop("auto_commit", None)
        self.config: ConsumerConfig = build_consumer_config(None, group_id, auto_commit, options)
        self.poll_timeout_ms = poll_timeout_ms
        #: Whether :meth:`commit_due` ever says yes (auto-commit on, and a group to commit for).
        self.auto_commit = self.config.enable_auto_commit and self.config.group_id is not None
        self._commit_interval = self.config.auto_commit_interval_ms / 1000.0
        self._next_commit = 0.0
        #: Next offset to read per partition, for the messages handed to the subscriber.
        #: ``(topic, partition)`` -> next offset; plain tuples (equal to ``TopicPartition``s), since a
        #: key is made per delivered message.
        self.delivered: dict[tuple[str, int], int] = {}
        self.committed: dict[tuple[str, int], int] = {}

    async def open(self, given: Any, topics: str | list[str]) -> tuple[AsyncFlyMQClient, bool, AsyncConsumer]:
        """Connect and start the inner consumer: ``(client, owned, consumer)``.

        ``owned`` is true when ``given`` was a sync client and an asyncio client was opened from its
        configuration (see :mod:`pyflymq_rx._clients`); that client is closed again if starting
        fails, so the caller only cleans up after a successful open.
        """
        client, owned = async_client_for(given)
        try:
            await client.connect()
            consumer = AsyncConsumer(
                client, topics, config=self.config.with_options(enable_auto_commit=False)
            )
            await consumer.start()
        except BaseException:
            if owned:
                await client.close()
            raise
        self.restart_clock()
        return client, owned, consumer

    def record(self, message: ConsumedMessage) -> None:
        """Note that ``message`` reached the subscriber: its offset may now be committed."""
        self.delivered[(message.topic, message.partition)] = message.offset + 1

    def restart_clock(self) -> None:
        """Start a full auto-commit interval from now."""
        self._next_commit = time.monotonic() + self._commit_interval

    def until_commit(self) -> float | None:
        """Seconds until the next auto-commit is due (``None`` without auto-commit): how long a
        fetcher blocked by a full buffer may wait before it commits what was delivered meanwhile."""
        if not self.auto_commit:
            return None
        return max(0.0, self._next_commit - time.monotonic())

    def commit_due(self) -> bool:
        """Whether an auto-commit is due now (then the next one is an interval away)."""
        if not self.auto_commit or time.monotonic() < self._next_commit:
            return False
        self.restart_clock()
        return True

    async def commit(self, consumer: AsyncConsumer) -> None:
        """Commit the delivered offsets that changed since the last commit (none without a group).

        Reads a snapshot of :attr:`delivered`: another thread may go on delivering meanwhile.
        """
        if consumer.group_id is None:
            return
        offsets = dict(self.delivered)
        todo = {tp: offset for tp, offset in offsets.items() if self.committed.get(tp) != offset}
        if todo:
            await consumer.commit(todo)
            self.committed.update(todo)
