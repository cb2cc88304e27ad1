"""The seed README's Quick Start, Key-Based Messaging, Using Context Manager and Cluster Connection
snippets, verbatim except for the server address and topic names (unique per test, so the suite runs
unchanged against a real server that already holds data)."""

from __future__ import annotations

import socket
from collections.abc import Callable
from typing import Any

import pytest


def _dead_address() -> str:
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    listener.close()
    return f"127.0.0.1:{port}"


def test_quick_start_connect(
    flymq_bootstrap: str,
    flymq_client_kwargs: dict[str, Any],
    unique_topic: Callable[..., str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    from pyflymq import connect

    my_topic = unique_topic("my-topic")

    # One-liner connection
    client = connect(flymq_bootstrap, **flymq_client_kwargs)

    # Produce and consume
    client.produce(my_topic, b"Hello, FlyMQ!")
    msg = client.consume(my_topic, 0)
    print(msg.decode())

    client.close()
    assert capsys.readouterr().out == "Hello, FlyMQ!\n"
    assert client.closed


def test_basic_usage_with_context_manager(
    flymq_bootstrap: str,
    flymq_client_kwargs: dict[str, Any],
    unique_topic: Callable[..., str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    from pyflymq import FlyMQClient

    my_topic = unique_topic("my-topic")
    with FlyMQClient(flymq_bootstrap, **flymq_client_kwargs) as client:
        # Create a topic
        client.create_topic(my_topic, partitions=3)

        # Produce a message - returns RecordMetadata (Kafka-like)
        meta = client.produce(my_topic, b"Hello, FlyMQ!")
        print(f"Produced to {meta.topic}[{meta.partition}] @ offset {meta.offset}")

        # Consume the message
        msg = client.consume(my_topic, meta.offset)
        print(f"Received: {msg.decode()}")

    lines = capsys.readouterr().out.splitlines()
    assert lines == [f"Produced to {my_topic}[0] @ offset 0", "Received: Hello, FlyMQ!"]
    assert client.closed
    assert meta.partition == 0  # a fresh topic's round-robin starts at partition 0


def test_key_based_messaging(
    flymq_bootstrap: str,
    flymq_client_kwargs: dict[str, Any],
    unique_topic: Callable[..., str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    from pyflymq import FlyMQClient

    orders = unique_topic("orders")
    with FlyMQClient(flymq_bootstrap, **flymq_client_kwargs) as client:
        # Produce messages with keys
        client.produce(orders, b'{"id": 1}', key="user-123")
        client.produce(orders, b'{"id": 2}', key="user-123")  # Same partition
        client.produce(orders, b'{"id": 3}', key="user-456")  # May differ

        # Consume and access key
        msg = client.consume(orders, 0)
        print(f"Key: {msg.decode_key()}")  # "user-123"
        print(f"Value: {msg.decode()}")  # '{"id": 1}'

        # Fetch multiple messages with keys
        result = client.fetch(orders, partition=0, offset=0, max_messages=10)
        for m in result.messages:
            print(f"Offset {m.offset}: key={m.decode_key()} value={m.decode()}")

    assert capsys.readouterr().out.splitlines() == [
        "Key: user-123",
        'Value: {"id": 1}',
        'Offset 0: key=user-123 value={"id": 1}',
        'Offset 1: key=user-123 value={"id": 2}',
        'Offset 2: key=user-456 value={"id": 3}',
    ]


def test_same_key_same_partition_on_a_multi_partition_topic(
    flymq_client: Any, unique_topic: Callable[..., str]
) -> None:
    from pyflymq_core.protocol import partition_for_key

    topic = unique_topic("orders")
    flymq_client.create_topic(topic, partitions=4)
    metas = [flymq_client.produce(topic, f"v{i}".encode(), key="user-123") for i in range(5)]
    other = flymq_client.produce(topic, b"x", key="user-456")
    assert {m.partition for m in metas} == {partition_for_key(b"user-123", 4)}
    assert [m.offset for m in metas] == list(range(5))
    assert other.partition == partition_for_key(b"user-456", 4)
    fetched = flymq_client.fetch(topic, partition=metas[0].partition, offset=0, max_messages=10)
    assert [m.decode() for m in fetched if m.key == b"user-123"] == [f"v{i}" for i in range(5)]


def test_using_context_manager(
    flymq_bootstrap: str,
    flymq_client_kwargs: dict[str, Any],
    unique_topic: Callable[..., str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    from pyflymq import FlyMQClient

    my_topic = unique_topic("my-topic")
    with FlyMQClient(flymq_bootstrap, **flymq_client_kwargs) as client:
        client.produce(my_topic, b"Hello!")
        topics = client.list_topics()
        print(f"Topics: {topics}")

    assert my_topic in topics
    assert capsys.readouterr().out == f"Topics: {topics}\n"


def test_cluster_connection_fails_over(
    flymq_bootstrap: str, flymq_client_kwargs: dict[str, Any], unique_topic: Callable[..., str]
) -> None:
    from pyflymq import FlyMQClient

    node1, node3 = _dead_address(), _dead_address()
    my_topic = unique_topic("my-topic")

    # Connect to multiple servers for high availability
    client = FlyMQClient(f"{node1},{flymq_bootstrap},{node3}", **flymq_client_kwargs)

    # Automatic failover if a server becomes unavailable
    offset = client.produce(my_topic, b"Hello!")

    assert offset.offset == 0 and offset.topic == my_topic
    assert client.connected_server == flymq_bootstrap
    client.close()
