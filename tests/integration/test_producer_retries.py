"""Producer retries over real sockets, against the scripted fake server (tests/integration/fake_server.py).

The fake answers ``not leader`` the way a partition without a leader does: once a record of a key is
refused, every later record of that key is refused too until the refused one is sent again.  A
producer that retried out of order would either be refused forever or store records out of order.
"""

from __future__ import annotations

import time
from typing import Any

from pyflymq import FlyMQClient, ProducerConfig
from pyflymq_core.errors import ConnectionError
from pyflymq_core.producer import DeliveryError
from pyflymq_core.protocol import OpCode
from tests.integration.fake_server import Error, FakeConn, FakeServer, MiniBroker, Reply


class LeaderlessPartitions(MiniBroker):
    """MiniBroker whose keys lose their leader at chosen records until those records are retried."""

    def __init__(self, refuse: set[bytes]) -> None:
        super().__init__()
        self.to_refuse = set(refuse)  # not ``refuse``: that is MiniBroker's per-partition hook
        self.blocked: dict[bytes, bytes] = {}  # key -> the refused value that unblocks it
        self.refusals = 0

    def _handle(self, conn: FakeConn, op: int, f: dict[str, Any]) -> Reply:
        if op == OpCode.PRODUCE:
            key, value = f["key"], f["value"]
            waiting_for = self.blocked.get(key)
            if waiting_for is not None and value != waiting_for:
                self.refusals += 1
                return Error("not leader: no leader elected")
            if waiting_for is None and value in self.to_refuse:
                self.to_refuse.discard(value)
                self.blocked[key] = value
                self.refusals += 1
                return Error("not leader: no leader elected")
            self.blocked.pop(key, None)
        return super()._handle(conn, op, f)


def test_not_leader_retries_keep_every_key_in_order_exactly_once() -> None:
    refuse = {b"k1:100", b"k2:250", b"k1:600", b"k3:999"}
    broker = LeaderlessPartitions(refuse)
    with FakeServer(broker) as server, FlyMQClient(server.address, keepalive_interval_ms=0) as client:
        with client.producer(max_in_flight=5, max_batch_messages=20, retry_backoff_ms=5) as producer:
            futures = [
                producer.send("orders", f"k{i % 4}:{i}".encode(), key=f"k{i % 4}") for i in range(1200)
            ]
        assert all(f.succeeded() for f in futures)
        assert broker.refusals >= len(refuse)
        assert producer.metrics()["retried"] >= len(refuse)
        stored = [value for _, value in broker.topics["orders"][0]]
        for k in range(4):
            sequence = [int(v.split(b":")[1]) for v in stored if v.startswith(f"k{k}:".encode())]
            assert sequence == list(range(k, 1200, 4))  # all of them, once, in send order


def test_dropped_connection_acknowledged_records_are_stored_exactly_once() -> None:
    broker = MiniBroker()
    with FakeServer(broker) as server:
        client = FlyMQClient(server.address, keepalive_interval_ms=0, retry_delay_ms=20)
        producer = client.producer(max_batch_messages=25, retry_backoff_ms=10, max_retries=5)
        futures = []
        for n in range(2500):
            futures.append(producer.send("t", f"v{n}".encode()))
            if n == 1200:
                time.sleep(0.02)  # some answered, some in flight, some queued...
                server.drop_connections()  # ...when the server drops the connection
        try:
            producer.close(timeout=30)
        except DeliveryError as exc:  # the failures nobody observed are reported, not lost
            assert all(f.failed() for f in exc.futures)
        client.close()
        assert len(server.connections) >= 2  # the drop happened mid-stream and the producer reconnected
        stored = [value for _, value in broker.topics["t"][0]]
        assert len(stored) == len(set(stored))  # at-most-once: nothing was re-sent blindly
        for n, fut in enumerate(futures):
            assert fut.done()
            if fut.succeeded():
                assert f"v{n}".encode() in stored  # acknowledged => stored (exactly once, see above)
            else:
                error = fut.exception()
                assert isinstance(error, ConnectionError), error
                assert "may or may not have been written" in str(error)


def test_retry_unacknowledged_stores_every_record_at_least_once() -> None:
    broker = MiniBroker()
    with FakeServer(broker) as server:
        client = FlyMQClient(server.address, keepalive_interval_ms=0, retry_delay_ms=20)
        config = ProducerConfig(
            max_batch_messages=25, retry_backoff_ms=10, max_retries=5, retry_unacknowledged=True
        )
        producer = client.producer(config=config)
        futures = []
        for n in range(2500):
            futures.append(producer.send("t", f"v{n}".encode()))
            if n == 1200:
                time.sleep(0.02)
                server.drop_connections()
        producer.close(timeout=30)  # nothing fails: lost answers were re-sent
        client.close()
        assert len(server.connections) >= 2  # the drop happened mid-stream and the producer reconnected
        assert all(f.succeeded() for f in futures)
        stored = {value for _, value in broker.topics["t"][0]}
        assert stored == {f"v{n}".encode() for n in range(2500)}  # at least once (duplicates allowed)
