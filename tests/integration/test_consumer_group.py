"""``ConsumerGroup`` with a handler: the seed snippet, retries, the dead-letter topic, commits."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable
from typing import Any

import pytest

from pyflymq import ConsumedMessage, ConsumerGroup, FlyMQClient
from pyflymq_core.consumer import HandlerFailedError


def _wait(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


def test_seed_consumer_group_with_handler(
    flymq_bootstrap: str, flymq_client_kwargs: dict[str, Any], unique_topic: Callable[..., str]
) -> None:
    topic1, topic2, group_id = unique_topic("topic1"), unique_topic("topic2"), unique_topic("my-group")
    seen: list[str] = []

    def process_message(msg: ConsumedMessage) -> None:
        print(f"Processing: {msg.decode()}")
        seen.append(msg.decode())

    client = FlyMQClient(flymq_bootstrap, **flymq_client_kwargs)
    client.create_topic(topic1, partitions=1)
    client.create_topic(topic2, partitions=1)

    # Consumer group with automatic offset commits
    group = ConsumerGroup(client, topics=[topic1, topic2], group_id=group_id, handler=process_message)

    group.start()
    # ... run until shutdown
    for i in range(10):
        client.produce(topic1 if i % 2 else topic2, f"m{i}".encode())
    _wait(lambda: len(seen) == 10)
    group.stop()

    assert sorted(seen) == sorted(f"m{i}" for i in range(10))
    assert not group.running and group.processed == 10
    assert client.get_committed_offset(topic1, group_id, 0) == 5  # committed after handling
    assert client.get_committed_offset(topic2, group_id, 0) == 5
    client.close()


def test_failing_records_are_retried_then_dead_lettered_in_the_servers_format(
    flymq_client: Any, unique_topic: Callable[..., str]
) -> None:
    topic, group_id = unique_topic("orders"), unique_topic("g")
    flymq_client.create_topic(topic, partitions=1)
    attempts: dict[int, int] = {}

    def handler(msg: ConsumedMessage) -> None:
        attempts[msg.offset] = attempts.get(msg.offset, 0) + 1
        if msg.value.startswith(b"poison"):
            raise ValueError(f"cannot process {msg.value!r}")

    group = ConsumerGroup(
        flymq_client,
        topics=topic,
        group_id=group_id,
        handler=handler,
        max_retries=2,
        retry_backoff_ms=1,
        auto_offset_reset="earliest",
    )
    for value in (b"ok-0", b"poison-1", b"ok-2"):
        flymq_client.produce(topic, value, key="k")
    with group:
        _wait(lambda: group.processed == 3)
    assert attempts == {0: 1, 1: 3, 2: 1}  # 1 + max_retries calls for the poison record
    assert group.dead_lettered == 1 and group.failures == 3
    assert isinstance(group.last_error, ValueError)
    assert flymq_client.get_committed_offset(topic, group_id, 0) == 3  # consumption went on

    dlq = flymq_client.fetch(f"{topic}.dlq", 0, 0, 10).messages
    assert len(dlq) == 1 and dlq[0].key is None
    record = json.loads(dlq[0].value)
    assert record["original_topic"] == topic and record["original_offset"] == 1
    assert base64.b64decode(record["payload"]) == b"poison-1"
    assert record["reason"] == "max_retries_exceeded" and record["retry_count"] == 2
    assert "cannot process" in record["error_message"]
    assert record["headers"]["group_id"] == group_id
    assert flymq_client.get_topic_metadata(f"{topic}.dlq").partition_count == 1


def test_dead_letters_are_visible_to_fetch_dlq_and_replayable(
    dlq_enabled: None,  # FETCH_DLQ/REPLAY_DLQ need dlq.enabled on the server under test
    flymq_client: Any,
    unique_topic: Callable[..., str],
) -> None:
    topic, group_id = unique_topic("payments"), unique_topic("g")
    flymq_client.create_topic(topic, partitions=1)
    failures = {"left": 2}  # the replayed copy succeeds

    def handler(msg: ConsumedMessage) -> None:
        if failures["left"]:
            failures["left"] -= 1
            raise RuntimeError("downstream unavailable")

    group = ConsumerGroup(
        flymq_client,
        [topic],
        group_id,
        handler,
        max_retries=1,
        retry_backoff_ms=1,
        auto_offset_reset="earliest",
    )
    flymq_client.produce(topic, b"charge-42")
    with group:
        _wait(lambda: group.dead_lettered == 1)
        (dead,) = flymq_client.fetch_dlq(topic, max_messages=10)
        assert dead.data == b"charge-42" and dead.error == "downstream unavailable" and dead.retries == 1
        flymq_client.replay_dlq(topic, dead.id)  # back to the original topic...
        _wait(lambda: group.processed == 2)  # ...and handled this time
    assert flymq_client.fetch(topic, 0, 0, 10).next_offset == 2


def test_without_dead_lettering_an_exhausted_record_stops_the_group(
    flymq_client: Any, unique_topic: Callable[..., str]
) -> None:
    topic, group_id = unique_topic("strict"), unique_topic("g")
    flymq_client.create_topic(topic, partitions=1)

    def handler(msg: ConsumedMessage) -> None:
        if msg.offset == 1:
            raise KeyError("missing field")

    group = ConsumerGroup(
        flymq_client,
        [topic],
        group_id,
        handler,
        max_retries=1,
        retry_backoff_ms=1,
        dead_letter=False,
        auto_offset_reset="earliest",
    )
    for i in range(3):
        flymq_client.produce(topic, f"m{i}".encode())
    group.start()
    _wait(lambda: not group.running)
    with pytest.raises(HandlerFailedError, match="dead-lettering is off"):
        group.stop()
    assert flymq_client.get_committed_offset(topic, group_id, 0) == 1  # only what was handled
    # Restarting re-delivers the failed record (nothing was skipped silently).
    redelivered: list[int] = []
    again = ConsumerGroup(flymq_client, [topic], group_id, lambda m: redelivered.append(m.offset))
    with again:
        _wait(lambda: len(redelivered) == 2)
    assert redelivered == [1, 2]


def test_stop_mid_batch_commits_only_handled_records(
    flymq_client: Any, unique_topic: Callable[..., str]
) -> None:
    topic, group_id = unique_topic("midbatch"), unique_topic("g")
    flymq_client.create_topic(topic, partitions=1)
    for i in range(50):
        flymq_client.produce(topic, f"m{i}".encode())
    handled: list[int] = []
    group: ConsumerGroup

    def slow(msg: ConsumedMessage) -> None:
        handled.append(msg.offset)
        if msg.offset == 9:
            group._stop.set()  # a stop() arriving while the batch is being handled
        time.sleep(0.001)

    group = ConsumerGroup(flymq_client, [topic], group_id, slow, auto_offset_reset="earliest")
    group.start()
    _wait(lambda: not group.running)
    group.stop()
    committed = flymq_client.get_committed_offset(topic, group_id, 0)
    assert committed == len(handled) and handled == list(range(committed))
    assert committed < 50
