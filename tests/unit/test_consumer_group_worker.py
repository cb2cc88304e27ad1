"""``ConsumerGroup``'s worker on its failure paths (in-process broker, no sockets): a poll that fails
is logged and retried without stopping the group, and ``stop()`` during a handler's retry backoff
returns at once without committing or dead-lettering the record."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from pyflymq import ConsumedMessage, ConsumerGroup, FlyMQClient
from pyflymq_core.consumer import HighLevelConsumer
from pyflymq_core.errors import ConnectionError


def _wait(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


@pytest.fixture
def client(flymq_memory_url: str) -> Iterator[FlyMQClient]:
    with FlyMQClient(flymq_memory_url) as connected:
        connected.create_topic("jobs", partitions=1)
        yield connected


def test_a_failed_poll_is_logged_and_the_group_keeps_consuming(
    client: FlyMQClient, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr("pyflymq_core.consumer.group.ERROR_BACKOFF_S", 0.01)
    original = HighLevelConsumer.poll
    failures = [ConnectionError("connection to the server lost")]

    def flaky_poll(self: HighLevelConsumer, *args: Any, **kwargs: Any) -> list[ConsumedMessage]:
        if failures:
            raise failures.pop()
        return original(self, *args, **kwargs)

    monkeypatch.setattr(HighLevelConsumer, "poll", flaky_poll)
    seen: list[bytes] = []
    group = ConsumerGroup(
        client, "jobs", "workers", handler=lambda m: seen.append(m.value), auto_offset_reset="earliest"
    )
    client.produce("jobs", b"after-the-failure")
    with group:
        _wait(lambda: seen == [b"after-the-failure"])
        assert group.running
    assert isinstance(group.last_error, ConnectionError)
    assert "poll failed: connection to the server lost" in caplog.text
    assert client.get_committed_offset("jobs", "workers", 0) == 1


def test_stop_during_a_retry_backoff_returns_at_once_and_commits_nothing(client: FlyMQClient) -> None:
    calls: list[int] = []

    def always_fails(message: ConsumedMessage) -> None:
        calls.append(message.offset)
        raise ValueError("downstream unavailable")

    group = ConsumerGroup(
        client,
        "jobs",
        "workers",
        handler=always_fails,
        max_retries=5,
        retry_backoff_ms=60_000,
        auto_offset_reset="earliest",
    )
    client.produce("jobs", b"job-0")
    group.start()
    _wait(lambda: calls == [0])  # first attempt failed: the worker now waits 60 s before retrying
    started = time.monotonic()
    group.stop()
    assert time.monotonic() - started < 5.0
    assert not group.running and group.dead_lettered == 0 and calls == [0]
    assert client.get_committed_offset("jobs", "workers", 0) == 0  # the record stays unconsumed
    assert "jobs.dlq" not in client.list_topics()  # and was not dead-lettered
