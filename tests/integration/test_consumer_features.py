"""The sync consumer beyond the seed snippets: deserializers and records that cannot be read,
unknown explicit partitions, the ``poll`` timeout with a FETCH in flight, lifecycle hooks on FETCH
and COMMIT, encryption end to end (including the dead-letter topic), and iteration details."""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from pydantic import BaseModel

from pyflymq import ConsumedMessage, Consumer, ConsumerGroup, FlyMQClient
from pyflymq_core.errors import DecryptionError, PartitionNotFoundError, SerializationError
from pyflymq_core.protocol import OpCode
from pyflymq_serde.crypto import Encryptor, generate_key
from tests.integration.fake_server import NO_REPLY, FakeConn, FakeServer, MiniBroker, Reply
from tests.integration.test_consumer import _poll_until
from tests.integration.test_consumer_group import _wait
from tests.unit.lifecycle_recorder import recording


class Order(BaseModel):
    id: int


@pytest.fixture
def client_factory(flymq_bootstrap: str, flymq_options: Any) -> Iterator[Callable[..., FlyMQClient]]:
    clients: list[FlyMQClient] = []

    def make(**options: Any) -> FlyMQClient:
        client = FlyMQClient(flymq_bootstrap, **options, **flymq_options.client_kwargs())
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


# --------------------------------------------------------------------------- deserializers


def test_deserializers_decode_values_and_keys(flymq_client: Any, unique_topic: Callable[..., str]) -> None:
    topic = unique_topic("orders")
    flymq_client.create_topic(topic, partitions=1)
    for i in range(3):
        flymq_client.produce(topic, json.dumps({"id": i}).encode(), key=f"user-{i}")
    consumer = flymq_client.consumer(
        topic, unique_topic("g"), auto_offset_reset="earliest", deserializer=Order, key_deserializer="string"
    )
    got = _poll_until(consumer, 3)
    assert [m.deserialized for m in got] == [Order(id=i) for i in range(3)]
    assert [m.deserialized_key for m in got] == [f"user-{i}" for i in range(3)]
    assert got[0].value == b'{"id": 0}'  # the raw bytes stay
    consumer.close()


def test_a_record_that_does_not_deserialize_stops_the_consumer_at_it(
    flymq_client: Any, unique_topic: Callable[..., str]
) -> None:
    topic, group = unique_topic("mixed"), unique_topic("g")
    flymq_client.create_topic(topic, partitions=1)
    for value in (b"[0]", b"[1]", b"{broken", b"[3]"):
        flymq_client.produce(topic, value)
    consumer = Consumer(
        flymq_client, topic, group_id=group, auto_offset_reset="earliest", deserializer="json"
    )
    assert [m.deserialized for m in _poll_until(consumer, 2)] == [[0], [1]]  # the records before it
    for _ in range(2):  # not skipped silently: raised again and again
        with pytest.raises(SerializationError) as info:
            consumer.poll(timeout_ms=2000)
        error = info.value
        assert (error.topic, error.partition, error.offset) == (topic, 0, 2)
        assert error.direction == "deserialize" and error.__cause__ is not None
        assert consumer.position(0) == 2
    consumer.commit()
    assert flymq_client.get_committed_offset(topic, group, 0) == 2  # a restart meets it again
    consumer.seek(0, error.offset + 1)  # the application decides to skip it
    assert [m.deserialized for m in _poll_until(consumer, 1)] == [[3]]
    consumer.close()


def test_iteration_raises_at_the_bad_record_after_yielding_the_ones_before(
    flymq_client: Any, unique_topic: Callable[..., str]
) -> None:
    topic = unique_topic("mixed-iter")
    flymq_client.create_topic(topic, partitions=1)
    for value in (b"1", b"2", b"x", b"4"):
        flymq_client.produce(topic, value)
    consumer = flymq_client.consumer(
        topic, unique_topic("g"), auto_offset_reset="earliest", deserializer="json"
    )
    seen: list[int] = []
    with pytest.raises(SerializationError) as info:
        for message in consumer:
            seen.append(message.deserialized)
    assert seen == [1, 2] and info.value.offset == 2 and consumer.position(0) == 2
    consumer.seek(0, 3)
    assert next(iter(consumer)).deserialized == 4
    consumer.close()


