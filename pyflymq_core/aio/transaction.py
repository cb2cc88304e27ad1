"""``AsyncTransaction``: the asyncio twin of :class:`pyflymq_core.client.transactions.Transaction`.

Same guarantees and the same wording of failures: state, buffering, the commit protocol
(``TransactionCore._commit_steps``) and every error text come from
:class:`~pyflymq_core.client.transactions.TransactionCore`; this class only awaits the steps.
Records are buffered by the client and sent at ``await txn.commit()`` — BEGIN_TX, every record as
PRODUCE_TX pipelined on one connection, then COMMIT_TX only if every record was accepted, else
ABORT_TX — so ``rollback()`` really discards.
See the sync module for what the server does with them.
"""

from __future__ import annotations

import asyncio
from types import TracebackType
from typing import TYPE_CHECKING, Any

from pyflymq_core.client.transactions import Execute, Pipeline, PipelineAnswers, TransactionCore
from pyflymq_core.errors import FlyMQError
from pyflymq_core.models import TransactionResult
from pyflymq_core.protocol import Frame

if TYPE_CHECKING:
    from pyflymq_core.client.async_client import AsyncFlyMQClient
    from pyflymq_core.client.async_connection import AsyncConnection

__all__ = ["AsyncTransaction"]


class AsyncTransaction(TransactionCore):
    """A batch of produces sent at ``await commit()`` and discarded by ``rollback()``.

    ``async with client.transaction() as txn:`` commits on success and rolls back on exception.
    ``produce`` only buffers, so it is a plain (non-async) method.
    """

    _client: AsyncFlyMQClient

    def produce(self, topic: str, value: bytes | str) -> None:
        """Buffer one record (validated now; sent at commit).  Transactions carry no keys."""
        self._add(self._encode_record(topic, value))

    async def commit(self) -> TransactionResult:
        """Send the buffered records atomically as far as the server allows."""
        records = self._begin_commit()
        return self._committed(await self._send(records))

    def rollback(self) -> None:
        """Discard the buffered records (nothing was sent).  Idempotent after rollback."""
        self._rollback()

    abort = rollback

    async def __aenter__(self) -> AsyncTransaction:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._commit_on_exit(exc_type):
            await self.commit()

    async def _send(self, records: list[tuple[str, bytes]]) -> TransactionResult:
        """Run :meth:`_commit_steps` on the client's primary connection, awaiting each step."""
        steps = self._commit_steps(records)
        step = self._advance(steps, None)
        conn: AsyncConnection | None = None
        while not isinstance(step, TransactionResult):
            if conn is None:
                conn = await self._client._primary_connection()
            step = self._advance(steps, await self._perform(step, conn))
        return step

    async def _perform(self, step: Execute[Any] | Pipeline, conn: AsyncConnection) -> Any:
        if isinstance(step, Pipeline):
            return await self._pipeline(step, conn)
        try:
            return await self._client._execute(step.call, conn)
        except FlyMQError as exc:
            return exc

    async def _pipeline(self, step: Pipeline, conn: AsyncConnection) -> PipelineAnswers:
        timeout = self._client.config.request_timeout
        observer = self._client.observer
        futures: list[asyncio.Future[Frame]] = []
        started: list[float] = []
        unsent: FlyMQError | None = None
        try:
            for call in step.calls:
                started.append(observer.start(call))
                futures.append(await conn.submit(call.op, call.payload, timeout=timeout))
        except FlyMQError as exc:
            unsent = exc  # what was written is awaited below; the rest was not sent
        answers: list[Frame | FlyMQError] = []
        for future in futures:
            try:
                answers.append(await future)
            except FlyMQError as exc:
                answers.append(exc)
        return PipelineAnswers(answers, started, unsent)
