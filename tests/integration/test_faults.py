"""The broker goes away mid-stream and comes back (embedded broker only: the test restarts it).

The same :class:`~pyflymq_broker.Broker` state is served again on the same port by a new
:class:`~pyflymq_broker.server.BrokerServer`, as a restarted server with its data would be.
Producer: every acknowledged record is stored exactly once (at the offset its acknowledgement
names); every other record's future failed with an error saying what is known.  Consumer: it
continues after the restart without gaps or duplicates, and a new member of the group resumes from
the committed offset.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from pyflymq import ConsumerGroup, FlyMQClient
from pyflymq_broker import Broker, BrokerConfig
from pyflymq_broker.server import BrokerServer
from pyflymq_core.client.connection import NotSentError
from pyflymq_core.errors import ConnectionError, FlyMQError
from pyflymq_core.producer import DeliveryError

pytestmark = pytest.mark.flymq_embedded_only


class Restartable:
    """A broker server that can be stopped and started again on the same port with the same state."""

    def __init__(self) -> None:
        self.broker = Broker(BrokerConfig())
        self.server = BrokerServer(self.broker).start()
        self.port = self.server.port
        self.address = self.server.address
        self.restarts = 0

    def stop(self) -> None:
        self.server.stop()

    def start(self) -> None:
        self.server = BrokerServer(self.broker, port=self.port).start()
        self.restarts += 1

    def bounce_in_background(self, down_for: float) -> threading.Thread:
        """Stop now, start again after ``down_for`` seconds (in a thread)."""
        self.stop()

        def come_back() -> None:
            time.sleep(down_for)
            self.start()

        thread = threading.Thread(target=come_back)
        thread.start()
        return thread

    def close(self) -> None:
        self.server.stop()
        self.broker.close()


@pytest.fixture
def restartable() -> Iterator[Restartable]:
    server = Restartable()
    try:
        yield server
    finally:
        server.close()


def _client(server: Restartable) -> FlyMQClient:
    # Reconnect rounds 50 ms apart for ~2 s: long enough to outlast the outage.
    return FlyMQClient(server.address, keepalive_interval_ms=0, retry_delay_ms=50, max_retries=40)


def _read_partition(client: Any, topic: str, partition: int) -> list[Any]:
    out: list[Any] = []
    offset = 0
    while True:
        batch = client.fetch(topic, partition, offset, 1000)
        if not batch.messages:
            return out
        out.extend(batch.messages)
        offset = batch.next_offset


def test_producer_across_a_broker_restart(restartable: Restartable, unique_topic: Callable[..., str]) -> None:
    topic = unique_topic("faults")
    client = _client(restartable)
    client.create_topic(topic, partitions=4)
    producer = client.producer(max_retries=20, retry_backoff_ms=50, max_batch_messages=50)
    futures = []
    restart: threading.Thread | None = None
    for i in range(4000):
        futures.append(producer.send(topic, f"v{i}".encode(), key=f"k{i % 16}"))
        if i % 400 == 0:
            time.sleep(0.01)  # let the stream flow, so the outage hits it mid-way
        if i == 1600:
            restart = restartable.bounce_in_background(0.3)
    unreported: list[Any] = []
    try:
        producer.close(timeout=30)
    except DeliveryError as exc:
        unreported = exc.futures
    assert restart is not None
    restart.join()
    assert restartable.restarts == 1

    stored: dict[bytes, list[tuple[int, int]]] = {}
    for partition in range(4):
        for message in _read_partition(client, topic, partition):
            stored.setdefault(message.value, []).append((partition, message.offset))
    assert all(len(places) == 1 for places in stored.values())  # nothing stored twice
    acknowledged = 0
    for n, fut in enumerate(futures):
        value = f"v{n}".encode()
        assert fut.done()
        if fut.succeeded():
            acknowledged += 1
            meta = fut.get()
            assert stored.get(value) == [(meta.partition, meta.offset)]  # exactly once, where it said
        else:
            error = fut.exception()
            assert isinstance(error, ConnectionError), error
            if not isinstance(error, NotSentError):
                assert "may or may not have been written" in str(error)
            assert fut in unreported
    assert acknowledged >= 3000  # the outage cost at most what was in flight when it began
    assert set(stored) <= {f"v{n}".encode() for n in range(4000)}
    client.close()


def test_consumer_across_a_broker_restart(restartable: Restartable, unique_topic: Callable[..., str]) -> None:
    topic, group = unique_topic("faults"), unique_topic("g")
    client = _client(restartable)
    client.create_topic(topic, partitions=2)
    for i in range(300):
        client.produce(topic, f"m{i}".encode())
    consumer = client.consumer(topic, group, auto_offset_reset="earliest", enable_auto_commit=False)
    received: list[Any] = []
    while len(received) < 150:
        received.extend(consumer.poll(timeout_ms=1000, max_records=150 - len(received)))
    consumer.commit()
    restart = restartable.bounce_in_background(0.3)
    deadline = time.monotonic() + 20
    while len(received) < 300 and time.monotonic() < deadline:
        received.extend(consumer.poll(timeout_ms=200))
    restart.join()
    values = [m.value for m in received]
    assert len(values) == 300 and set(values) == {f"m{i}".encode() for i in range(300)}
    consumer.close()

    # A new member of the group starts from the commit made before the restart.
    committed = {p: client.get_committed_offset(topic, group, p) for p in (0, 1)}
    assert sum(committed.values()) == 150
    resumed = client.consumer(topic, group, auto_offset_reset="earliest")
    again: list[Any] = []
    while len(again) < 150:
        batch = resumed.poll(timeout_ms=2000)
        assert batch, "the resumed consumer got nothing"
        again.extend(batch)
    assert sorted(m.value for m in again) == sorted(m.value for m in received[150:])
    assert all(m.offset >= committed[m.partition] for m in again)
    resumed.close()
    client.close()


def _committed(client: FlyMQClient, topic: str, group: str) -> int | None:
    try:
        return client.get_committed_offset(topic, group, 0)
    except FlyMQError:  # no commit yet
        return None


def test_poll_keeps_its_timeout_while_the_broker_is_down(
    restartable: Restartable, unique_topic: Callable[..., str]
) -> None:
    # A failover search over a dead server takes (1 + max_retries) rounds retry_delay_ms apart: 6 s
    # here.  poll(200) used to sit through all of it, and ConsumerGroup.stop() timed out behind it.
    client = FlyMQClient(restartable.address, max_retries=3, retry_delay_ms=2000, keepalive_interval_ms=0)
    topic = unique_topic("poll-down")
    client.create_topic(topic, partitions=1)
    client.produce(topic, b"before")
    consumer = client.consumer(topic, "g", auto_offset_reset="earliest", enable_auto_commit=False)
    assert [m.value for m in consumer.poll(timeout_ms=5000)] == [b"before"]
    group = ConsumerGroup(client, topic, "g2", lambda message: None, auto_offset_reset="earliest")
    group.start()
    deadline = time.monotonic() + 10
    while _committed(client, topic, "g2") != 1 and time.monotonic() < deadline:
        time.sleep(0.02)  # the group handled and committed the record: from now on it only polls
    restartable.stop()
    took = []
    for _ in range(3):
        started = time.monotonic()
        assert consumer.poll(timeout_ms=200) == []
        took.append(time.monotonic() - started)
    assert max(took) < 2.0, took  # each within its timeout (plus slack for a loaded machine)
    started = time.monotonic()
    group.stop(timeout=10)  # the worker's poll returns in time, and it commits nothing new
    assert time.monotonic() - started < 5.0
    restartable.start()
    client.produce(topic, b"after")
    deadline = time.monotonic() + 10
    got: list[bytes] = []
    while not got and time.monotonic() < deadline:
        got = [m.value for m in consumer.poll(timeout_ms=500)]
    assert got == [b"after"]  # and reading resumes once the server is back
    consumer.close()
    client.close()


def test_a_call_after_the_server_went_away_fails_over_instead_of_failing(
    unique_topic: Callable[..., str],
) -> None:
    # The seed README's "automatic failover": a server that died a moment ago (its FIN already
    # arrived) is noticed before the request is written, so the request goes to the next server
    # as "not sent" instead of failing as "may or may not have been applied".
    first, second = BrokerServer().start(), BrokerServer().start()
    topic = unique_topic("failover")
    try:
        client = FlyMQClient([first.address, second.address], keepalive_interval_ms=0)
        assert client.produce(topic, b"on first").offset == 0
        first.stop()
        time.sleep(0.3)  # longer than the idle check's threshold, as between two user actions
        meta = client.produce(topic, b"on second")
        assert client.connected_server == second.address and meta.offset == 0
        client.close()
    finally:
        first.stop()
        second.stop()
