"""Start and end offsets: the sans-IO plans shared by the sync and asyncio consumers, and the two
drivers that run them (no server needed: a scripted ``_execute``)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, TypeVar, cast

import pytest

from pyflymq_core.client.calls import Call
from pyflymq_core.consumer.assignment import TopicPartition
from pyflymq_core.consumer.offsets import (
    Plan,
    end_offsets_plan,
    run_plan,
    run_plan_async,
    start_offsets_plan,
)
from pyflymq_core.errors import AuthorizationError, ConnectionError, GroupNotFoundError
from pyflymq_core.models import ConsumedMessage, FetchResult, GroupInfo, GroupOffset
from pyflymq_core.protocol import OpCode, decode_request

T0, T1, T2 = (TopicPartition("t", p) for p in range(3))
R = TypeVar("R")


def _describe(call: Call[Any]) -> tuple[Any, ...]:
    fields = decode_request(call.op, call.payload)
    if call.op == OpCode.SUBSCRIBE:
        return ("subscribe", fields["group_id"], fields["partition"], fields["mode"])
    if call.op == OpCode.FETCH:
        return ("fetch", fields["partition"], fields["offset"], fields["max_messages"])
    return (OpCode(call.op).name.lower(), fields["topic"], fields["group_id"])


def _fetched(partition: int, count: int) -> FetchResult:
    messages = [ConsumedMessage(topic="t", partition=partition, offset=0, value=b"v")][:count]
    return FetchResult(topic="t", partition=partition, messages=messages, next_offset=count)


def _run(client: Scripted, plan: Plan[R]) -> R:
    return run_plan(cast(Any, client), plan)


class Scripted:
    """A client whose ``_execute`` answers from ``answer(description)`` and logs what was asked."""

    def __init__(self, answer: Callable[[tuple[Any, ...]], Any]) -> None:
        self.answer = answer
        self.asked: list[tuple[Any, ...]] = []

    def _execute(self, call: Call[Any]) -> Any:
        described = _describe(call)
        self.asked.append(described)
        result = self.answer(described)
        if isinstance(result, BaseException):
            raise result
        return result


class AsyncScripted(Scripted):
    async def _execute(self, call: Call[Any]) -> Any:  # type: ignore[override]
        await asyncio.sleep(0)
        return super()._execute(call)


def _server(commits: dict[int, int], ends: dict[int, int], describe: Any = None) -> Callable[..., Any]:
    def answer(asked: tuple[Any, ...]) -> Any:
        match asked:
            case ("subscribe", "", partition, "latest"):
                return ends[partition]
            case ("subscribe", _, partition, "commit"):
                return commits.get(partition, 0)
            case ("fetch", partition, 0, 1):
                return _fetched(partition, 1 if ends[partition] else 0)
            case ("describe_group", "t", group):
                if describe is not None:
                    return describe
                offsets = [GroupOffset(partition=p, offset=o) for p, o in commits.items()]
                return GroupInfo(topic="t", group_id=group, members=1, offsets=offsets)
        raise AssertionError(f"unexpected request {asked}")

    return answer


def test_without_a_group_earliest_asks_nothing_and_latest_probes_the_servers_off_by_one() -> None:
    client = Scripted(_server({}, {}))
    assert _run(client, start_offsets_plan(None, [T0, T1], "earliest")) == ({T0: 0, T1: 0}, set())
    assert client.asked == []
    # SUBSCRIBE latest says 1 for an empty partition and for one holding one record: FETCH tells.
    client = Scripted(_server({}, {0: 1, 1: 0, 2: 7}))
    client.answer = lambda asked: (
        1 if asked[0] == "subscribe" and asked[2] < 2 else _server({}, {0: 1, 1: 0, 2: 7})(asked)
    )
    result = _run(client, end_offsets_plan([T0, T1, T2]))
    assert result == {T0: 1, T1: 0, T2: 7}
    assert client.asked[3:] == [("fetch", 0, 0, 1), ("fetch", 1, 0, 1)]


def test_commits_win_and_an_ambiguous_zero_is_checked_against_describe_group() -> None:
    # partition 0 committed 5, partition 1 committed 0 (looks like "no commit"), partition 2 never.
    client = Scripted(_server({0: 5, 1: 0}, {0: 10, 2: 9}))
    offsets, committed = _run(client, start_offsets_plan("g", [T0, T1, T2], "latest"))
    assert offsets == {T0: 5, T1: 0, T2: 9}
    assert committed == {T0, T1}
    assert ("describe_group", "t", "g") in client.asked
    # earliest: a 0 means offset 0 either way; only the commit is checked against the end
    client = Scripted(_server({0: 5}, {0: 8}))
    offsets, committed = _run(client, start_offsets_plan("g", [T0, T1], "earliest"))
    assert (offsets, committed) == ({T0: 5, T1: 0}, {T0})
    assert client.asked == [
        ("subscribe", "g", 0, "commit"),
        ("subscribe", "g", 1, "commit"),
        ("subscribe", "", 0, "latest"),
    ]


@pytest.mark.parametrize(("reset", "start"), [("earliest", 0), ("latest", 3)])
def test_a_commit_past_the_end_of_its_partition_starts_from_the_reset_policy(
    reset: str, start: int, caplog: pytest.LogCaptureFixture
) -> None:
    # The topic was deleted and re-created (3 records now), the group's commit of 10 survived: the
    # server would answer every FETCH at 10 with nothing, and offsets 0-9 would never be read.
    client = Scripted(_server({0: 10, 1: 2}, {0: 3, 1: 3}))
    offsets, committed = _run(client, start_offsets_plan("g", [T0, T1], reset))
    assert offsets == {T0: start, T1: 2}
    assert committed == {T1}  # T0's position is not a commit: the next commit stores it
    assert "committed offset 10 for t[0], past its end (3)" in caplog.text


@pytest.mark.parametrize("refusal", [AuthorizationError("admin only"), GroupNotFoundError("no group")])
def test_a_refused_describe_group_means_no_commit(refusal: Exception) -> None:
    client = Scripted(_server({}, {0: 4}, describe=refusal))
    offsets, committed = _run(client, start_offsets_plan("g", [T0], "latest"))
    assert (offsets, committed) == ({T0: 4}, set())


def test_other_errors_are_raised() -> None:
    client = Scripted(lambda asked: ConnectionError("down"))
    with pytest.raises(ConnectionError, match="down"):
        _run(client, start_offsets_plan("g", [T0], "latest"))


def test_the_async_driver_runs_the_same_plan_and_pipelines_each_batch() -> None:
    client = AsyncScripted(_server({0: 5, 1: 0}, {0: 10, 2: 9}))
    running = [0, 0]  # now, most at once
    original = client._execute

    async def counting(call: Call[Any]) -> Any:
        running[0] += 1
        running[1] = max(running)
        try:
            return await original(call)
        finally:
            running[0] -= 1

    client._execute = counting  # type: ignore[method-assign]
    plan = start_offsets_plan("g", [T0, T1, T2], "latest")
    offsets, committed = asyncio.run(run_plan_async(cast(Any, client), plan))
    assert offsets == {T0: 5, T1: 0, T2: 9} and committed == {T0, T1}
    assert running[1] == 3  # the three SUBSCRIBEs were in flight together
    sync = Scripted(_server({0: 5, 1: 0}, {0: 10, 2: 9}))
    _run(sync, start_offsets_plan("g", [T0, T1, T2], "latest"))
    assert client.asked == sync.asked  # one definition, two drivers


def test_a_negative_partition_never_becomes_a_subscribe_call() -> None:
    from pyflymq_core.consumer.offsets import subscribe_call
    from pyflymq_core.errors import InvalidArgumentError

    with pytest.raises(InvalidArgumentError, match="partition"):
        subscribe_call("t", "", -1, "latest")  # a negative partition would crash the server
    assert subscribe_call("t", "", 2, "latest").partition == 2
