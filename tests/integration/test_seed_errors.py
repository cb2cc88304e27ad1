"""The seed README's Error Handling section: exception types, hints, graceful recovery."""

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


def test_exception_types_import() -> None:
    from pyflymq.exceptions import (
        AuthenticationError,  # Auth failures
        ConnectionError,  # Connection failures
        FlyMQError,  # Base exception
        OffsetOutOfRangeError,  # Invalid offset
        ServerError,  # Server-side errors
        TimeoutError,  # Operation timeout
        TopicNotFoundError,  # Topic doesn't exist
    )

    for exc in (
        AuthenticationError,
        ConnectionError,
        OffsetOutOfRangeError,
        ServerError,
        TimeoutError,
        TopicNotFoundError,
    ):
        assert issubclass(exc, FlyMQError)


def test_errors_with_hints_snippet_runs(
    flymq_bootstrap: str,
    flymq_client_kwargs: dict[str, Any],
    unique_topic: Callable[..., str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    from pyflymq import connect
    from pyflymq.exceptions import ConnectionError, TopicNotFoundError

    nonexistent_topic = unique_topic("nonexistent-topic")
    try:
        client = connect(flymq_bootstrap, **flymq_client_kwargs)
        client.produce(nonexistent_topic, b"data")
    except TopicNotFoundError as e:
        print(f"Error: {e}")
        print(f"Hint: {e.hint}")
    except ConnectionError as e:
        print(f"Error: {e}")
        print(f"Hint: {e.hint}")
    # FlyMQ creates topics on first produce, so the snippet's produce succeeds and prints nothing.
    assert capsys.readouterr().out == ""
    assert client.consume(nonexistent_topic, 0).value == b"data"
    client.close()


def test_topic_not_found_hint(flymq_client: Any, unique_topic: Callable[..., str]) -> None:
    from pyflymq.exceptions import TopicNotFoundError

    missing = unique_topic("nonexistent-topic")
    with pytest.raises(TopicNotFoundError) as info:
        flymq_client.consume(missing, 0)
    assert f'client.create_topic("{missing}", partitions)' in (info.value.hint or "")
    with pytest.raises(TopicNotFoundError):
        flymq_client.fetch(missing)


def test_connection_error_hint() -> None:
    from pyflymq import connect
    from pyflymq.exceptions import ConnectionError

    address = _dead_address()
    with pytest.raises(ConnectionError) as info:
        connect(address, max_retries=0)
    assert "Check that the FlyMQ server is running" in (info.value.hint or "")
    assert address in str(info.value)


def test_offset_out_of_range(flymq_client: Any, unique_topic: Callable[..., str]) -> None:
    from pyflymq.exceptions import OffsetOutOfRangeError

    topic = unique_topic("short")
    flymq_client.produce(topic, b"only")
    with pytest.raises(OffsetOutOfRangeError) as info:
        flymq_client.consume(topic, 5)
    assert info.value.offset == 5 and info.value.topic == topic
    assert len(flymq_client.fetch(topic, 0, 5)) == 0  # FETCH past the end is not an error


def test_graceful_error_recovery(
    flymq_bootstrap: str, flymq_client_kwargs: dict[str, Any], unique_topic: Callable[..., str]
) -> None:
    import time

    from pyflymq import connect
    from pyflymq.exceptions import FlyMQError

    def produce_with_retry(client: Any, topic: str, data: bytes, max_retries: int = 3) -> Any:
        """Produce with exponential backoff retry."""
        backoff = 0.1
        for attempt in range(max_retries):
            try:
                return client.produce(topic, data)
            except FlyMQError as e:
                if attempt < max_retries - 1:
                    print(f"Retry {attempt + 1}: {e}")
                    time.sleep(backoff)
                    backoff *= 2
                else:
                    raise

    # Usage
    client = connect(flymq_bootstrap, **flymq_client_kwargs)
    offset = produce_with_retry(client, unique_topic("my-topic"), b"important data")
    assert offset.offset == 0
    client.close()
