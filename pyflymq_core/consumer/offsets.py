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
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING

from pyflymq_core.client import calls
from pyflymq_core.client.calls import Call
from pyflymq_core.consumer.assignment import TopicPartition
from pyflymq_core.errors import AuthenticationError, AuthorizationError, GroupNotFoundError

if TYPE_CHECKING:
    from pyflymq_core.client.sync_client import FlyMQClient

__all__ = ["end_offsets", "start_offsets", "subscribe_call"]

logger = logging.getLogger("pyflymq.consumer")


def subscribe_call(topic: str, group_id: str, partition: int, mode: str) -> Call[int]:
    """A SUBSCRIBE call; ``group_id`` may be empty (no member registration, no group created).

    ``topic`` must already be validated and ``partition`` come from the topic's metadata (a
    negative partition would crash the server).
    """
    if partition < 0:
        raise ValueError(f"partition must be >= 0, got {partition}")
    fields = {"topic": topic, "group_id": group_id, "partition": partition, "mode": mode}
    payload = calls.SUBSCRIBE.encode(fields)
    return Call(calls.SUBSCRIBE, payload, topic, partition)


def end_offsets(client: FlyMQClient, partitions: Iterable[TopicPartition]) -> dict[TopicPartition, int]:
    """The offset the next record of each partition will get (0 for an empty partition)."""
    result: dict[TopicPartition, int] = {}
    for tp in partitions:
        latest = client._execute(subscribe_call(tp.topic, "", tp.partition, "latest"))
        if latest == 1 and not client.fetch(tp.topic, tp.partition, 0, 1).messages:
            latest = 0  # the server's off-by-one on an empty partition
        result[tp] = latest
    return result


def start_offsets(
    client: FlyMQClient,
    group_id: str | None,
    partitions: Iterable[TopicPartition],
    auto_offset_reset: str,
) -> tuple[dict[TopicPartition, int], set[TopicPartition]]:
    """Where to start each partition: the group's committed offset, else ``auto_offset_reset``.

    Returns the offsets and the partitions whose offset is a known commit (the others start from
    the reset policy and are committed by the next commit, so a restart resumes there).
    """
    wanted = list(partitions)
    if group_id is None:
        if auto_offset_reset == "earliest":
            return dict.fromkeys(wanted, 0), set()
        return end_offsets(client, wanted), set()
    result: dict[TopicPartition, int] = {}
    committed: set[TopicPartition] = set()
    ambiguous: list[TopicPartition] = []
    for tp in wanted:
        start = client._execute(subscribe_call(tp.topic, group_id, tp.partition, "commit"))
        if start > 0:
            result[tp] = start
            committed.add(tp)
        elif auto_offset_reset == "earliest":
            result[tp] = 0  # committed 0 or no commit: both start at 0
        else:
            ambiguous.append(tp)
    if ambiguous:
        committed_zero = _committed_partitions(client, group_id, {tp.topic for tp in ambiguous})
        reset = [tp for tp in ambiguous if tp not in committed_zero]
        for tp in ambiguous:
            if tp in committed_zero:
                result[tp] = 0
                committed.add(tp)
        result.update(end_offsets(client, reset))
    return result, committed


def _committed_partitions(client: FlyMQClient, group_id: str, topics: set[str]) -> set[TopicPartition]:
    """Partitions with a stored commit (any value), from DESCRIBE_GROUP."""
    found: set[TopicPartition] = set()
    for topic in sorted(topics):
        try:
            info = client.describe_group(topic, group_id)
        except GroupNotFoundError:
            continue
        except (AuthenticationError, AuthorizationError) as exc:
            logger.info(
                "cannot tell a committed offset 0 from no commit for group %r on %r (DESCRIBE_GROUP "
                "refused: %s); treating 0 as 'no commit' (auto_offset_reset applies)",
                group_id,
                topic,
                exc,
            )
            continue
        found.update(TopicPartition(topic, entry.partition) for entry in info.offsets)
    return found
