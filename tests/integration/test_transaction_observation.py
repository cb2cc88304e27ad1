"""Every request of a transaction's commit is counted and shown to the lifecycle hooks, sync and
asyncio alike — the PRODUCE_TX requests too, which are written to the connection directly."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pyflymq import AsyncFlyMQClient
from pyflymq_core.protocol import OpCode
from tests.support.aio import run
from tests.unit.lifecycle_recorder import Recorder, recording

TXN_OPS = {OpCode.BEGIN_TX, OpCode.PRODUCE_TX, OpCode.COMMIT_TX}


def _seen(recorder: Recorder) -> tuple[list[int], list[tuple[int, int | None, str | None]]]:
    before = [op for kind, op in recorder.events if kind == "before" and op in TXN_OPS]
    after = [detail for kind, detail in recorder.events if kind == "after" and detail[0] in TXN_OPS]
    return before, after


def _assert_committed_two(recorder: Recorder) -> None:
    before, after = _seen(recorder)
    assert before == [OpCode.BEGIN_TX, OpCode.PRODUCE_TX, OpCode.PRODUCE_TX, OpCode.COMMIT_TX]
    assert sorted(after) == sorted((op, op, None) for op in before)


def test_a_commit_reports_every_request(flymq_client: Any, unique_topic: Callable[..., str]) -> None:
    topic = unique_topic("txn-hooks")
    requests = flymq_client.metrics()["requests"]
    with recording() as recorder, flymq_client.transaction() as txn:
        txn.produce(topic, b"1")
        txn.produce(topic, b"2")
    _assert_committed_two(recorder)
    assert flymq_client.metrics()["requests"] - requests >= 4


def test_an_async_commit_reports_every_request(
    flymq_bootstrap: str, flymq_client_kwargs: dict[str, Any], unique_topic: Callable[..., str]
) -> None:
    topic = unique_topic("aio-txn-hooks")

    async def main() -> None:
        async with AsyncFlyMQClient(flymq_bootstrap, **flymq_client_kwargs) as client:
            with recording() as recorder:
                async with client.transaction() as txn:
                    txn.produce(topic, b"1")
                    txn.produce(topic, b"2")
            _assert_committed_two(recorder)

    run(main())
