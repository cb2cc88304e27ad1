"""Start and end offsets, working around what the server reports (SEMANTICS_NOTES #5, #14, #15).

* **End offset** ("latest"): SUBSCRIBE ``latest`` answers highest-offset + 1, which is 1 for an
  empty partition *and* for a partition holding one record.  When the answer is 1, one FETCH at
  offset 0 tells the two apart.  The SUBSCRIBE is sent with an empty group id, which the server
  accepts without registering a member or creating a group (spec §8.4), so looking up an end
  offset has no side effect.
* **Committed offset**: SUBSCRIBE ``commit`` answers the group's committed offset, or the lowest
  offset (0) when the group never committed that partition — a real commit of 0 looks the same.
  The answer is only ambiguous when it is 0 and the consumer would otherwise start at "latest";
  then DESCRIBE_GROUP lists the partitions that really have a commit.  DESCRIBE_GROUP needs admin
  rights when the server enforces authentication; without them a 0 is taken as "no commit"
  (logged), which matters only for a group that committed offset 0, i.e. consumed nothing.
* The ``commit`` SUBSCRIBE also registers this connection as a group member, which is all the
  membership FlyMQ has (the ``members`` count of DESCRIBE_GROUP / LIST_GROUPS).

Offsets always start at 0: FlyMQ 1.26 never truncates a log, so "earliest" is 0.

The decisions are written once, without I/O, as *plans*: generators that yield a batch of
:class:`~pyflymq_core.client.calls.Call` objects and are sent back, in order, each call's result or
the :class:`~pyflymq_core.errors.FlyMQError` it raised.  :func:`run_plan` drives a plan on the sync
client (one call after the other), :func:`run_plan_async` on the asyncio client (each batch
pipelined with ``asyncio.gather``): one definition of the rules for both consumers.
"""

from __future__ import annotations

import logging
from collections.abc import Generator, Iterable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from pyflymq_core import validation as v
from pyflymq_core.client import calls
from pyflymq_core.client.calls import Call
from pyflymq_core.consumer.assignment import TopicPartition
from pyflymq_core.errors import AuthenticationError, AuthorizationError, FlyMQError, GroupNotFoundError

if TYPE_CHECKING:
    from pyflymq_core.client.async_client import AsyncFlyMQClient
    from pyflymq_core.client.sync_client import FlyMQClient

__all__ = [
    "Plan",
    "end_offsets",
    "end_offsets_plan",
    "run_plan",
    "run_plan_async",
    "start_offsets",
    "start_offsets_plan",
    "subscribe_call",
]

logger = logging.getLogger("pyflymq.consumer")

T = TypeVar("T")

#: Yields batches of calls, receives their outcomes (result or raised error), returns a ``T``.
Plan = Generator[list[Call[Any]], list[Any], T]
StartOffsets = tuple[dict[TopicPartition, int], set[TopicPartition]]


def subscribe_call(topic: str, group_id: str, partition: int, mode: str) -> Call[int]:
    """A SUBSCRIBE call; ``group_id`` may be empty (no member registration, no group created).

    ``topic`` must already be validated and ``partition`` come from the topic's metadata (a
    negative partition would crash the server).
    """
    fields = {"topic": topic, "group_id": group_id, "partition": v.check_partition(partition), "mode": mode}
    payload = calls.SUBSCRIBE.encode(fields)
    return Call(calls.SUBSCRIBE, payload, topic, partition)


def _results(outcomes: Sequence[Any]) -> Sequence[Any]:
    """The outcomes, or the first error among them raised."""
    for outcome in outcomes:
        if isinstance(outcome, BaseException):
            raise outcome
    return outcomes


def end_offsets_plan(partitions: Iterable[TopicPartition]) -> Plan[dict[TopicPartition, int]]:
    """The offset the next record of each partition will get (0 for an empty partition)."""
    tps = list(partitions)
    if not tps:
        return {}
    latest = _results((yield [subscribe_call(tp.topic, "", tp.partition, "latest") for tp in tps]))
    result = dict(zip(tps, latest, strict=True))
    ones = [tp for tp in tps if result[tp] == 1]
    if ones:
        probes = _results((yield [calls.fetch(tp.topic, tp.partition, 0, 1) for tp in ones]))
        for tp, fetched in zip(ones, probes, strict=True):
            if not fetched.messages:
                result[tp] = 0  # the server's off-by-one on an empty partition
    return result


