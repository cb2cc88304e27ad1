"""Transactions: the shared sans-IO core, and the sync and asyncio classes behaving identically.

``TransactionCore`` (pyflymq_core/client/transactions.py) decides and words everything; the sync
``Transaction`` and the asyncio ``AsyncTransaction`` only perform the requests.  The parity tests
run one scenario through both against the same scripted server and compare what they raise and
return, so a wording or decision can no longer differ between them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from pyflymq import AsyncFlyMQClient, FlyMQClient
from pyflymq_core.client import calls
from pyflymq_core.client.connection import NotSentError
from pyflymq_core.client.observer import RequestObserver
from pyflymq_core.client.transactions import Execute, Pipeline, PipelineAnswers, TransactionCore
from pyflymq_core.errors import ConnectionError, FlyMQError, ServerError, TransactionError
from pyflymq_core.models import RecordMetadata
from pyflymq_core.protocol import Frame, OpCode, encode_response
from tests.integration.fake_server import CLOSE, FakeConn, FakeServer, Reply
from tests.unit.test_client_sync import _txn_server

FAST: dict[str, Any] = {"max_retries": 0, "retry_delay_ms": 10, "keepalive_interval_ms": 0}


def _answer(topic: str, offset: int) -> Frame:
    meta = {"topic": topic, "partition": 0, "offset": offset, "timestamp": 0, "key_size": -1, "value_size": 1}
    return Frame(*encode_response(OpCode.PRODUCE_TX, meta))


class _NoPlugins:
    active = False


def _observer() -> RequestObserver:
    return RequestObserver(None, _NoPlugins())  # type: ignore[arg-type]


def test_outcomes_mark_the_failed_write_and_everything_after_it_as_not_sent() -> None:
    built = TransactionCore._produce_calls("txn-1", [("a", b"1"), ("b", b"2"), ("c", b"3"), ("d", b"4")])
    lost = ConnectionError("write failed")
    observer = _observer()
    # Two requests started (the second one's write failed), two never started.
    started = [observer.start(call) for call in built[:2]]
    outcomes = TransactionCore._outcomes(built, [_answer("a", 0)], lost, observer, started)
    assert isinstance(outcomes[0], RecordMetadata) and outcomes[0].offset == 0
    assert outcomes[1] is lost  # the write that failed: may or may not have arrived
    assert all(isinstance(o, NotSentError) for o in outcomes[2:])  # never written
    assert (observer.requests, observer.errors) == (2, 1)


def test_rejected_reports_none_when_every_record_was_accepted() -> None:
    records = [("a", b"1")]
    built = TransactionCore._produce_calls("txn-1", records)
    observer = _observer()
    outcomes = TransactionCore._outcomes(built, [_answer("a", 7)], None, observer, [observer.start(built[0])])
    assert TransactionCore._rejected("txn-1", False, records, outcomes) is None
    assert TransactionCore._result("txn-1", False, outcomes).records[0].offset == 7


def test_commit_failures_say_what_may_have_been_written() -> None:
    refused = TransactionCore._commit_failed(TransactionError("commit failed"), "txn-producer-1", True, 3)
    assert "some of the 3 records may have been written" in str(refused)
    off = TransactionCore._commit_failed(TransactionError("commit failed"), "txn-9", False, 2)
    assert "all 2 records were already written" in str(off)
    unknown = TransactionCore._commit_failed(ConnectionError("reset"), "txn-producer-9", True, 2)
    assert "outcome of committing transaction 'txn-producer-9' is unknown" in str(unknown)
    assert unknown.__cause__ is not None
    # Without a coordinator a lost COMMIT answer changes nothing: every record was already stored,
    # and saying "unknown" would invite a retry that duplicates them.
    lost = TransactionCore._commit_failed(ConnectionError("reset"), "txn-9", False, 2)
    assert "all 2 records were already written" in str(lost) and "unknown" not in str(lost)
    assert lost.hint is not None and "Do not send the records again" in lost.hint


class _Client:
    _value_encoder = None

    def __init__(self) -> None:
        self.observer = _observer()


def _drive(
    core: TransactionCore, records: list[tuple[str, bytes]], script: list[Any]
) -> tuple[Any, list[Any]]:
    """Run the commit protocol, answering each step from ``script`` in turn; returns ``(result or
    raised exception, steps seen)``."""
    steps = core._commit_steps(records)
    seen: list[Any] = []
    try:
        step = core._advance(steps, None)
        while isinstance(step, (Execute, Pipeline)):
            seen.append(step)
            answer = script.pop(0)
            if isinstance(step, Pipeline):
                answer = PipelineAnswers(answer, [core._client.observer.start(c) for c in step.calls], None)
            step = core._advance(steps, answer)
    except FlyMQError as exc:
        return exc, seen
    return step, seen


def _ops(seen: list[Any]) -> list[str]:
    return [OpCode(s.call.op).name if isinstance(s, Execute) else f"PIPELINE x{len(s.calls)}" for s in seen]


def test_commit_protocol_without_records_sends_nothing() -> None:
    result, seen = _drive(TransactionCore(_Client()), [], [])
    assert seen == [] and result.records == [] and result.txn_id == ""


def test_commit_protocol_begins_pipelines_and_commits() -> None:
    records = [("a", b"1"), ("b", b"2")]
    result, seen = _drive(
        TransactionCore(_Client()), records, ["txn-3", [_answer("a", 4), _answer("b", 5)], True]
    )
    assert _ops(seen) == ["BEGIN_TX", "PIPELINE x2", "COMMIT_TX"]
    assert seen[2].call.payload == calls.commit_tx("txn-3").payload
    assert [r.offset for r in result.records] == [4, 5] and result.coordinator is False


def test_commit_protocol_aborts_on_a_rejected_record_and_names_what_was_written() -> None:
    records = [("a", b"1"), ("b", b"2")]
    rejected = ServerError("topic b refused")
    failure, seen = _drive(TransactionCore(_Client()), records, ["txn-3", [_answer("a", 4), rejected], True])
    assert _ops(seen) == ["BEGIN_TX", "PIPELINE x2", "ABORT_TX"]
    assert isinstance(failure, TransactionError) and failure.__cause__ is rejected
    assert "Written: #0 a. Not written: #1 b." in str(failure)


def test_commit_protocol_still_raises_the_rejection_when_the_abort_fails(
    caplog: pytest.LogCaptureFixture,
) -> None:
    records = [("a", b"1")]
    lost = ConnectionError("reset")
    failure, seen = _drive(TransactionCore(_Client()), records, ["txn-producer-1", [ServerError("no")], lost])
    assert _ops(seen) == ["BEGIN_TX", "PIPELINE x1", "ABORT_TX"]
    assert isinstance(failure, TransactionError) and "none of the 1 records was written" in str(failure)
    assert "aborting transaction txn-producer-1 failed" in caplog.text


def test_commit_protocol_wraps_begin_and_commit_failures() -> None:
    lost = ConnectionError("reset")
    failure, seen = _drive(TransactionCore(_Client()), [("a", b"1")], [lost])
    assert _ops(seen) == ["BEGIN_TX"]
    assert isinstance(failure, TransactionError) and "nothing was written" in str(failure)
    failure, seen = _drive(
        TransactionCore(_Client()), [("a", b"1")], ["txn-producer-2", [_answer("a", 0)], lost]
    )
    assert _ops(seen) == ["BEGIN_TX", "PIPELINE x1", "COMMIT_TX"]
    assert (
        isinstance(failure, TransactionError) and "is unknown" in str(failure) and failure.__cause__ is lost
    )


def test_state_machine() -> None:
    core = TransactionCore(client=type("C", (), {"_value_encoder": None})())
    core._add(core._encode_record("t", "v"))
    assert len(core) == 1 and core.state == "open"
    assert core._begin_commit() == [("t", b"v")] and core.state == "failed"
    with pytest.raises(TransactionError, match="the transaction is failed"):
        core._add(("t", b"late"))
    rolled = TransactionCore(client=type("C", (), {"_value_encoder": None})())
    assert rolled._commit_on_exit(RuntimeError) is False and rolled.state == "rolled back"
    rolled._rollback()  # idempotent
    assert rolled._commit_on_exit(None) is None


# --------------------------------------------------------------------------- sync / async parity


def _server(*, coordinator: bool, reject: str | None = None, close_on: str | None = None) -> Any:
    """The scripted transaction server of the client tests, optionally dropping the connection at
    the PRODUCE_TX of topic ``close_on``."""
    scripted = _txn_server(coordinator=coordinator, reject_topic=reject)

    def handler(conn: FakeConn, op: int, fields: dict[str, Any]) -> Reply:
        if op == OpCode.PRODUCE_TX and fields["topic"] == close_on:
            return CLOSE
        return scripted(conn, op, fields)

    return handler


def _sync(address: str, topics: list[str]) -> Any:
    with FlyMQClient(address, **FAST) as client:
        txn = client.begin_transaction()
        for topic in topics:
            txn.produce(topic, b"x")
        try:
            return txn.commit(), txn.state
        except TransactionError as exc:
            return str(exc), txn.state


def _async(address: str, topics: list[str]) -> Any:
    async def main() -> Any:
        async with AsyncFlyMQClient(address, **FAST) as client:
            txn = client.begin_transaction()
            for topic in topics:
                txn.produce(topic, b"x")
            try:
                return await txn.commit(), txn.state
            except TransactionError as exc:
                return str(exc), txn.state

    return asyncio.run(main())


@pytest.mark.parametrize(
    ("server", "topics"),
    [
        (lambda: _server(coordinator=False), ["a", "b"]),
        (lambda: _server(coordinator=False, reject="bad"), ["good", "bad", "good"]),
        (lambda: _server(coordinator=True, reject="bad"), ["good", "bad"]),
        (lambda: _server(coordinator=False, close_on="gone"), ["good", "gone", "never"]),
    ],
    ids=["committed", "partial-without-coordinator", "aborted-with-coordinator", "connection-lost"],
)
def test_sync_and_async_transactions_report_the_same(server: Callable[[], Any], topics: list[str]) -> None:
    results = []
    for run in (_sync, _async):
        with FakeServer(server()) as srv:
            outcome, state = run(srv.address, topics)
        if isinstance(outcome, str):
            outcome = outcome.replace(srv.address, "<server>")
        else:  # a TransactionResult: what was written, not when
            outcome = (outcome.txn_id, outcome.coordinator, [(r.topic, r.offset) for r in outcome.records])
        results.append((outcome, state))
    sync_result, async_result = results
    assert sync_result == async_result
    if isinstance(sync_result[0], str):
        assert sync_result[1] == "failed"


def test_records_of_a_commit_are_pipelined_calls() -> None:
    (call,) = TransactionCore._produce_calls("txn-1", [("t", b"v")])
    assert call.op == calls.produce_tx("txn-1", "t", b"v").op == OpCode.PRODUCE_TX
