"""Client-side transactions: produces are buffered by the client and only sent at ``commit()``.

Why buffering: the FlyMQ server's transactions are weak (SEMANTICS_NOTES #25).  With its coordinator
off (the default) PRODUCE_TX writes immediately and ABORT undoes nothing; with it on, records are
held until COMMIT and then written one by one (not atomic if one fails).  Buffering in the client
makes ``rollback()`` real in both modes — nothing has been sent — and keeps the server-side
transaction short (it expires about 60 s after BEGIN).

What ``commit()`` guarantees, exactly:

* BEGIN_TX, then every record as PRODUCE_TX (pipelined on one connection), then COMMIT_TX only if
  every PRODUCE_TX was accepted; otherwise ABORT_TX.
* Coordinator on: a rejected record means nothing was written (the server discards on ABORT).
  A COMMIT answered with ``success = 0`` raises :class:`TransactionError`: the server may have
  written part of the records before failing.
* Coordinator off (ids ``txn-<digits>``): every accepted PRODUCE_TX was written at once; a failure
  raises :class:`TransactionError` listing which records were written (topic/partition/offset) and
  which were not.
* A lost connection during commit raises :class:`TransactionError`: the outcome is unknown.

Records carry no key (PRODUCE_TX has no key field) and are partitioned by the server.
"""

from __future__ import annotations

import logging
import threading
from types import TracebackType
from typing import TYPE_CHECKING

from pyflymq_core import validation as v
from pyflymq_core.client import calls
from pyflymq_core.client.calls import complete
from pyflymq_core.client.connection import NotSentError
from pyflymq_core.errors import ConnectionError, FlyMQError, TimeoutError, TransactionError
from pyflymq_core.models import RecordMetadata, TransactionResult

if TYPE_CHECKING:
    from pyflymq_core.client.connection import Connection
    from pyflymq_core.client.sync_client import FlyMQClient

__all__ = ["Transaction"]

logger = logging.getLogger("pyflymq.client")

_OPEN, _COMMITTED, _ROLLED_BACK, _FAILED = "open", "committed", "rolled back", "failed"


class Transaction:
    """A batch of produces that is sent at ``commit()`` and discarded by ``rollback()``.

    Use it as a context manager (commit on success, rollback on exception) or call
    ``commit()``/``rollback()`` yourself.  Thread-safe; one commit per transaction.
    """

    def __init__(self, client: FlyMQClient) -> None:
        self._client = client
        self._records: list[tuple[str, bytes]] = []
        self._state = _OPEN
        self._lock = threading.Lock()
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
        with self._lock:
            self._require_open()
            self._records.append((name, data))

    def commit(self) -> TransactionResult:
        """Send the buffered records atomically as far as the server allows (see module doc)."""
        with self._lock:
            self._require_open()
            records = list(self._records)
            self._state = _FAILED  # until proven otherwise
        result = self._send(records)
        with self._lock:
            self._state = _COMMITTED
            self.result = result
        return result

    def rollback(self) -> None:
        """Discard the buffered records (nothing was sent).  Idempotent after rollback."""
        with self._lock:
            if self._state == _ROLLED_BACK:
                return
            self._require_open()
            self._records.clear()
            self._state = _ROLLED_BACK

    abort = rollback

    def __enter__(self) -> Transaction:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._state != _OPEN:
            return
        if exc_type is None:
            self.commit()
        else:
            logger.info("transaction rolled back after %s", exc_type.__name__)
            self.rollback()

    def _require_open(self) -> None:
        if self._state != _OPEN:
            raise TransactionError(
                f"the transaction is {self._state}",
                hint="Begin a new transaction with client.begin_transaction().",
            )

    # -- commit protocol ------------------------------------------------------------------------

    def _send(self, records: list[tuple[str, bytes]]) -> TransactionResult:
        client = self._client
        if not records:
            return TransactionResult(txn_id="", records=[], coordinator=False)
        conn = client._primary_connection()
        timeout = client.config.request_timeout
        try:
            txn_id = client._execute(calls.begin_tx(), conn)
        except FlyMQError as exc:
            raise TransactionError(f"could not begin the transaction: {exc}; nothing was written") from exc
        coordinator = txn_id.startswith("txn-producer-")
        built = [calls.produce_tx(txn_id, topic, data) for topic, data in records]
        outcomes: list[RecordMetadata | FlyMQError] = []
        try:
            pendings = [conn.submit(call.op, call.payload, timeout=timeout) for call in built]
            for call, pending in zip(built, pendings, strict=True):
                try:
                    outcomes.append(complete(call, pending.wait(timeout)))
                except FlyMQError as exc:
                    outcomes.append(exc)
        except FlyMQError as exc:
            outcomes.extend([exc] * (len(built) - len(outcomes)))
        failures = [o for o in outcomes if isinstance(o, FlyMQError)]
        if failures:
            self._abort(txn_id, conn)
            raise self._partial_failure(txn_id, coordinator, records, outcomes, failures[0])
        written = [o for o in outcomes if isinstance(o, RecordMetadata)]
        try:
            client._execute(calls.commit_tx(txn_id), conn)
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

    def _abort(self, txn_id: str, conn: Connection) -> None:
        client = self._client
        try:
            client._execute(calls.abort_tx(txn_id), conn)
        except FlyMQError as exc:
            logger.warning("aborting transaction %s failed: %s", txn_id, exc)

    @staticmethod
    def _partial_failure(
        txn_id: str,
        coordinator: bool,
        records: list[tuple[str, bytes]],
        outcomes: list[RecordMetadata | FlyMQError],
        first: FlyMQError,
    ) -> TransactionError:
        if coordinator:
            message = (
                f"transaction {txn_id!r} was aborted: the server rejected a record ({first}); "
                f"none of the {len(records)} records was written"
            )
        else:
            written: list[str] = []
            rejected: list[str] = []
            unknown: list[str] = []
            for index, ((topic, _), outcome) in enumerate(zip(records, outcomes, strict=True)):
                if isinstance(outcome, RecordMetadata):
                    written.append(f"#{index} {topic}[{outcome.partition}]@{outcome.offset}")
                elif isinstance(outcome, NotSentError) or not isinstance(
                    outcome, (ConnectionError, TimeoutError)
                ):
                    rejected.append(f"#{index} {topic}")
                else:
                    unknown.append(f"#{index} {topic}")
            message = (
                f"transaction {txn_id!r} failed ({first}); the server's transaction coordinator is off, so "
                "accepted records were written immediately and cannot be rolled back. "
                f"Written: {', '.join(written) or 'none'}. Not written: {', '.join(rejected) or 'none'}."
            )
            if unknown:
                message += f" Unknown (connection lost): {', '.join(unknown)}."
        error = TransactionError(message, hint=first.hint)
        error.__cause__ = first
        return error