def start_offsets_plan(
    group_id: str | None, partitions: Iterable[TopicPartition], auto_offset_reset: str
) -> Plan[StartOffsets]:
    """Where to start each partition: the group's committed offset, else ``auto_offset_reset``.

    Returns the offsets and the partitions whose offset is a known commit (the others start from
    the reset policy and are committed by the next commit, so a restart resumes there).

    A commit past the end of its partition (the topic was deleted and re-created, or the offset
    was set by hand) is treated as Kafka treats an out-of-range offset: ``auto_offset_reset``
    applies, with a warning.  The server would otherwise answer every FETCH there with nothing,
    and the records written below that offset would never reach the group.
    """
    wanted = list(partitions)
    if group_id is None:
        if auto_offset_reset == "earliest":
            return dict.fromkeys(wanted, 0), set()
        return (yield from end_offsets_plan(wanted)), set()
    result: dict[TopicPartition, int] = {}
    committed: set[TopicPartition] = set()
    ambiguous: list[TopicPartition] = []
    if not wanted:
        return result, committed
    starts = _results((yield [subscribe_call(tp.topic, group_id, tp.partition, "commit") for tp in wanted]))
    for tp, start in zip(wanted, starts, strict=True):
        if start > 0:
            result[tp] = start
            committed.add(tp)
        elif auto_offset_reset == "earliest":
            result[tp] = 0  # committed 0 or no commit: both start at 0
        else:
            ambiguous.append(tp)
    if committed:
        beyond = [tp for tp in wanted if tp in committed]
        ends = yield from end_offsets_plan(beyond)
        for tp in beyond:
            if result[tp] > ends[tp]:
                logger.warning(
                    "group %r committed offset %d for %s[%d], past its end (%d): the topic was "
                    "re-created or the offset set by hand; starting from auto_offset_reset=%r",
                    group_id,
                    result[tp],
                    tp.topic,
                    tp.partition,
                    ends[tp],
                    auto_offset_reset,
                )
                result[tp] = 0 if auto_offset_reset == "earliest" else ends[tp]
                committed.discard(tp)
    if ambiguous:
        topics = sorted({tp.topic for tp in ambiguous})
        infos = yield [calls.describe_group(topic, group_id) for topic in topics]
        committed_zero = _committed_partitions(group_id, topics, infos)
        for tp in ambiguous:
            if tp in committed_zero:
                result[tp] = 0
                committed.add(tp)
        result.update((yield from end_offsets_plan(tp for tp in ambiguous if tp not in committed_zero)))
    return result, committed


def _committed_partitions(group_id: str, topics: list[str], infos: Sequence[Any]) -> set[TopicPartition]:
    """Partitions with a stored commit (any value), from the DESCRIBE_GROUP outcomes."""
    found: set[TopicPartition] = set()
    for topic, info in zip(topics, infos, strict=True):
        if isinstance(info, GroupNotFoundError):
            continue
        if isinstance(info, (AuthenticationError, AuthorizationError)):
            logger.info(
                "cannot tell a committed offset 0 from no commit for group %r on %r (DESCRIBE_GROUP "
                "refused: %s); treating 0 as 'no commit' (auto_offset_reset applies)",
                group_id,
                topic,
                info,
            )
            continue
        if isinstance(info, BaseException):
            raise info
        found.update(TopicPartition(topic, entry.partition) for entry in info.offsets)
    return found


def run_plan(client: FlyMQClient, plan: Plan[T]) -> T:
    """Drive ``plan`` on the sync client, one call after the other."""
    try:
        batch = next(plan)
        while True:
            outcomes: list[Any] = []
            for call in batch:
                try:
                    outcomes.append(client._execute(call))
                except FlyMQError as exc:
                    outcomes.append(exc)
            batch = plan.send(outcomes)
    except StopIteration as done:
        result: T = done.value
        return result


def end_offsets(client: FlyMQClient, partitions: Iterable[TopicPartition]) -> dict[TopicPartition, int]:
    """:func:`end_offsets_plan` on the sync client."""
    return run_plan(client, end_offsets_plan(partitions))


def start_offsets(
    client: FlyMQClient,
    group_id: str | None,
    partitions: Iterable[TopicPartition],
    auto_offset_reset: str,
) -> StartOffsets:
    """:func:`start_offsets_plan` on the sync client."""
    return run_plan(client, start_offsets_plan(group_id, partitions, auto_offset_reset))


async def run_plan_async(client: AsyncFlyMQClient, plan: Plan[T]) -> T:
    """Drive ``plan`` on the asyncio client, the calls of each batch concurrently (pipelined)."""
    import asyncio  # here: the sync consumer imports this module and never needs asyncio

    try:
        batch = next(plan)
        while True:
            sent = [client._execute(call) for call in batch]
            outcomes = await asyncio.gather(*sent, return_exceptions=True)
            batch = plan.send(list(outcomes))
    except StopIteration as done:
        result: T = done.value
        return result
