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
wording of every failure and the commit protocol itself, :meth:`TransactionCore._commit_steps`: a
generator that yields the I/O it needs (:class:`Execute` one request, :class:`Pipeline` the
PRODUCE_TX records) and is sent the results, a failed request's error included.  Why a
generator: the order of the requests and every decision between them exist once, and each class
only performs the steps, sync or awaited (the sans-IO pattern of h11 and httpcore); a unit test
drives the protocol with scripted answers.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Generator
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Any, Generic, TypeVar

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

__all__ = ["CommitSteps", "Execute", "Pipeline", "PipelineAnswers", "Transaction", "TransactionCore"]

logger = logging.getLogger("pyflymq.client")

_OPEN, _COMMITTED, _ROLLED_BACK, _FAILED = "open", "committed", "rolled back", "failed"
#: A record's outcome at commit: its metadata, or the error that stopped it.
Outcome = RecordMetadata | FlyMQError

R = TypeVar("R")


@dataclass(frozen=True, slots=True)
class Execute(Generic[R]):
    """Step: send ``call`` on the transaction's connection; send back its decoded result, or the
    :class:`FlyMQError` it failed with (errors are values here: the protocol decides what they
    mean)."""

    call: Call[R]


@dataclass(frozen=True, slots=True)
class Pipeline:
    """Step: write every call in order without waiting (each shown to the client's observer as it
    starts), then wait for each answer; send back :class:`PipelineAnswers`."""

    calls: list[Call[RecordMetadata]]


@dataclass(frozen=True, slots=True)
class PipelineAnswers:
    """What a :class:`Pipeline` step got: the raw answer (or error) of each call written, in order,
    what the observer's ``start`` returned for each call started, and the error of the write that
    failed (the calls after it were never sent)."""

    answers: list[Frame | FlyMQError]
    started: list[float]
    unsent: FlyMQError | None


#: The commit protocol: yields steps, is sent their results, returns the transaction's result.
CommitSteps = Generator["Execute[Any] | Pipeline", Any, TransactionResult]


class TransactionCore:
    """State, buffered records and the commit protocol of a transaction (no I/O).

    Subclasses perform the steps :meth:`_commit_steps` yields, on one connection.
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

    # -- the commit protocol ------------------------------------------------------------------------

    def _commit_steps(self, records: list[tuple[str, bytes]]) -> CommitSteps:
        """BEGIN_TX, the records as pipelined PRODUCE_TX, then COMMIT_TX if every record was
        accepted, else ABORT_TX and the error naming what was and was not written."""
        if not records:
            return TransactionResult(txn_id="", records=[], coordinator=False)
        txn_id = yield Execute(calls.begin_tx())
        if isinstance(txn_id, FlyMQError):
            raise self._begin_failed(txn_id) from txn_id
        coordinator = self._is_coordinated(txn_id)
        built = self._produce_calls(txn_id, records)
        sent = yield Pipeline(built)
        outcomes = self._outcomes(built, sent.answers, sent.unsent, self._client.observer, sent.started)
        rejected = self._rejected(txn_id, coordinator, records, outcomes)
        if rejected is not None:
            aborted = yield Execute(calls.abort_tx(txn_id))
            if isinstance(aborted, FlyMQError):
                self._abort_failed(txn_id, aborted)
            raise rejected
        committed = yield Execute(calls.commit_tx(txn_id))
        if isinstance(committed, FlyMQError):
            raise self._commit_failed(committed, txn_id, coordinator, len(records)) from committed
        return self._result(txn_id, coordinator, outcomes)

    @staticmethod
    def _advance(steps: CommitSteps, reply: Any) -> Execute[Any] | Pipeline | TransactionResult:
        """Send ``reply`` (the last step's result) into the protocol: its next step, or its result."""
        try:
            return steps.send(reply)
        except StopIteration as finished:
            result: TransactionResult = finished.value
            return result

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
        elif not coordinator:
            # Without a coordinator COMMIT_TX changes nothing: every record was stored when it was
            # acknowledged, and all were (else the commit would not have been sent).
            failure = TransactionError(
                f"the answer to committing transaction {txn_id!r} was lost ({error}), but the "
                f"server's coordinator is off, so all {count} records were already written",
                hint="Do not send the records again: they are stored (a retry would duplicate them).",
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
                f"transaction {txn_id!r} was not committed: a record could not be written ({first}); "
                f"none of the {len(records)} records was written"
            )
        else:
            written: list[str] = []
            rejected: list[str] = []
            unknown: list[str] = []
            for index, ((topic, _), outcome) in enumerate(zip(records, outcomes, strict=True)):
                if isinstance(outcome, RecordMetadata):
                    written.append(f"#{index} {topic}")  # the answer's partition is a placeholder
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
                " (Records are numbered in send order; FlyMQ does not report the partition of a "
                "transactional record.)"
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
        """Run :meth:`_commit_steps` on the client's primary connection."""
        steps = self._commit_steps(records)
        step = self._advance(steps, None)
        conn: Connection | None = None
        while not isinstance(step, TransactionResult):
            if conn is None:
                conn = self._client._primary_connection()
            step = self._advance(steps, self._perform(step, conn))
        return step

    def _perform(self, step: Execute[Any] | Pipeline, conn: Connection) -> Any:
        """One step's result; a failed request's error is the result (the protocol decides)."""
        if isinstance(step, Pipeline):
            return self._pipeline(step, conn)
        try:
            return self._client._execute(step.call, conn)
        except FlyMQError as exc:
            return exc

    def _pipeline(self, step: Pipeline, conn: Connection) -> PipelineAnswers:
        timeout = self._client.config.request_timeout
        observer = self._client.observer
        pendings: list[PendingResponse] = []
        started: list[float] = []
        unsent: FlyMQError | None = None
        try:
            for call in step.calls:
                started.append(observer.start(call))
                pendings.append(conn.submit(call.op, call.payload, timeout=timeout))
        except FlyMQError as exc:
            unsent = exc  # what was written is awaited below; the rest was not sent
        answers: list[Frame | FlyMQError] = []
        for pending in pendings:
            try:
                answers.append(pending.wait(timeout))
            except FlyMQError as exc:
                answers.append(exc)
        return PipelineAnswers(answers, started, unsent)
