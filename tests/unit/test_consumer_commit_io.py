"""Committing over a connection that fails: a COMMIT whose connection dropped before its answer is
sent once more on a fresh connection (COMMIT stores an absolute value, so a second copy is harmless);
a server refusal is not re-sent; a second loss fails the commit with the connection error."""

from __future__ import annotations

from typing import Any

import pytest

from pyflymq import FlyMQClient
from pyflymq_core.consumer.assignment import TopicPartition
from pyflymq_core.consumer.committer import COMMIT_ATTEMPTS, commit_offsets
from pyflymq_core.errors import ConnectionError, ServerError
from pyflymq_core.protocol import OpCode
from tests.integration.fake_server import CLOSE, Error, FakeConn, FakeServer, MiniBroker, Reply

FAST: dict[str, Any] = {"max_retries": 0, "retry_delay_ms": 10, "keepalive_interval_ms": 0}
OFFSETS = {TopicPartition("orders", 0): 7, TopicPartition("orders", 1): 3}


class CommitScript(MiniBroker):
    """A broker whose COMMIT answers follow ``script`` (then succeed), recording what was stored."""

    def __init__(self, *script: Reply) -> None:
        super().__init__()
        self.script = list(script)
        self.stored: list[tuple[int, int]] = []

    def _handle(self, conn: FakeConn, op: int, f: dict[str, Any]) -> Reply:
        if op != OpCode.COMMIT:
            return super()._handle(conn, op, f)
        answer = self.script.pop(0) if self.script else {"success": True}
        if isinstance(answer, dict):
            self.stored.append((f["partition"], f["offset"]))
        return answer


def test_a_commit_lost_with_its_connection_is_sent_again_on_a_fresh_one() -> None:
    broker = CommitScript(CLOSE)
    with FakeServer(broker) as server, FlyMQClient(server.address, **FAST) as client:
        commit_offsets(client, "billing", OFFSETS, timeout=5.0)
    assert sorted(broker.stored) == [(0, 7), (1, 3)]  # both stored, by the second attempt
    assert COMMIT_ATTEMPTS == 2


def test_a_server_refusal_is_not_sent_again() -> None:
    broker = CommitScript({"success": True}, Error("failed to commit offset: disk full"))
    with (
        FakeServer(broker) as server,
        FlyMQClient(server.address, **FAST) as client,
        pytest.raises(ServerError, match="disk full"),
    ):
        commit_offsets(client, "billing", OFFSETS, timeout=5.0)
    assert broker.stored == [(0, 7)] and broker.script == []  # nothing re-sent after the refusal


def test_losing_the_connection_twice_fails_the_commit() -> None:
    broker = CommitScript(CLOSE, CLOSE)
    with (
        FakeServer(broker) as server,
        FlyMQClient(server.address, **FAST) as client,
        pytest.raises(ConnectionError),
    ):
        commit_offsets(client, "billing", OFFSETS, timeout=5.0)
    assert broker.stored == []
