"""AsyncFlyMQClient policy against scripted servers: the same rules as the sync client (failover,
authentication on every connect, retries, timeouts, cluster redirects), plus what asyncio adds
(pipelining from many tasks, cancellation, one loop per client).  Normal behaviour is covered by
tests/integration/test_async_client.py against the embedded broker."""

from __future__ import annotations

import asyncio
import inspect
import socket
import time
from collections.abc import Coroutine, Iterator
from typing import Any, TypeVar

import pytest

import pyflymq
from pyflymq import AsyncFlyMQClient, FlyMQClient, connect_async
from pyflymq_core.client import async_connection
from pyflymq_core.errors import (
    AuthenticationError,
    ConfigurationError,
    ConnectionError,
    FeatureDisabledError,
    InvalidArgumentError,
    NotLeaderError,
    TimeoutError,
    UnsupportedOperationError,
)
from pyflymq_core.plugins import get_registry
from pyflymq_core.protocol import OpCode
from pyflymq_transports.aio import AsyncTcpTransport, AsyncTlsTransport
from pyflymq_transports.memory import AsyncMemoryTransport
from tests.integration.fake_server import CLOSE, NO_REPLY, Error, FakeConn, FakeServer, MiniBroker, Reply
from tests.support.aio import run as run_guarded
from tests.unit.lifecycle_recorder import recording

T = TypeVar("T")

FAST: dict[str, Any] = {
    "max_retries": 0,
    "retry_delay_ms": 10,
    "connect_timeout_ms": 2000,
    "keepalive_interval_ms": 0,
}


def run(coro: Coroutine[Any, Any, T], timeout: float = 20.0) -> T:
    """The shared guarded runner with this file's bound."""
    return run_guarded(coro, timeout)


@pytest.fixture
def server() -> Iterator[FakeServer]:
    with FakeServer() as srv:
        yield srv


def _dead_address() -> str:
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    listener.close()
    return f"127.0.0.1:{port}"


# --------------------------------------------------------------------------- API shape


def test_every_sync_method_has_an_async_twin() -> None:
    """Same public methods as FlyMQClient; the ones doing I/O are coroutines."""
    sync_names = {n for n, _ in inspect.getmembers(FlyMQClient) if not n.startswith("_")}
    async_names = {n for n, _ in inspect.getmembers(AsyncFlyMQClient) if not n.startswith("_")}
    assert sync_names - async_names <= {"producer", "consumer"}  # sync ones come from another module
    not_io = {"close", "closed", "config", "bootstrap_servers", "connected_server", "metrics"}
    not_io |= {"begin_transaction", "transaction", "producer", "consumer"}
    for name in sorted(sync_names - not_io):
        member = getattr(AsyncFlyMQClient, name)
        if callable(member):
            assert inspect.iscoroutinefunction(member), name
    assert inspect.iscoroutinefunction(AsyncFlyMQClient.close)


def test_facade_names_and_transport_plugins() -> None:
    assert pyflymq.AsyncFlyMQClient is AsyncFlyMQClient and pyflymq.connect_async is connect_async
    registry = get_registry()
    assert registry.async_transports.get("flymq") is AsyncTcpTransport
    assert registry.async_transports.get("flymqs") is AsyncTlsTransport
    assert registry.async_transports.get("memory") is AsyncMemoryTransport


def test_construction_does_no_io_and_first_call_connects(server: FakeServer) -> None:
    client = AsyncFlyMQClient(server.address, **FAST)
    assert client.connected_server is None and server.connections == []

    async def main() -> None:
        assert (await client.produce("t", b"v")).offset == 0
        assert client.connected_server == server.address
        await client.close()
        await client.close()  # idempotent
        with pytest.raises(ConnectionError, match="closed"):
            await client.list_topics()

    run(main())


def test_connect_async_and_async_with(server: FakeServer) -> None:
    async def main() -> None:
        client = await connect_async([server.address], **FAST)
        assert client.connected_server == server.address
        await client.close()
        async with AsyncFlyMQClient(server.address, **FAST) as other:
            assert await other.list_topics() == []
        assert other.closed

    run(main())


def test_a_client_belongs_to_one_event_loop(server: FakeServer) -> None:
    client = AsyncFlyMQClient(server.address, **FAST)
    run(client.list_topics())

    with pytest.raises(ConfigurationError, match="another event loop"):
        run(client.list_topics())


# --------------------------------------------------------------------------- bootstrap and failover


def test_failover_to_the_next_bootstrap_server(server: FakeServer) -> None:
    async def main() -> None:
        async with AsyncFlyMQClient(f"{_dead_address()},{server.address}", **FAST) as client:
            assert client.connected_server == server.address
            assert (await client.produce("t", b"v")).offset == 0

    run(main())


