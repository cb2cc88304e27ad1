"""The high-level producer against a server (embedded broker by default, or --flymq-bootstrap).

The seed README's "High-Level Producer", "Producer Configuration" and "Producer with Batching"
snippets run as written (with unique topic names), then the guarantees behind them are checked by
reading back what the server stored.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from pydantic import BaseModel

from pyflymq import FlyMQClient, HighLevelProducer, Producer, ProducerConfig, connect
from pyflymq_core.errors import BufferFullError, InvalidArgumentError, SerializationError
from pyflymq_core.models import RecordMetadata
from pyflymq_core.plugins import get_plugin_manager, hookimpl
from pyflymq_core.protocol import OpCode


def _read_all(client: Any, topic: str, partition: int = 0) -> list[Any]:
    messages: list[Any] = []
    offset = 0
    while True:
        batch = client.fetch(topic, partition, offset, 1000)
        if not batch.messages:
            return messages
        messages.extend(batch.messages)
        offset = batch.next_offset


def _read_topic(client: Any, topic: str) -> list[Any]:
    count = client.get_topic_metadata(topic).partition_count
    return [m for p in range(count) for m in _read_all(client, topic, p)]


def test_seed_high_level_producer(
    flymq_bootstrap: str, flymq_client_kwargs: dict[str, Any], unique_topic: Callable[..., str]
) -> None:
    events = unique_topic("events")
    client = connect(flymq_bootstrap, **flymq_client_kwargs)
    sent: list[RecordMetadata] = []
    failed: list[Exception] = []

    # Create a high-level producer with batching
    with client.producer(batch_size=100, linger_ms=10) as producer:
        # Send with callback
        def on_success(metadata: RecordMetadata) -> None:
            print(f"Sent to {metadata.topic}[{metadata.partition}] @ {metadata.offset}")
            sent.append(metadata)

        def on_error(error: Exception) -> None:
            print(f"Failed: {error}")
            failed.append(error)

        # Async send with callbacks
        future = producer.send(
            topic=events,
            value=b'{"event": "click"}',
            key="user-123",
            on_success=on_success,
            on_error=on_error,
        )

        # Or wait for result
        metadata = future.get(timeout_ms=5000)
        print(f"Offset: {metadata.offset}")

    # Producer auto-flushes on exit
    assert isinstance(producer, HighLevelProducer) and producer.closed
    assert sent == [metadata] and failed == []
    assert future.done() and future.succeeded() and future.exception() is None
    stored = client.consume(events, metadata.offset, metadata.partition)
    assert (stored.key, stored.value) == (b"user-123", b'{"event": "click"}')
    client.close()


def test_seed_producer_configuration(
    flymq_bootstrap: str, flymq_client_kwargs: dict[str, Any], unique_topic: Callable[..., str]
) -> None:
    events = unique_topic("events")
    client = connect(flymq_bootstrap, **flymq_client_kwargs)
    client.create_topic(events, partitions=1)

    # Full configuration
    producer = client.producer(
        batch_size=1000,  # Max messages per batch
        linger_ms=50,  # Wait time for batching
        max_retries=3,  # Retry attempts
        retry_backoff_ms=100,  # Backoff between retries
    )

    # High-throughput pattern
    for i in range(10000):
        producer.send(events, f"event-{i}".encode())

    producer.flush()  # Ensure all sent
    producer.close()

    assert producer.config.retries == 3 and producer.config.linger_ms == 50
    values = [m.value for m in _read_all(client, events)]
    assert values == [f"event-{i}".encode() for i in range(10000)]
    metrics = producer.metrics()
    assert metrics["acknowledged"] == 10000 and metrics["failed"] == 0
    assert metrics["writes"] < 10000  # records were pipelined, many per write
    client.close()


def test_seed_producer_with_batching(
    flymq_bootstrap: str, flymq_client_kwargs: dict[str, Any], unique_topic: Callable[..., str]
) -> None:
    topic = unique_topic("my-topic")
    client = FlyMQClient(flymq_bootstrap, **flymq_client_kwargs)

    # Configure batching
    config = ProducerConfig(
        batch_size=16384,  # 16KB batch
        linger_ms=100,  # Wait up to 100ms for more messages
        max_batch_messages=100,
    )

    producer = Producer(client, config=config)

    # Send messages (may be batched)
    producer.send(topic, b"Message 1")
    producer.send(topic, b"Message 2")

    # Ensure all messages are sent
    producer.flush()
    producer.close()

    assert [m.value for m in _read_all(client, topic)] == [b"Message 1", b"Message 2"]
    assert producer.metrics()["writes"] == 1  # lingered: both records went in one write
    client.close()


def test_keyed_records_are_acknowledged_in_send_order_per_key(
    flymq_client: Any, unique_topic: Callable[..., str]
) -> None:
    topic = unique_topic("ordered")
    flymq_client.create_topic(topic, partitions=4)
    acknowledged: dict[str, list[int]] = {}
    lock = threading.Lock()

    def remember(key: str) -> Callable[[RecordMetadata], None]:
        def on_success(metadata: RecordMetadata) -> None:
            with lock:
                acknowledged.setdefault(key, []).append(metadata.offset)

        return on_success

    keys = [f"user-{i}" for i in range(8)]
    with flymq_client.producer(max_in_flight=5, max_batch_messages=50) as producer:
        for i in range(2000):
            key = keys[i % len(keys)]
            producer.send(topic, f"{key}:{i}".encode(), key=key, on_success=remember(key))
    for key in keys:
        offsets = acknowledged[key]
        assert offsets == sorted(offsets) and len(offsets) == 250  # callbacks in send order, once each
    stored = _read_topic(flymq_client, topic)
    for key in keys:
        sequence = [int(m.value.split(b":")[1]) for m in stored if m.key == key.encode()]
        assert sequence == sorted(sequence) and len(sequence) == 250


def test_close_loses_nothing_that_was_sent(flymq_client: Any, unique_topic: Callable[..., str]) -> None:
    topic = unique_topic("noloss")
    producer = flymq_client.producer(linger_ms=200, max_batch_messages=10_000, batch_size=1 << 20)
    futures = [producer.send(topic, f"m{i}".encode()) for i in range(3000)]
    assert not all(f.done() for f in futures)  # still lingering
    producer.close(timeout=30)
    assert all(f.succeeded() for f in futures)
    assert {m.value for m in _read_all(flymq_client, topic)} == {f"m{i}".encode() for i in range(3000)}
    offsets = sorted(f.get().offset for f in futures)
    assert offsets == list(range(3000))


def test_threads_share_one_producer(flymq_client: Any, unique_topic: Callable[..., str]) -> None:
    topic = unique_topic("threads")
    producer = flymq_client.producer()

    def work(n: int) -> None:
        for i in range(500):
            producer.send(topic, f"{n}-{i}".encode(), key=str(n))

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    producer.close(timeout=30)
    assert len(_read_all(flymq_client, topic)) == 2000


def test_a_small_buffer_applies_backpressure(flymq_client: Any, unique_topic: Callable[..., str]) -> None:
    topic = unique_topic("backpressure")
    with flymq_client.producer(buffer_memory=4096, max_block_ms=10_000) as producer:
        futures = [producer.send(topic, b"x" * 200) for _ in range(300)]  # ~70 KB through a 4 KB buffer
        assert producer.metrics()["buffered_bytes"] <= 4096
    assert all(f.succeeded() for f in futures)
    with pytest.raises(InvalidArgumentError, match="larger than the producer's buffer_memory"):
        flymq_client.producer(buffer_memory=1024).send(topic, b"x" * 2000)


def test_buffer_full_error_after_max_block_ms(flymq_client: Any, unique_topic: Callable[..., str]) -> None:
    topic = unique_topic("full")
    producer = flymq_client.producer(buffer_memory=1000, max_block_ms=0, linger_ms=60_000, batch_size=1 << 20)
    producer.send(topic, b"x" * 500)  # lingers: stays in the buffer
    with pytest.raises(BufferFullError, match="buffer stayed full"):
        producer.send(topic, b"x" * 600)
    producer.close(timeout=10)


def test_invalid_records_raise_in_send(flymq_client: Any) -> None:
    with flymq_client.producer() as producer:
        with pytest.raises(InvalidArgumentError):
            producer.send("bad/topic", b"x")
        with pytest.raises(TypeError):
            producer.send("ok-topic", 12)


class _Click(BaseModel):
    user: str
    page: str
    n: int


def test_pydantic_models_round_trip_through_the_json_serializer(
    flymq_client: Any, unique_topic: Callable[..., str]
) -> None:
    topic = unique_topic("models")
    clicks = [_Click(user=f"u{i}", page="/home", n=i) for i in range(5)]
    with flymq_client.producer(serializer="json", key_serializer="string") as producer:
        futures = [producer.send(topic, click, key=click.user) for click in clicks]
        with pytest.raises(SerializationError, match="as JSON"):
            producer.send(topic, {"when": object()})
    assert all(f.succeeded() for f in futures)
    stored = _read_all(flymq_client, topic)
    assert [m.key for m in stored] == [c.user.encode() for c in clicks]
    assert [_Click.model_validate_json(m.value) for m in stored] == clicks
    assert [flymq_client.consume_object(topic, i, deserializer=_Click) for i in range(5)] == clicks


class _RequestRecorder:
    def __init__(self) -> None:
        self.before: list[int] = []
        self.after: list[tuple[int, int | None]] = []

    @hookimpl
    def pyflymq_before_request(self, client: Any, op: int, payload_size: int) -> None:
        self.before.append(op)

    @hookimpl
    def pyflymq_after_response(
        self, client: Any, op: int, resp_op: int | None, elapsed_s: float, error: BaseException | None
    ) -> None:
        self.after.append((op, resp_op))


def test_metrics_plugins_count_the_producers_records(
    flymq_client: Any, unique_topic: Callable[..., str]
) -> None:
    topic = unique_topic("observed")
    flymq_client.create_topic(topic, 1)
    recorder = _RequestRecorder()
    requests_before = flymq_client.metrics()["requests"]
    get_plugin_manager().register(recorder, name="producer-metrics")
    try:
        with flymq_client.producer(linger_ms=5) as producer:
            for i in range(200):
                producer.send(topic, f"m{i}".encode())
    finally:
        get_plugin_manager().unregister(recorder)
    produce = int(OpCode.PRODUCE)
    assert recorder.before.count(produce) == 200
    assert recorder.after.count((produce, produce)) == 200
    assert flymq_client.metrics()["requests"] - requests_before >= 200