# --------------------------------------------------------------------------- explicit partitions


def test_naming_a_partition_the_topic_does_not_have_is_an_error(
    flymq_client: Any, unique_topic: Callable[..., str]
) -> None:
    topic = unique_topic("two")
    flymq_client.create_topic(topic, partitions=2)
    with pytest.raises(PartitionNotFoundError) as info:
        flymq_client.consumer(topic, unique_topic("g"), partitions=[1, 2])
    assert (info.value.topic, info.value.partition) == (topic, 2)
    assert info.value.hint is not None and "between 0 and 1" in info.value.hint
    with pytest.raises(PartitionNotFoundError):
        Consumer(flymq_client, topic, group_id=unique_topic("g"), partition=5)
    group = ConsumerGroup(flymq_client, topic, unique_topic("g"), handler=lambda m: None, partitions=[3])
    with pytest.raises(PartitionNotFoundError):
        group.start()  # raised at start, not inside the worker
    assert not group.running


# --------------------------------------------------------------------------- poll timeout


def test_poll_honours_its_timeout_while_a_fetch_is_in_flight() -> None:
    broker = MiniBroker()
    broker.partitions("slow")[0].extend((b"", f"m{i}".encode()) for i in range(5))
    delay = {"fetch": 0.0}

    def handler(conn: FakeConn, op: int, fields: dict[str, Any]) -> Reply:
        if op == OpCode.FETCH and delay["fetch"]:
            time.sleep(delay["fetch"])
        return broker(conn, op, fields)

    with FakeServer(handler) as server, FlyMQClient(server.address, keepalive_interval_ms=0) as client:
        consumer = client.consumer("slow", auto_offset_reset="earliest")
        delay["fetch"] = 1.0
        started = time.monotonic()
        assert consumer.poll(timeout_ms=100) == []  # the FETCH is still being answered
        assert time.monotonic() - started < 0.6
        got = _poll_until(consumer, 5, timeout=5)  # its answer was kept, nothing lost or doubled
        assert [m.offset for m in got] == [0, 1, 2, 3, 4]
        consumer.close()


def test_a_fetch_never_answered_fails_after_request_timeout_and_is_sent_again() -> None:
    broker = MiniBroker()
    broker.partitions("mute")[0].extend((b"", f"m{i}".encode()) for i in range(3))
    fetches = {"seen": 0}

    def handler(conn: FakeConn, op: int, fields: dict[str, Any]) -> Reply:
        if op == OpCode.FETCH:
            fetches["seen"] += 1
            if fetches["seen"] == 1:
                return NO_REPLY  # the first FETCH is never answered
        return broker(conn, op, fields)

    options = {"keepalive_interval_ms": 0, "request_timeout_ms": 400}
    with FakeServer(handler) as server, FlyMQClient(server.address, **options) as client:
        consumer = client.consumer("mute", auto_offset_reset="earliest")
        started = time.monotonic()
        assert consumer.poll(timeout_ms=100) == []
        assert time.monotonic() - started < 0.35  # poll kept its own timeout
        got = _poll_until(consumer, 3, timeout=5)
        assert [m.offset for m in got] == [0, 1, 2]
        assert len(server.connections) >= 2  # the silent connection was given up
        consumer.close()


# --------------------------------------------------------------------------- lifecycle hooks


def test_fetch_and_commit_go_through_the_lifecycle_hooks(
    flymq_client: Any, unique_topic: Callable[..., str]
) -> None:
    topic, group = unique_topic("hooks"), unique_topic("g")
    flymq_client.create_topic(topic, partitions=1)
    flymq_client.produce(topic, b"v")
    with recording() as recorder:
        consumer = flymq_client.consumer(topic, group, auto_offset_reset="earliest", auto_commit=False)
        assert len(_poll_until(consumer, 1)) == 1
        consumer.commit()
        consumer.close()
    before = [op for kind, op in recorder.events if kind == "before"]
    after = [detail for kind, detail in recorder.events if kind == "after"]
    assert OpCode.FETCH in before and OpCode.COMMIT in before
    assert (OpCode.FETCH, OpCode.FETCH, None) in after
    assert (OpCode.COMMIT, OpCode.COMMIT, None) in after
    answered = [op for op, _, _ in after]
    assert before.count(OpCode.COMMIT) == answered.count(OpCode.COMMIT) == 1
    # every FETCH answered was announced; the prefetch still in flight at close() is not answered
    assert 1 <= answered.count(OpCode.FETCH) <= before.count(OpCode.FETCH)