def test_error_lists_every_server_tried_and_why() -> None:
    first, second = _dead_address(), _dead_address()

    async def main() -> None:
        with pytest.raises(ConnectionError) as info:
            await connect_async([first, second], **FAST)
        assert [addr for addr, _ in info.value.servers_tried] == [first, second]
        assert all("refused" in why.lower() for _, why in info.value.servers_tried)

    run(main())


def test_bootstrap_rounds_wait_retry_delay() -> None:
    async def main() -> None:
        started = time.monotonic()
        with pytest.raises(ConnectionError, match="3 rounds"):
            await connect_async(_dead_address(), **{**FAST, "max_retries": 2, "retry_delay_ms": 100})
        assert time.monotonic() - started >= 0.2

    run(main())


# --------------------------------------------------------------------------- authentication


def test_authenticates_after_the_probe_and_again_after_every_reconnect() -> None:
    broker = MiniBroker(auth={"alice": "pw"})

    async def main(srv: FakeServer) -> None:
        options = {**FAST, "max_retries": 1}
        async with AsyncFlyMQClient(srv.address, username="alice", password="pw", **options) as c:
            assert srv.ops()[:2] == [OpCode.LIST_GROUPS, OpCode.AUTH]
            await c.produce("t", b"1")
            srv.drop_connections()
            await asyncio.sleep(0.05)
            assert await c.list_topics() == ["t"]
            assert (await c.produce("t", b"2")).offset == 1  # needs authentication on the new connection
            assert srv.ops().count(OpCode.AUTH) == 2
            assert c.metrics()["reconnects"] >= 1

    with FakeServer(broker) as srv:
        run(main(srv))


def test_bad_credentials_raise_authentication_error() -> None:
    broker = MiniBroker(auth={"alice": "pw"})

    async def main(srv: FakeServer) -> None:
        with pytest.raises(AuthenticationError, match="invalid username or password"):
            await connect_async(srv.address, username="alice", password="wrong", **FAST)

    with FakeServer(broker) as srv:
        run(main(srv))


def test_credentials_and_user_management_never_reach_a_server_without_auth() -> None:
    broker = MiniBroker(auth=None)

    async def main(srv: FakeServer) -> None:
        async with AsyncFlyMQClient(srv.address, username="alice", password="pw", **FAST) as c:
            await c.produce("t", b"v")
            with pytest.raises(FeatureDisabledError):
                await c.list_users()
            with pytest.raises(FeatureDisabledError):
                await c.authenticate("admin", "pw")

    with FakeServer(broker) as srv:
        run(main(srv))
        assert OpCode.AUTH not in srv.ops() and not broker.crashed
        assert not {op for op in srv.ops() if OpCode.AUTH <= op <= OpCode.ROLE_LIST}


# --------------------------------------------------------------------------- retries and timeouts


def _flaky(op_to_drop: int, times: int = 1) -> Any:
    broker = MiniBroker()
    left = {"n": times}

    def handler(conn: FakeConn, op: int, fields: dict[str, Any]) -> Reply:
        if op == op_to_drop and left["n"] > 0:
            left["n"] -= 1
            return CLOSE
        return broker(conn, op, fields)

    return handler


def test_idempotent_reads_are_retried_after_connection_loss() -> None:
    async def main(srv: FakeServer) -> None:
        async with AsyncFlyMQClient(srv.address, **{**FAST, "max_retries": 2}) as c:
            await c.produce("t", b"v")
            result = await c.fetch("t", 0, 0, 10)
            assert [m.value for m in result] == [b"v"]
            assert srv.ops().count(OpCode.FETCH) == 2

    with FakeServer(_flaky(OpCode.FETCH)) as srv:
        run(main(srv))


def test_writes_are_never_resent_after_connection_loss() -> None:
    async def main(srv: FakeServer) -> None:
        async with AsyncFlyMQClient(srv.address, **{**FAST, "max_retries": 3}) as c:
            with pytest.raises(ConnectionError, match="may or may not have been applied"):
                await c.produce("t", b"v")
            assert srv.ops().count(OpCode.PRODUCE) == 1
            assert (await c.produce("t", b"w")).offset == 0

    with FakeServer(_flaky(OpCode.PRODUCE)) as srv:
        run(main(srv))


