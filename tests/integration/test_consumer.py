"""The high-level and low-level consumers against a server (embedded broker, or --flymq-bootstrap).

The seed README's "High-Level Consumer", "Poll-Based Consumption", "Seek Operations" and
"Consumer Groups (Low-Level)" snippets run as written, with bounded loops instead of ``while True``
and unique topic/group names; then the guarantees behind them are checked.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from pyflymq import Consumer, FlyMQClient, HighLevelConsumer, connect
from pyflymq_core.consumer import ConsumerClosedError, TopicPartition
from pyflymq_core.errors import ConfigurationError, InvalidArgumentError


def _poll_until(consumer: Any, count: int, timeout: float = 10.0) -> list[Any]:
    received: list[Any] = []
    deadline = time.monotonic() + timeout
    while len(received) < count and time.monotonic() < deadline:
        received.extend(consumer.poll(timeout_ms=200))
    return received


def test_seed_high_level_consumer(
    flymq_bootstrap: str, flymq_client_kwargs: dict[str, Any], unique_topic: Callable[..., str]
) -> None:
    topic, group = unique_topic("my-topic"), unique_topic("my-group")
    client = connect(flymq_bootstrap, **flymq_client_kwargs)
    client.create_topic(topic, partitions=1)
    received: list[Any] = []

    # Create consumer with Kafka-like API
    with client.consumer(topic, group) as consumer:
        for i in range(5):  # the default auto_offset_reset is "latest": produce after subscribing
            client.produce(topic, f"hello-{i}".encode(), key=f"k{i}")
        # Iterate over messages
        for message in consumer:
            print(f"Received: {message.decode()}")
            print(f"Key: {message.key}, Offset: {message.offset}")  # type: ignore[str-bytes-safe]
            # Auto-commit enabled by default
            received.append(message)
            if len(received) == 5:
                break

    assert isinstance(consumer, HighLevelConsumer) and consumer.closed
    assert [m.decode() for m in received] == [f"hello-{i}" for i in range(5)]
    assert [m.key for m in received] == [f"k{i}".encode() for i in range(5)]
    assert client.get_committed_offset(topic, group, 0) == 5  # committed on close: the next to read
    client.close()


def test_seed_poll_based_consumption(
    flymq_bootstrap: str, flymq_client_kwargs: dict[str, Any], unique_topic: Callable[..., str]
) -> None:
    topic1, topic2, group = unique_topic("topic1"), unique_topic("topic2"), unique_topic("my-group")
    client = connect(flymq_bootstrap, **flymq_client_kwargs)
    client.create_topic(topic1, partitions=2)
    client.create_topic(topic2, partitions=1)
    processed: list[Any] = []

    def process(msg: Any) -> None:
        processed.append(msg)

    consumer = client.consumer(
        topics=[topic1, topic2], group_id=group, auto_commit=True, auto_commit_interval_ms=5000
    )
    for i in range(30):
        client.produce(topic1 if i % 3 else topic2, f"m{i}".encode())

    # Poll for messages
    for _ in range(50):  # bounded instead of `while True`
        messages = consumer.poll(timeout_ms=1000, max_records=100)
        for msg in messages:
            process(msg)
        if len(processed) == 30:
            break
        # Manual commit if auto_commit=False
        # consumer.commit()

    assert sorted(m.decode() for m in processed) == sorted(f"m{i}" for i in range(30))
    assert consumer.assignment() == {
        TopicPartition(topic1, 0),
        TopicPartition(topic1, 1),
        TopicPartition(topic2, 0),
    }
    consumer.close()
    assert client.get_committed_offset(topic2, group, 0) == 10
    committed = client.get_committed_offset(topic1, group, 0) + client.get_committed_offset(topic1, group, 1)
    assert committed == 20
    client.close()


def test_seed_seek_operations(flymq_client: Any, unique_topic: Callable[..., str]) -> None:
    topic, group = unique_topic("my-topic"), unique_topic("my-group")
    flymq_client.create_topic(topic, partitions=1)
    for i in range(150):
        flymq_client.produce(topic, f"m{i}".encode())
    client = flymq_client

    consumer = client.consumer(topic, group)

    # Seek to specific offset
    consumer.seek(partition=0, offset=100)
    assert consumer.position(partition=0) == 100
    assert [m.offset for m in consumer.poll(timeout_ms=2000, max_records=3)] == [100, 101, 102]

    # Seek to beginning/end
    consumer.seek_to_beginning()
    assert consumer.poll(timeout_ms=2000, max_records=1)[0].offset == 0
    consumer.seek_to_end()

    # Get current position
    position = consumer.position(partition=0)
    assert position == 150
    assert consumer.poll(timeout_ms=100) == []
    client.produce(topic, b"new")
    assert [m.value for m in _poll_until(consumer, 1)] == [b"new"]
    consumer.close()


def test_seed_consumer_groups_low_level(
    flymq_bootstrap: str, flymq_client_kwargs: dict[str, Any], unique_topic: Callable[..., str]
) -> None:
    topic, group = unique_topic("my-topic"), unique_topic("my-group")
    client = FlyMQClient(flymq_bootstrap, **flymq_client_kwargs)
    client.create_topic(topic, partitions=1)

    # Create a consumer with a group ID
    consumer = Consumer(client, topic, group_id=group)
    for i in range(3):
        client.produce(topic, f"m{i}".encode())

    # Poll for messages
    received = []
    for message in consumer:
        print(f"Received: {message.decode()}")
        consumer.commit()  # Commit offset
        received.append(message.offset)
        assert client.get_committed_offset(topic, group, 0) == message.offset + 1
        if len(received) == 3:
            break

    assert received == [0, 1, 2]
    assert not consumer.config.enable_auto_commit  # the low-level consumer commits when told to
    consumer.close()
    client.close()


def test_latest_on_an_empty_partition_starts_at_zero(
    flymq_client: Any, unique_topic: Callable[..., str]
) -> None:
    topic = unique_topic("empty")
    flymq_client.create_topic(topic, partitions=1)
    assert flymq_client.subscribe(topic, unique_topic("probe"), 0, "latest") == 1  # the server's off-by-one
    consumer = flymq_client.consumer(topic, unique_topic("g"), auto_offset_reset="latest")
    assert consumer.position(0) == 0
    flymq_client.produce(topic, b"the very first record")
    assert [m.offset for m in _poll_until(consumer, 1)] == [0]
    consumer.close()


def test_latest_skips_history_and_earliest_reads_it(
    flymq_client: Any, unique_topic: Callable[..., str]
) -> None:
    topic = unique_topic("history")
    flymq_client.create_topic(topic, partitions=1)
    flymq_client.produce(topic, b"old-0")  # one record: "latest" must say 1 here and mean it
    latest = flymq_client.consumer(topic, unique_topic("g"))
    earliest = flymq_client.consumer(topic, unique_topic("g"), auto_offset_reset="earliest")
    assert latest.position(0) == 1 and earliest.position(0) == 0
    flymq_client.produce(topic, b"new-1")
    assert [m.value for m in _poll_until(latest, 1)] == [b"new-1"]
    assert [m.value for m in _poll_until(earliest, 2)] == [b"old-0", b"new-1"]
    latest.close()
    earliest.close()


def test_two_static_members_split_eight_partitions_without_duplicates_or_gaps(
    flymq_client: Any, unique_topic: Callable[..., str]
) -> None:
    topic, group = unique_topic("split"), unique_topic("g")
    flymq_client.create_topic(topic, partitions=8)
    with flymq_client.producer() as producer:
        for i in range(800):
            producer.send(topic, f"m{i}".encode(), key=f"key-{i}")
    members = [
        flymq_client.consumer(topic, group, auto_offset_reset="earliest", member_index=i, member_count=2)
        for i in range(2)
    ]
    shares = [m.assignment() for m in members]
    assert shares[0].isdisjoint(shares[1]) and len(shares[0] | shares[1]) == 8
    assert len(shares[0]) == len(shares[1]) == 4
    received = [_poll_until(m, 400) for m in members]
    values = [[r.value for r in share] for share in received]
    assert not set(values[0]) & set(values[1])
    assert sorted(values[0] + values[1]) == sorted(f"m{i}".encode() for i in range(800))
    for share, got in zip(shares, received, strict=True):
        assert {TopicPartition(r.topic, r.partition) for r in got} <= share
    for member in members:
        assert member.poll(timeout_ms=50) == []
        member.close()


def test_auto_commit_resumes_after_a_restart(flymq_client: Any, unique_topic: Callable[..., str]) -> None:
    topic, group = unique_topic("resume"), unique_topic("g")
    flymq_client.create_topic(topic, partitions=2)
    for i in range(100):
        flymq_client.produce(topic, f"a{i}".encode())
    first = flymq_client.consumer(topic, group, auto_offset_reset="earliest", auto_commit_interval_ms=50)
    seen = _poll_until(first, 100)
    assert len(seen) == 100
    time.sleep(0.1)
    first.poll(timeout_ms=100)  # the interval passed: auto-commit (asynchronous) from poll
    deadline = time.monotonic() + 5
    while sum(flymq_client.get_committed_offset(topic, group, p) for p in (0, 1)) != 100:
        assert time.monotonic() < deadline, "auto-commit did not store the positions"
        time.sleep(0.02)
    first.close()
    for i in range(40):
        flymq_client.produce(topic, f"b{i}".encode())
    second = flymq_client.consumer(topic, group, auto_offset_reset="earliest")
    resumed = _poll_until(second, 40)
    assert sorted(m.value for m in resumed) == sorted(f"b{i}".encode() for i in range(40))
    assert second.poll(timeout_ms=50) == []
    second.close()


def test_commit_stores_the_next_offset_and_commit_async_calls_back(
    flymq_client: Any, unique_topic: Callable[..., str]
) -> None:
    topic, group = unique_topic("commits"), unique_topic("g")
    flymq_client.create_topic(topic, partitions=1)
    for i in range(10):
        flymq_client.produce(topic, f"m{i}".encode())
    consumer = flymq_client.consumer(topic, group, auto_offset_reset="earliest", enable_auto_commit=False)
    assert [m.offset for m in consumer.poll(timeout_ms=2000, max_records=4)] == [0, 1, 2, 3]
    consumer.commit()
    assert flymq_client.get_committed_offset(topic, group, 0) == 4
    consumer.poll(timeout_ms=2000, max_records=3)
    done = threading.Event()
    outcome: list[Any] = []

    def callback(offsets: dict[TopicPartition, int], error: Exception | None) -> None:
        outcome.append((offsets, error, threading.current_thread().name))
        done.set()

    future = consumer.commit_async(callback)
    assert done.wait(5)
    assert future.result(5) == {TopicPartition(topic, 0): 7}
    assert outcome[0][:2] == ({TopicPartition(topic, 0): 7}, None)
    assert outcome[0][2] != threading.current_thread().name  # really on another thread
    assert flymq_client.get_committed_offset(topic, group, 0) == 7
    consumer.commit({0: 2})  # explicit offsets (may go backwards)
    assert flymq_client.get_committed_offset(topic, group, 0) == 2
    consumer.close()  # no auto-commit: close does not commit
    assert flymq_client.get_committed_offset(topic, group, 0) == 2


def test_poll_honours_its_timeout_and_close_stops_iteration(
    flymq_client: Any, unique_topic: Callable[..., str]
) -> None:
    topic = unique_topic("idle")
    flymq_client.create_topic(topic, partitions=1)
    consumer = flymq_client.consumer(topic, unique_topic("g"))
    started = time.monotonic()
    assert consumer.poll(timeout_ms=300) == []
    assert 0.28 <= time.monotonic() - started < 2
    assert consumer.poll(timeout_ms=0) == []
    stopped = threading.Event()

    def iterate() -> None:
        for _ in consumer:
            pass
        stopped.set()

    thread = threading.Thread(target=iterate)
    thread.start()
    time.sleep(0.2)
    assert not stopped.is_set()  # blocks while there is nothing
    consumer.close()
    assert stopped.wait(5)
    thread.join()
    with pytest.raises(ConsumerClosedError):
        consumer.poll()


def test_iteration_keeps_records_it_did_not_yield(
    flymq_client: Any, unique_topic: Callable[..., str]
) -> None:
    topic = unique_topic("iter")
    flymq_client.create_topic(topic, partitions=1)
    for i in range(20):
        flymq_client.produce(topic, f"m{i}".encode())
    consumer = flymq_client.consumer(topic, unique_topic("g"), auto_offset_reset="earliest")
    for message in consumer:
        if message.offset == 4:
            break
    assert consumer.position(0) == 5
    assert [m.offset for m in consumer.poll(timeout_ms=2000, max_records=3)] == [5, 6, 7]
    consumer.close()


def test_pause_and_resume(flymq_client: Any, unique_topic: Callable[..., str]) -> None:
    topic = unique_topic("pause")
    flymq_client.create_topic(topic, partitions=2)
    consumer = flymq_client.consumer(topic, unique_topic("g"), auto_offset_reset="earliest")
    consumer.pause(0)
    assert consumer.paused() == {TopicPartition(topic, 0)}
    for i in range(20):
        flymq_client.produce(topic, f"m{i}".encode())  # round-robin: 10 per partition
    got = _poll_until(consumer, 10, timeout=3)
    assert {m.partition for m in got} == {1} and len(got) == 10
    assert consumer.poll(timeout_ms=100) == []
    consumer.resume([TopicPartition(topic, 0)])
    assert {m.partition for m in _poll_until(consumer, 10)} == {0}
    consumer.close()


def test_explicit_partitions_and_argument_checks(flymq_client: Any, unique_topic: Callable[..., str]) -> None:
    topic, other = unique_topic("parts"), unique_topic("other")
    flymq_client.create_topic(topic, partitions=4)
    flymq_client.create_topic(other, partitions=1)
    consumer = Consumer(flymq_client, topic, group_id=unique_topic("g"), partition=2)
    assert consumer.assignment() == {TopicPartition(topic, 2)}
    with pytest.raises(InvalidArgumentError, match="not assigned"):
        consumer.seek(0, 5)
    consumer.close()
    both = flymq_client.consumer([topic, other], unique_topic("g"), partitions=[0])
    with pytest.raises(InvalidArgumentError, match="name the topic"):
        both.position(0)
    assert both.position(0, topic=other) == 0
    assert both.position((topic, 0)) == 0
    both.close()
    with pytest.raises(ConfigurationError, match="same setting"):
        flymq_client.consumer(topic, "g", auto_commit=True, enable_auto_commit=False)
    with pytest.raises(InvalidArgumentError, match="needs a group_id"):
        flymq_client.consumer(topic).commit()


def test_a_topic_created_later_is_read_from_its_first_record(
    flymq_client: Any, unique_topic: Callable[..., str]
) -> None:
    topic = unique_topic("later")
    consumer = flymq_client.consumer(topic, unique_topic("g"))  # auto_offset_reset="latest"
    assert consumer.assignment() == set()
    assert consumer.poll(timeout_ms=50) == []
    for value in (b"a", b"b", b"c"):  # auto-creates the topic: all of it is newer than the consumer
        flymq_client.produce(topic, value)
    assert [m.value for m in _poll_until(consumer, 3, timeout=5)] == [b"a", b"b", b"c"]
    assert consumer.assignment() == {TopicPartition(topic, 0)}
    consumer.close()


def test_consumer_without_group_reads_from_the_end(
    flymq_client: Any, unique_topic: Callable[..., str]
) -> None:
    topic = unique_topic("nogroup")
    flymq_client.create_topic(topic, partitions=1)
    flymq_client.produce(topic, b"before")
    consumer = flymq_client.consumer(topic)
    assert consumer.position(0) == 1 and consumer.group_id is None
    flymq_client.produce(topic, b"after")
    assert [m.value for m in _poll_until(consumer, 1)] == [b"after"]
    consumer.close()