# --------------------------------------------------------------------------- encryption


def test_an_encrypting_consumer_reads_plaintext_and_stops_at_a_record_it_cannot_decrypt(
    flymq_client: Any, unique_topic: Callable[..., str], client_factory: Callable[..., FlyMQClient]
) -> None:
    key = generate_key()
    topic = unique_topic("enc")
    flymq_client.create_topic(topic, partitions=1)
    writer = client_factory(encryption_enabled=True, encryption_key=key)
    writer.produce(topic, b"secret-0")
    flymq_client.produce(topic, b"written in clear")  # not readable with a key
    writer.produce(topic, b"secret-2")
    reader = client_factory(encryption_enabled=True, encryption_key=key)
    consumer = reader.consumer(topic, unique_topic("g"), auto_offset_reset="earliest")
    assert [m.value for m in _poll_until(consumer, 1)] == [b"secret-0"]
    with pytest.raises(DecryptionError) as info:
        consumer.poll(timeout_ms=2000)
    assert (info.value.topic, info.value.partition, info.value.offset) == (topic, 0, 1)
    assert consumer.position(0) == 1
    consumer.seek(0, 2)
    assert [m.value for m in _poll_until(consumer, 1)] == [b"secret-2"]
    consumer.close()


def test_dead_letters_of_an_encrypting_group_are_readable_by_the_server_and_replay_encrypted(
    dlq_enabled: None,  # FETCH_DLQ/REPLAY_DLQ need dlq.enabled on the server under test
    flymq_client: Any,
    unique_topic: Callable[..., str],
    client_factory: Callable[..., FlyMQClient],
) -> None:
    key = generate_key()
    topic, group_id = unique_topic("enc-dlq"), unique_topic("g")
    flymq_client.create_topic(topic, partitions=1)
    client = client_factory(encryption_enabled=True, encryption_key=key)
    failures = {"left": 1}
    handled: list[bytes] = []

    def handler(msg: ConsumedMessage) -> None:
        if failures["left"]:
            failures["left"] -= 1
            raise RuntimeError("downstream unavailable")
        handled.append(msg.value)

    group = ConsumerGroup(
        client, [topic], group_id, handler, max_retries=0, retry_backoff_ms=1, auto_offset_reset="earliest"
    )
    client.produce(topic, b"card=4111")
    with group:
        _wait(lambda: group.dead_lettered == 1)
        (dead,) = flymq_client.fetch_dlq(topic, max_messages=10)  # the server parsed the JSON
        raw = flymq_client.fetch(f"{topic}.dlq", 0, 0, 10).messages[0].value
        assert b"card" not in raw and json.loads(raw)["original_topic"] == topic  # plain JSON...
        assert dead.data != b"card=4111"  # ...whose payload is the record as stored: encrypted
        assert (
            Encryptor.from_hex_key(key).decrypt(base64.b64decode(json.loads(raw)["payload"])) == b"card=4111"
        )
        client.replay_dlq(topic, dead.id)
        _wait(lambda: handled == [b"card=4111"])  # the replayed copy decrypts like any record


def test_a_group_dead_letters_records_it_cannot_deserialize_and_goes_on(
    flymq_client: Any, unique_topic: Callable[..., str]
) -> None:
    topic, group_id = unique_topic("poison"), unique_topic("g")
    flymq_client.create_topic(topic, partitions=1)
    handled: list[Any] = []
    group = ConsumerGroup(
        flymq_client,
        [topic],
        group_id,
        lambda m: handled.append(m.deserialized),
        deserializer="json",
        auto_offset_reset="earliest",
    )
    for value in (b'{"n": 0}', b"not json", b'{"n": 2}'):
        flymq_client.produce(topic, value)
    with group:
        _wait(lambda: len(handled) == 2)
    assert handled == [{"n": 0}, {"n": 2}]
    assert group.dead_lettered == 1 and isinstance(group.last_error, SerializationError)
    assert flymq_client.get_committed_offset(topic, group_id, 0) == 3
    record = json.loads(flymq_client.fetch(f"{topic}.dlq", 0, 0, 10).messages[0].value)
    assert record["reason"] == "deserialization_failed" and record["original_offset"] == 1
    assert base64.b64decode(record["payload"]) == b"not json" and record["retry_count"] == 0


