"""``AsyncTransaction``: the asyncio twin of :class:`pyflymq_core.client.transactions.Transaction`.

Same guarantees and the same wording of failures: state, buffering, the commit protocol's decisions
and every error text come from :class:`~pyflymq_core.client.transactions.TransactionCore`; this
class only awaits the requests.  Records are buffered by the client and sent at
``await txn.commit()`` — BEGIN_TX, every record as PRODUCE_TX pipelined on one connection, then
COMMIT_TX only if every record was accepted, else ABORT_TX — so ``rollback()`` really discards.
See the sync module for what the server does with them.
"""

from __future__ import annotations

import asyncio
from types import TracebackType
from typing import TYPE_CHECKING

from pyflymq_core.client import calls
from pyflymq_core.client.transactions import TransactionCore
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
        client = self._client
        if not records:
            return TransactionResult(txn_id="", records=[], coordinator=False)
        conn = await client._primary_connection()
        timeout = client.config.request_timeout
        try:
            txn_id = await client._execute(calls.begin_tx(), conn)
        except FlyMQError as exc:
            raise self._begin_failed(exc) from exc
        coordinator = self._is_coordinated(txn_id)
        built = self._produce_calls(txn_id, records)
        futures: list[asyncio.Future[Frame]] = []
        started: list[float] = []
        unsent: FlyMQError | None = None
        observer = client.observer
        try:
            for call in built:
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
        outcomes = self._outcomes(built, answers, unsent, observer, started)
        rejected = self._rejected(txn_id, coordinator, records, outcomes)
        if rejected is not None:
            await self._abort(txn_id, conn)
            raise rejected
        try:
            await client._execute(calls.commit_tx(txn_id), conn)
        except FlyMQError as exc:
            raise self._commit_failed(exc, txn_id, coordinator, len(records)) from exc
        return self._result(txn_id, coordinator, outcomes)

    async def _abort(self, txn_id: str, conn: AsyncConnection) -> None:
        try:
            await self._client._execute(calls.abort_tx(txn_id), conn)
        except FlyMQError as exc:
            self._abort_failed(txn_id, exc)