def test_request_never_written_is_sent_on_a_new_connection(
    server: FakeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(async_connection, "STALE_CHECK_AFTER_S", 0.0)

    async def main() -> None:
        async with AsyncFlyMQClient(server.address, **FAST) as client:
            await client.produce("t", b"1")
            server.drop_connections()  # like the server's 5-minute idle close
            await asyncio.sleep(0.05)
            assert (await client.produce("t", b"2")).offset == 1  # a write, yet safe: never sent
            assert server.ops().count(OpCode.PRODUCE) == 2

    run(main())


def test_request_timeout_from_the_config_and_reconnect() -> None:
    broker = MiniBroker()
    hang = {"n": 1}

    def handler(conn: FakeConn, op: int, fields: dict[str, Any]) -> Reply:
        if op == OpCode.LIST_TOPICS and hang["n"]:
            hang["n"] -= 1
            return NO_REPLY
        return broker(conn, op, fields)

    async def main(srv: FakeServer) -> None:
        async with AsyncFlyMQClient(srv.address, request_timeout_ms=200, **FAST) as c:
            started = time.monotonic()
            with pytest.raises(TimeoutError):
                await c.list_topics()
            assert time.monotonic() - started < 2
            assert await c.list_topics() == []
            assert len(srv.connections) == 2

    with FakeServer(handler) as srv:
        run(main(srv))


def test_write_timeout_says_the_write_may_have_happened() -> None:
    def handler(conn: FakeConn, op: int, fields: dict[str, Any]) -> Reply:
        return NO_REPLY

    async def main(srv: FakeServer) -> None:
        async with AsyncFlyMQClient(srv.address, request_timeout_ms=150, **FAST) as c:
            with pytest.raises(TimeoutError, match="may or may not"):
                await c.create_topic("t")

    with FakeServer(handler) as srv:
        run(main(srv))


def test_asyncio_timeout_cancels_one_call_and_the_connection_stays_usable() -> None:
    broker = MiniBroker()
    delayed = {"n": 1}

    def handler(conn: FakeConn, op: int, fields: dict[str, Any]) -> Reply:
        if op == OpCode.LIST_TOPICS and delayed["n"]:
            delayed["n"] -= 1
            time.sleep(0.3)  # late, but answered: the reader must drop it
        return broker(conn, op, fields)

    async def main(srv: FakeServer) -> None:
        async with AsyncFlyMQClient(srv.address, **FAST) as c:
            await c.create_topic("t")
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(c.list_topics(), 0.05)
            assert (await c.produce("t", b"v")).offset == 0  # gets its own answer, not the late one
            assert await c.list_topics() == ["t"]
            assert len(srv.connections) == 1

    with FakeServer(handler) as srv:
        run(main(srv))


def test_many_tasks_pipeline_on_one_connection(server: FakeServer) -> None:
    async def main() -> None:
        async with AsyncFlyMQClient(server.address, **FAST) as client:
            results = await asyncio.gather(*(client.produce("t", f"{i}".encode()) for i in range(500)))
            assert sorted(r.offset for r in results) == list(range(500))
            assert len(server.connections) == 1

    run(main())


# --------------------------------------------------------------------------- cluster routing


class Follower:
    """Answers produces like a cluster follower that does not lead the partition."""

    def __init__(self, leader_addr: str, *, metadata_leader: str | None = None) -> None:
        self.leader_addr = leader_addr
        self.metadata_leader = metadata_leader

    def __call__(self, conn: FakeConn, op: int, fields: dict[str, Any]) -> Reply:
        if op == OpCode.PRODUCE:
            return Error(f"not partition leader: partition=0 leader_addr={self.leader_addr}")
        if op == OpCode.CLUSTER_METADATA:
            if self.metadata_leader is None:
                return Error(f"topic not found: {fields.get('topic', '')}", "coded")
            partition = {
                "partition": 0,
                "leader_id": "node2",
                "leader_addr": self.metadata_leader,
                "epoch": 1,
                "state": "online",
                "replicas": ["node2"],
                "isr": ["node2"],
            }
            return {"cluster_id": "node1", "topics": [{"topic": fields["topic"], "partitions": [partition]}]}
        return Error(f"unknown opcode: {op}")


def test_not_partition_leader_is_followed_once() -> None:
    async def main(leader: FakeServer, follower: FakeServer) -> None:
        async with AsyncFlyMQClient(follower.address, **FAST) as client:
            assert (await client.produce("orders", b"v", key="user-123")).offset == 0
        assert follower.ops().count(OpCode.PRODUCE) == 1
        assert leader.ops().count(OpCode.PRODUCE) == 1

    with FakeServer() as leader, FakeServer(Follower(leader.address)) as follower:
        run(main(leader, follower))


def test_redirect_is_not_followed_twice() -> None:
    async def main(first: FakeServer) -> None:
        async with AsyncFlyMQClient(first.address, **FAST) as client:
            with pytest.raises(NotLeaderError) as info:
                await client.produce("orders", b"v", key="k")
            assert info.value.leader_addr == "127.0.0.1:1"

    with FakeServer(Follower("127.0.0.1:1")) as second, FakeServer(Follower(second.address)) as first:
        run(main(first))


def test_keyed_produce_is_routed_to_the_leader_from_metadata() -> None:
    async def main(leader: FakeServer, follower: FakeServer) -> None:
        async with AsyncFlyMQClient(follower.address, **FAST) as client:
            for i in range(3):
                assert (await client.produce("orders", f"v{i}".encode(), key="user-123")).offset == i
        assert follower.ops().count(OpCode.PRODUCE) == 0
        assert follower.ops().count(OpCode.CLUSTER_METADATA) == 1  # cached
        assert leader.ops().count(OpCode.PRODUCE) == 3

    with FakeServer() as leader:
        port = leader.address.rsplit(":", 1)[1]
        with FakeServer(Follower(leader.address, metadata_leader=f":{port}")) as follower:
            run(main(leader, follower))


# --------------------------------------------------------------------------- guards and hooks


def test_argument_errors_send_nothing(server: FakeServer) -> None:
    async def main() -> None:
        async with AsyncFlyMQClient(server.address, **FAST) as client:
            with pytest.raises(InvalidArgumentError, match="ignores the partition"):
                await client.produce("t", b"v", partition=1)
            with pytest.raises(InvalidArgumentError):
                await client.fetch("t", -1)
            with pytest.raises(UnsupportedOperationError):
                await client.seek_to_timestamp("t", "g", 0, 0)
        assert OpCode.PRODUCE not in server.ops() and OpCode.FETCH not in server.ops()

    run(main())


def test_idle_connections_get_a_keepalive(server: FakeServer) -> None:
    async def main() -> None:
        async with AsyncFlyMQClient(server.address, **{**FAST, "keepalive_interval_ms": 100}) as client:
            await client.produce("t", b"v")
            deadline = time.monotonic() + 5
            while OpCode.LIST_TOPICS not in server.ops():
                assert time.monotonic() < deadline, "no keep-alive sent"
                await asyncio.sleep(0.02)

    run(main())


def test_transaction_sends_nothing_before_commit(server: FakeServer) -> None:
    broker = MiniBroker()
    tx_ops = {OpCode.BEGIN_TX, OpCode.PRODUCE_TX, OpCode.COMMIT_TX}
    txns: dict[str, list[tuple[str, bytes]]] = {}

    def handler(conn: FakeConn, op: int, fields: dict[str, Any]) -> Reply:
        if op == OpCode.BEGIN_TX:
            txns["txn-1"] = []
            return {"success": True, "txn_id": "txn-1"}
        if op == OpCode.PRODUCE_TX:
            txns[fields["txn_id"]].append((fields["topic"], fields["data"]))
            return {"topic": fields["topic"], "partition": 0, "offset": 0, "timestamp": 0,
                    "key_size": -1, "value_size": len(fields["data"])}  # fmt: skip
        if op == OpCode.COMMIT_TX:
            return {"success": True, "txn_id": fields["txn_id"]}
        return broker(conn, op, fields)

    async def main(srv: FakeServer) -> None:
        async with AsyncFlyMQClient(srv.address, **FAST) as client:
            async with client.transaction() as txn:
                txn.produce("a", b"1")
                txn.produce("b", b"2")
                assert not tx_ops & set(srv.ops())
            assert txn.state == "committed" and txn.result is not None
            assert len(txn.result.records) == 2
            rolled = client.begin_transaction()
            rolled.produce("a", b"never")
            rolled.rollback()
        assert srv.ops().count(OpCode.BEGIN_TX) == 1
        assert txns == {"txn-1": [("a", b"1"), ("b", b"2")]}

    with FakeServer(handler) as srv:
        run(main(srv))


# --------------------------------------------------------------------------- lifecycle hooks


def test_lifecycle_hooks_see_the_auth_probe_auth_and_keepalive() -> None:
    broker = MiniBroker(auth={"alice": "pw"})
    options = {**FAST, "keepalive_interval_ms": 100}

    async def main(srv: FakeServer) -> None:
        async with AsyncFlyMQClient(srv.address, username="alice", password="pw", **options) as c:
            await c.produce("t", b"v")
            connected = recorder.events.index(("connected", srv.address))
            assert recorder.events[:connected] == [
                ("before", OpCode.LIST_GROUPS),  # the probe: refused, so authentication is enforced
                ("after", (OpCode.LIST_GROUPS, OpCode.ERROR, "AuthenticationError")),
                ("before", OpCode.AUTH),
                ("after", (OpCode.AUTH, OpCode.AUTH_RESPONSE, None)),
            ]
            deadline = time.monotonic() + 5
            while ("after", (OpCode.LIST_TOPICS, OpCode.LIST_TOPICS, None)) not in recorder.events:
                assert time.monotonic() < deadline, "the keep-alive was not observed"
                await asyncio.sleep(0.02)

    with recording() as recorder, FakeServer(broker) as srv:
        run(main(srv))
