"""AsyncConsumer against scripted servers: a lost connection mid-stream is a pause, not an error
(no gap, no duplicate), and server errors that are not connection losses surface from ``poll``."""

from __future__ import annotations

from typing import Any

import pytest

from pyflymq import AsyncFlyMQClient
from pyflymq_core.errors import ServerError
from pyflymq_core.protocol import OpCode
from tests.integration.fake_server import Error, FakeConn, FakeServer, MiniBroker, Reply
from tests.support.aio import run

FAST: dict[str, Any] = {"max_retries": 1, "retry_delay_ms": 10, "keepalive_interval_ms": 0}


def test_connection_loss_while_consuming_is_retried_without_gap_or_duplicate() -> None:
    broker = MiniBroker()
    log = broker.partitions("t")[0]
    log.extend((b"", f"m{i}".encode()) for i in range(300))

    async def main(srv: FakeServer) -> list[int]:
        async with AsyncFlyMQClient(srv.address, **FAST) as client:
            consumer = client.consumer("t", auto_offset_reset="earliest", fetch_max_messages=50)
            offsets = [m.offset for m in await consumer.poll(2000, 100)]
            srv.drop_connections()
            while len(offsets) < 300:
                batch = await consumer.poll(5000)
                assert batch, "the consumer stopped after the connection loss"
                offsets.extend(m.offset for m in batch)
            await consumer.close()
            return offsets

    with FakeServer(broker) as srv:
        offsets = run(main(srv))
        assert len(srv.connections) >= 2  # it reconnected
    assert offsets == list(range(300))


def test_a_server_error_on_fetch_is_raised_by_poll() -> None:
    broker = MiniBroker()
    broker.partitions("t")[0].append((b"", b"v"))

    def handler(conn: FakeConn, op: int, fields: dict[str, Any]) -> Reply:
        if op == OpCode.FETCH:
            return Error("internal failure")
        return broker(conn, op, fields)

    async def main(srv: FakeServer) -> None:
        async with AsyncFlyMQClient(srv.address, **FAST) as client:
            consumer = client.consumer("t", auto_offset_reset="earliest")
            with pytest.raises(ServerError, match="internal failure"):
                await consumer.poll(2000)
            await consumer.close()

    with FakeServer(handler) as srv:
        run(main(srv))
