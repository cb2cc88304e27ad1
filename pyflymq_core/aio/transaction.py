"""``AsyncTransaction``: the asyncio twin of :class:`pyflymq_core.client.transactions.Transaction`.

Same guarantees, same wording of failures (the partial-failure report is the sync class's): records
are buffered by the client and sent only at ``await txn.commit()`` — BEGIN_TX, every record as
PRODUCE_TX pipelined on one connection, then COMMIT_TX only if every record was accepted, else
ABORT_TX — so ``rollback()`` really discards.  See the sync module for what the server does with them.
"""

from __future__ import annotations

import asyncio
import logging
from types import TracebackType
from typing import TYPE_CHECKING

from pyflymq_core import validation as v
from pyflymq_core.client import calls
from pyflymq_core.client.calls import complete
from pyflymq_core.client.transactions import Transaction
from pyflymq_core.errors import FlyMQError, TransactionError
from pyflymq_core.models import RecordMetadata, TransactionResult
from pyflymq_core.protocol import Frame

if TYPE_CHECKING:
    from pyflymq_core.client.async_client import AsyncFlyMQClient
    from pyflymq_core.client.async_connection import AsyncConnection

__all__ = ["AsyncTransaction"]

logger = logging.getLogger("pyflymq.client")

_OPEN, _COMMITTED, _ROLLED_BACK, _FAILED = "open", "committed", "rolled back", "failed"


class AsyncTransaction:
    """A batch of produces sent at ``await commit()`` and discarded by ``rollback()``.

    ``async with client.transaction() as txn:`` commits on success and rolls back on exception.
    ``produce`` only buffers, so it is a plain (non-async) method.
    """

    def __init__(self, client: AsyncFlyMQClient) -> None:
        self._client = client
        self._records: list[tuple[str, bytes]] = []
        self._state = _OPEN
        self.result: TransactionResult | None = None

    @property
    def state(self) -> str:
        """``open``, ``committed``, ``rolled back`` or ``failed``."""
        return self._state

    def __len__(self) -> int:
        return len(self._records)

    def produce(self, topic: str, value: bytes | str) -> None:
        """Buffer one record (validated now; sent at commit).  Transactions carry no keys."""
        name, _, data = v.check_produce(topic, None, value, overhead=8 + 64)
        encoder = self._client._value_encoder
        if encoder is not None:
            data = encoder(name, data)
        self._require_open()
        self._records.append((name, data))

    async def commit(self) -> TransactionResult:
        """Send the buffered records atomically as far as the server allows."""
        self._require_open()
        records = list(self._records)
        self._state = _FAILED  # until proven otherwise
        result = await self._send(records)
        self._state = _COMMITTED
        self.result = result
        return result

    def rollback(self) -> None:
        """Discard the buffered records (nothing was sent).  Idempotent after rollback."""
        if self._state == _ROLLED_BACK:
            return
        self._require_open()
        self._records.clear()
        self._state = _ROLLED_BACK

    abort = rollback

    async def __aenter__(self) -> AsyncTransaction:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._state != _OPEN:
            return
        if exc_type is None:
            await self.commit()
        else:
            logger.info("transaction rolled back after %s", exc_type.__name__)
            self.rollback()

    def _require_open(self) -> None:
        if self._state != _OPEN:
            raise TransactionError(
                f"the transaction is {self._state}",
                hint="Begin a new transaction with client.begin_transaction().",
            )

    async def _send(self, records: list[tuple[str, bytes]]) -> TransactionResult:
        client = self._client
        if not records:
            return TransactionResult(txn_id="", records=[], coordinator=False)
        conn = await client._primary_connection()
        timeout = client.config.request_timeout
        try:
            txn_id = await client._execute(calls.begin_tx(), conn)
        except FlyMQError as exc:
            raise TransactionError(f"could not begin the transaction: {exc}; nothing was written") from exc
        coordinator = txn_id.startswith("txn-producer-")
        built = [calls.produce_tx(txn_id, topic, data) for topic, data in records]
        outcomes: list[RecordMetadata | FlyMQError] = []
        futures: list[asyncio.Future[Frame]] = []
        try:
            for call in built:
                futures.append(await conn.submit(call.op, call.payload, timeout=timeout))
        except FlyMQError as exc:
            # Nothing more could be written; what was written is awaited below, the rest failed.
            unsent: FlyMQError | None = exc
        else:
            unsent = None
        for call, future in zip(built, futures, strict=False):
            try:
                outcomes.append(complete(call, await future))
            except FlyMQError as exc:
                outcomes.append(exc)
        if unsent is not None:
            outcomes.extend([unsent] * (len(built) - len(outcomes)))
        failures = [o for o in outcomes if isinstance(o, FlyMQError)]
        if failures:
            await self._abort(txn_id, conn)
            raise Transaction._partial_failure(txn_id, coordinator, records, outcomes, failures[0])
        written = [o for o in outcomes if isinstance(o, RecordMetadata)]
        try:
            await client._execute(calls.commit_tx(txn_id), conn)
        except TransactionError as exc:
            raise TransactionError(
                f"the server reported that committing transaction {txn_id!r} failed"
                + (
                    "; it writes transactional records one by one at commit, so some of the "
                    f"{len(records)} records may have been written"
                    if coordinator
                    else f"; its coordinator is off, so all {len(records)} records were already written"
                ),
                hint=exc.hint,
            ) from exc
        except FlyMQError as exc:
            raise TransactionError(
                f"the outcome of committing transaction {txn_id!r} is unknown: {exc}",
                hint="Check the topics for the records before retrying; the commit may or may not "
                "have been applied.",
            ) from exc
        logger.debug("transaction %s committed (%d records)", txn_id, len(records))
        return TransactionResult(txn_id=txn_id, records=written, coordinator=coordinator)

    async def _abort(self, txn_id: str, conn: AsyncConnection) -> None:
        try:
            await self._client._execute(calls.abort_tx(txn_id), conn)
        except FlyMQError as exc:
            logger.warning("aborting transaction %s failed: %s", txn_id, exc)