# --------------------------------------------------------------------------- iteration


def test_positions_follow_iteration_record_by_record(
    flymq_client: Any, unique_topic: Callable[..., str]
) -> None:
    topic, group = unique_topic("iterpos"), unique_topic("g")
    flymq_client.create_topic(topic, partitions=1)
    for i in range(30):
        flymq_client.produce(topic, f"m{i}".encode())
    consumer = Consumer(flymq_client, topic, group_id=group, auto_offset_reset="earliest")
    iterator = iter(consumer)
    for expected in range(10):
        message = next(iterator)
        assert message.offset == expected and consumer.position(0) == expected + 1
    consumer.commit()
    assert flymq_client.get_committed_offset(topic, group, 0) == 10  # exactly what was yielded
    consumer.seek(0, 20)  # inside the loop: the rest of the chunk is dropped
    assert next(iterator).offset == 20
    consumer.pause(0)
    assert consumer.poll(timeout_ms=50) == []
    consumer.resume(0)
    assert [m.offset for m in consumer.poll(timeout_ms=2000, max_records=3)] == [21, 22, 23]
    assert next(iterator).offset == 24  # polling and iterating share one position
    consumer.close()


def test_close_from_another_thread_stops_an_iteration_in_the_middle_of_a_chunk(
    flymq_client: Any, unique_topic: Callable[..., str]
) -> None:
    topic, group = unique_topic("iterclose"), unique_topic("g")
    flymq_client.create_topic(topic, partitions=1)
    for i in range(200):
        flymq_client.produce(topic, f"m{i}".encode())
    consumer = flymq_client.consumer(topic, group, auto_offset_reset="earliest")  # auto-commit
    seen: list[int] = []
    halfway = threading.Event()

    def iterate() -> None:
        for message in consumer:
            seen.append(message.offset)
            if message.offset == 49:
                halfway.set()
                time.sleep(0.3)  # close() arrives while this record is being handled

    thread = threading.Thread(target=iterate)
    thread.start()
    assert halfway.wait(10)
    consumer.close()
    thread.join(5)
    assert not thread.is_alive() and seen == list(range(50))
    committed = flymq_client.get_committed_offset(topic, group, 0)
    assert committed == 50  # at-least-once: never past what was handed out


def test_a_commit_past_the_end_after_a_topic_is_recreated_restarts_from_the_reset_policy(
    flymq_client: Any, unique_topic: Callable[..., str]
) -> None:
    # The group committed 10 on the old topic; DELETE_TOPIC leaves the offsets behind
    # (SEMANTICS_NOTES #21).  Resuming at 10 would skip the new topic's first ten records:
    # Kafka's out-of-range rule applies instead (auto_offset_reset), with a warning.
    topic = unique_topic("recreated")
    flymq_client.create_topic(topic, partitions=1)
    for index in range(10):
        flymq_client.produce(topic, f"old-{index}".encode())
    consumer = flymq_client.consumer(topic, "g", auto_offset_reset="earliest", enable_auto_commit=False)
    assert len(_poll_until(consumer, 10)) == 10
    consumer.commit()
    consumer.close()
    flymq_client.delete_topic(topic)
    flymq_client.create_topic(topic, partitions=1)
    for index in range(3):
        flymq_client.produce(topic, f"new-{index}".encode())
    again = flymq_client.consumer(topic, "g", auto_offset_reset="earliest", enable_auto_commit=False)
    assert [m.value for m in _poll_until(again, 3)] == [b"new-0", b"new-1", b"new-2"]
    again.commit()
    again.close()
    assert flymq_client.get_committed_offset(topic, "g", 0) == 3
