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

:class:`TransactionCore` holds everything the sync :class:`Transaction` and the asyncio
:class:`~pyflymq_core.aio.transaction.AsyncTransaction` share — state, buffered records, the
commit protocol's decisions and the wording of every failure — without any I/O; the two classes
only perform the requests.
"""

from __future__ import annotations

import logging
import threading
from types import TracebackType
from typing import TYPE_CHECKING, Any

from pyflymq_core import validation as v
from pyflymq_core.client import calls
from pyflymq_core.client.calls import Call
from pyflymq_core.client.connection import NotSentError
from pyflymq_core.errors import ConnectionError, FlyMQError, TimeoutError, TransactionError
from pyflymq_core.models import RecordMetadata, TransactionResult

if TYPE_CHECKING:
    from pyflymq_core.client.connection import Connection, PendingResponse
    from pyflymq_core.client.observer import RequestObserver
    from pyflymq_core.client.sync_client import FlyMQClient
    from pyflymq_core.protocol import Frame

__all__ = ["Transaction", "TransactionCore"]

logger = logging.getLogger("pyflymq.client")

_OPEN, _COMMITTED, _ROLLED_BACK, _FAILED = "open", "committed", "rolled back", "failed"
#: A record's outcome at commit: its metadata, or the error that stopped it.
Outcome = RecordMetadata | FlyMQError


class TransactionCore:
    """State, buffered records and the commit protocol's decisions of a transaction (no I/O).

    Subclasses send the requests: BEGIN_TX (:func:`calls.begin_tx`), then the
    :meth:`_produce_calls`, then — as :meth:`_outcome` decides — COMMIT_TX or ABORT_TX.
    """

    def __init__(self, client: Any) -> None:
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

    # -- state transitions (callers hold whatever lock they need) ----------------------------------

    def _encode_record(self, topic: str, value: bytes | str) -> tuple[str, bytes]:
        """Validate one record now (and apply the client's value encoder): it is sent at commit."""
        name, _, data = v.check_produce(topic, None, value, overhead=8 + 64)
        encoder = self._client._value_encoder
        if encoder is not None:
            data = encoder(name, data)
        return name, data

    def _add(self, record: tuple[str, bytes]) -> None:
        self._require_open()
        self._records.append(record)

    def _begin_commit(self) -> list[tuple[str, bytes]]:
        """The records to send; the state is ``failed`` until the commit succeeds."""
        self._require_open()
        records = list(self._records)
        self._state = _FAILED
        return records

    def _committed(self, result: TransactionResult) -> TransactionResult:
        self._state = _COMMITTED
        self.result = result
        return result

    def _rollback(self) -> None:
        if self._state == _ROLLED_BACK:
            return
        self._require_open()
        self._records.clear()
        self._state = _ROLLED_BACK

    def _commit_on_exit(self, exc_type: type[BaseException] | None) -> bool | None:
        """Context-manager exit: ``True`` = commit, ``False`` = rolled back now, ``None`` = done."""
        if self._state != _OPEN:
            return None
        if exc_type is None:
            return True
        logger.info("transaction rolled back after %s", exc_type.__name__)
        self._rollback()
        return False

    def _require_open(self) -> None:
        if self._state != _OPEN:
            raise TransactionError(
                f"the transaction is {self._state}",
                hint="Begin a new transaction with client.begin_transaction().",
            )

    # -- the commit protocol's decisions and wording ---------------------------------------------

    @staticmethod
    def _begin_failed(error: FlyMQError) -> TransactionError:
        failure = TransactionError(f"could not begin the transaction: {error}; nothing was written")
        failure.__cause__ = error
        return failure

    @staticmethod
    def _produce_calls(txn_id: str, records: list[tuple[str, bytes]]) -> list[Call[RecordMetadata]]:
        return [calls.produce_tx(txn_id, topic, data) for topic, data in records]

    @staticmethod
    def _outcomes(
        built: list[Call[RecordMetadata]],
        answers: list[Frame | FlyMQError],
        unsent: FlyMQError | None,
        observer: RequestObserver,
        started: list[float],
    ) -> list[Outcome]:
        """Each record's outcome from its answer (or error), each request's end shown to the
        client's ``observer`` (``started``: what its ``start`` returned, per request written).

        ``answers`` covers the records written, in order; ``unsent`` is the error of the write that
        failed next (that record gets it), and the records after it were never sent.
        """
        outcomes: list[Outcome] = []
        for call, answer, began in zip(built, answers, started, strict=False):
            if isinstance(answer, FlyMQError):
                observer.end(began, call, None, answer)
                outcomes.append(answer)
                continue
            try:
                outcomes.append(observer.completed(began, call, answer))
            except FlyMQError as exc:
                outcomes.append(exc)
        if unsent is not None and len(outcomes) < len(built):
            if len(started) > len(outcomes):  # started, then its write failed
                observer.end(started[len(outcomes)], built[len(outcomes)], None, unsent)
            outcomes.append(unsent)
            never = NotSentError(f"not sent: the transaction stopped at an earlier record ({unsent})")
            outcomes.extend([never] * (len(built) - len(outcomes)))
        return outcomes

    @staticmethod
    def _rejected(
        txn_id: str, coordinator: bool, records: list[tuple[str, bytes]], outcomes: list[Outcome]
    ) -> TransactionError | None:
        """The error to raise (after ABORT_TX) when a record was not accepted, else ``None``."""
        first = next((o for o in outcomes if isinstance(o, FlyMQError)), None)
        if first is None:
            return None
        return TransactionCore._partial_failure(txn_id, coordinator, records, outcomes, first)

    @staticmethod
    def _commit_failed(error: FlyMQError, txn_id: str, coordinator: bool, count: int) -> TransactionError:
        """COMMIT_TX failed: refused by the server (``TransactionError``) or outcome unknown."""
        if isinstance(error, TransactionError):
            failure = TransactionError(
                f"the server reported that committing transaction {txn_id!r} failed"
                + (
                    "; it writes transactional records one by one at commit, so some of the "
                    f"{count} records may have been written"
                    if coordinator
                    else f"; its coordinator is off, so all {count} records were already written"
                ),
                hint=error.hint,
            )
        else:
            failure = TransactionError(
                f"the outcome of committing transaction {txn_id!r} is unknown: {error}",
                hint="Check the topics for the records before retrying; the commit may or may not "
                "have been applied.",
            )
        failure.__cause__ = error
        return failure

    @staticmethod
    def _result(txn_id: str, coordinator: bool, outcomes: list[Outcome]) -> TransactionResult:
        logger.debug("transaction %s committed (%d records)", txn_id, len(outcomes))
        written = [o for o in outcomes if isinstance(o, RecordMetadata)]
        return TransactionResult(txn_id=txn_id, records=written, coordinator=coordinator)

    @staticmethod
    def _is_coordinated(txn_id: str) -> bool:
        """Whether the server's transaction coordinator is on (it names transactions so)."""
        return txn_id.startswith("txn-producer-")

    @staticmethod
    def _abort_failed(txn_id: str, error: FlyMQError) -> None:
        logger.warning("aborting transaction %s failed: %s", txn_id, error)

    @staticmethod
    def _partial_failure(
        txn_id: str,
        coordinator: bool,
        records: list[tuple[str, bytes]],
        outcomes: list[Outcome],
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


class Transaction(TransactionCore):
    """A batch of produces that is sent at ``commit()`` and discarded by ``rollback()``.

    Use it as a context manager (commit on success, rollback on exception) or call
    ``commit()``/``rollback()`` yourself.  Thread-safe; one commit per transaction.
    """

    _client: FlyMQClient

    def __init__(self, client: FlyMQClient) -> None:
        super().__init__(client)
        self._lock = threading.Lock()

    def produce(self, topic: str, value: bytes | str) -> None:
        """Buffer one record (validated now; sent at commit).  Transactions carry no keys."""
        record = self._encode_record(topic, value)
        with self._lock:
            self._add(record)

    def commit(self) -> TransactionResult:
        """Send the buffered records atomically as far as the server allows (see module doc)."""
        with self._lock:
            records = self._begin_commit()
        result = self._send(records)
        with self._lock:
            return self._committed(result)

    def rollback(self) -> None:
        """Discard the buffered records (nothing was sent).  Idempotent after rollback."""
        with self._lock:
            self._rollback()

    abort = rollback

    def __enter__(self) -> Transaction:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        with self._lock:
            action = self._commit_on_exit(exc_type)
        if action:
            self.commit()

    def _send(self, records: list[tuple[str, bytes]]) -> TransactionResult:
        client = self._client
        if not records:
            return TransactionResult(txn_id="", records=[], coordinator=False)
        conn = client._primary_connection()
        timeout = client.config.request_timeout
        try:
            txn_id = client._execute(calls.begin_tx(), conn)
        except FlyMQError as exc:
            raise self._begin_failed(exc) from exc
        coordinator = self._is_coordinated(txn_id)
        built = self._produce_calls(txn_id, records)
        answers: list[Frame | FlyMQError] = []
        pendings: list[PendingResponse] = []
        started: list[float] = []
        unsent: FlyMQError | None = None
        observer = client.observer
        try:
            for call in built:
                started.append(observer.start(call))
                pendings.append(conn.submit(call.op, call.payload, timeout=timeout))
        except FlyMQError as exc:
            unsent = exc  # what was written is awaited below; the rest was not sent
        for pending in pendings:
            try:
                answers.append(pending.wait(timeout))
            except FlyMQError as exc:
                answers.append(exc)
        outcomes = self._outcomes(built, answers, unsent, observer, started)
        rejected = self._rejected(txn_id, coordinator, records, outcomes)
        if rejected is not None:
            self._abort(txn_id, conn)
            raise rejected
        try:
            client._execute(calls.commit_tx(txn_id), conn)
        except FlyMQError as exc:
            raise self._commit_failed(exc, txn_id, coordinator, len(records)) from exc
        return self._result(txn_id, coordinator, outcomes)

    def _abort(self, txn_id: str, conn: Connection) -> None:
        try:
            self._client._execute(calls.abort_tx(txn_id), conn)
        except FlyMQError as exc:
            self._abort_failed(txn_id, exc)
