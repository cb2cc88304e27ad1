"""FlyMQClient policy against scripted servers: failover, authentication, retries, cluster redirects,
timeouts, keep-alive, validation before sending.  (Normal behaviour is covered by tests/integration
against the embedded broker.)"""

from __future__ import annotations

import gc
import logging
import threading
import time
import uuid
import weakref
from collections.abc import Iterator
from typing import Any

import pytest

from pyflymq import FlyMQClient, connect
from pyflymq_core.client import calls
from pyflymq_core.client import connection as connection_module
from pyflymq_core.client.keepalive import KeepAlive
from pyflymq_core.errors import (
    AuthenticationError,
    ConnectionError,
    FeatureDisabledError,
    InvalidArgumentError,
    NotLeaderError,
    TimeoutError,
    TransactionError,
    UnsupportedOperationError,
)
from pyflymq_core.models import RecordMetadata
from pyflymq_core.protocol import OpCode
from tests.integration.fake_server import (
    CLOSE,
    NO_REPLY,
    ClusterNode,
    Error,
    FakeConn,
    FakeServer,
    MiniBroker,
    Reply,
)
from tests.unit.lifecycle_recorder import Recorder, recording

FAST: dict[str, Any] = {
    "max_retries": 0,
    "retry_delay_ms": 10,
    "connect_timeout_ms": 2000,
    "keepalive_interval_ms": 0,
}


@pytest.fixture
def server() -> Iterator[FakeServer]:
    with FakeServer() as srv:
        yield srv


def _dead_address() -> str:
    import socket

    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    listener.close()
    return f"127.0.0.1:{port}"


# --------------------------------------------------------------------------- bootstrap and failover


def test_failover_to_the_next_bootstrap_server(server: FakeServer) -> None:
    dead = _dead_address()
    with FlyMQClient(f"{dead},{server.address}", **FAST) as client:
        assert client.connected_server == server.address
        assert client.produce("t", b"v").offset == 0


def test_error_lists_every_server_tried_and_why() -> None:
    first, second = _dead_address(), _dead_address()
    with pytest.raises(ConnectionError) as info:
        FlyMQClient([first, second], **FAST)
    err = info.value
    assert [addr for addr, _ in err.servers_tried] == [first, second]
    assert all("refused" in why.lower() for _, why in err.servers_tried)
    assert first in str(err) and second in str(err)
    assert first in (err.hint or "")


def test_bootstrap_rounds_wait_retry_delay() -> None:
    started = time.monotonic()
    with pytest.raises(ConnectionError, match="3 rounds"):
        FlyMQClient(_dead_address(), **{**FAST, "max_retries": 2, "retry_delay_ms": 100})
    assert time.monotonic() - started >= 0.2


def test_connect_accepts_list_and_options(server: FakeServer) -> None:
    with connect([server.address], request_timeout_ms=1234, keepalive_interval_ms=0) as client:
        assert client.config.request_timeout_ms == 1234
        assert client.list_topics() == []


# --------------------------------------------------------------------------- authentication


def test_no_auth_is_sent_without_credentials(server: FakeServer) -> None:
    with FlyMQClient(server.address, **FAST) as client:
        client.produce("t", b"v")
        client.list_topics()
    assert OpCode.AUTH not in server.ops()


def test_credentials_authenticate_after_probe_and_never_leak() -> None:
    broker = MiniBroker(auth={"alice": "pw-secret-1"})
    logs: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: logs.append(record.getMessage())  # type: ignore[method-assign]
    logger = logging.getLogger("pyflymq")
    logger.addHandler(handler)
    old_level = logger.level
    logger.setLevel(logging.DEBUG)
    try:
        with (
            FakeServer(broker) as srv,
            FlyMQClient(srv.address, username="alice", password="pw-secret-1", **FAST) as c,
        ):
            assert srv.ops()[:2] == [OpCode.LIST_GROUPS, OpCode.AUTH]
            assert c.produce("t", b"v").offset == 0
            assert "pw-secret-1" not in repr(c) and "pw-secret-1" not in repr(c.config)
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)
    assert logs and not any("pw-secret-1" in line for line in logs)


def test_reauthenticates_after_every_reconnect() -> None:
    broker = MiniBroker(auth={"alice": "pw"})
    options = {**FAST, "max_retries": 1}
    with FakeServer(broker) as srv, FlyMQClient(srv.address, username="alice", password="pw", **options) as c:
        c.produce("t", b"1")
        srv.drop_connections()
        time.sleep(0.05)
        # list_topics is idempotent: retried transparently on the new, re-authenticated connection
        assert c.list_topics() == ["t"]
        assert c.produce("t", b"2").offset == 1  # needs authentication on the new connection
        assert srv.ops().count(OpCode.AUTH) == 2
        assert c.metrics()["reconnects"] >= 1


def test_bad_credentials_raise_authentication_error() -> None:
    broker = MiniBroker(auth={"alice": "pw"})
    with FakeServer(broker) as srv, pytest.raises(AuthenticationError, match="invalid username or password"):
        FlyMQClient(srv.address, username="alice", password="wrong", **FAST)


def test_credentials_are_not_sent_to_a_server_without_auth(caplog: pytest.LogCaptureFixture) -> None:
    broker = MiniBroker(auth=None)
    with caplog.at_level(logging.WARNING, logger="pyflymq"), FakeServer(broker) as srv:
        with FlyMQClient(srv.address, username="alice", password="pw", **FAST) as client:
            client.produce("t", b"v")
        assert OpCode.AUTH not in srv.ops()
    assert not broker.crashed
    assert "authentication disabled" in caplog.text


def test_user_management_on_a_server_without_auth_sends_nothing(server: FakeServer) -> None:
    with FlyMQClient(server.address, **FAST) as client:
        with pytest.raises(FeatureDisabledError, match="authentication"):
            client.list_users()
        with pytest.raises(FeatureDisabledError):
            client.list_roles()
        with pytest.raises(FeatureDisabledError):
            client.authenticate("admin", "pw")
    assert not {op for op in server.ops() if OpCode.AUTH <= op <= OpCode.ROLE_LIST}


def test_update_user_always_sends_roles_and_enabled() -> None:
    updates: list[dict[str, Any]] = []
    broker = MiniBroker(auth={"admin": "pw"})

    def handler(conn: FakeConn, op: int, fields: dict[str, Any]) -> Reply:
        if op == OpCode.USER_GET:
            return {
                "username": fields["username"],
                "roles": ["consumer", "producer"],
                "permissions": [],
                "enabled": True,
                "created_at": 0,
                "updated_at": 0,
            }
        if op == OpCode.USER_UPDATE:
            updates.append(fields)
            return {"success": True, "message": fields["username"]}
        return broker(conn, op, fields)

    with FakeServer(handler) as srv, FlyMQClient(srv.address, username="admin", password="pw", **FAST) as c:
        c.update_user("bob", enabled=False)
        c.update_user("bob", roles=["guest"])
        c.update_user("bob", roles=[], enabled=True)
    assert [(u["roles"], u["enabled"]) for u in updates] == [
        (["consumer", "producer"], False),
        (["guest"], True),
        ([], True),
    ]


# --------------------------------------------------------------------------- retries


def _flaky(op_to_drop: int, times: int = 1) -> tuple[MiniBroker, Any]:
    broker = MiniBroker()
    left = {"n": times}

    def handler(conn: FakeConn, op: int, fields: dict[str, Any]) -> Reply:
        if op == op_to_drop and left["n"] > 0:
            left["n"] -= 1
            return CLOSE
        return broker(conn, op, fields)

    return broker, handler


def test_idempotent_reads_are_retried_after_connection_loss() -> None:
    _, handler = _flaky(OpCode.FETCH)
    with FakeServer(handler) as srv, FlyMQClient(srv.address, **{**FAST, "max_retries": 2}) as c:
        c.produce("t", b"v")
        result = c.fetch("t", 0, 0, 10)
        assert [m.value for m in result] == [b"v"]
        assert srv.ops().count(OpCode.FETCH) == 2


def test_writes_are_never_resent_after_connection_loss() -> None:
    _, handler = _flaky(OpCode.PRODUCE)
    with FakeServer(handler) as srv, FlyMQClient(srv.address, **{**FAST, "max_retries": 3}) as c:
        with pytest.raises(ConnectionError, match="may or may not have been applied"):
            c.produce("t", b"v")
        assert srv.ops().count(OpCode.PRODUCE) == 1
        assert c.produce("t", b"w").offset == 0  # reconnects; the failed write was never stored


def test_request_that_was_never_written_is_sent_on_a_new_connection(
    server: FakeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(connection_module, "STALE_CHECK_AFTER_S", 0.0)
    with FlyMQClient(server.address, **FAST) as client:
        client.produce("t", b"1")
        server.drop_connections()  # like the server's 5-minute idle close
        time.sleep(0.05)
        assert client.produce("t", b"2").offset == 1  # a write, yet safe: it was never sent
        assert server.ops().count(OpCode.PRODUCE) == 2


def test_request_timeout_raises_and_the_next_call_reconnects() -> None:
    broker = MiniBroker()
    hang = {"n": 1}

    def handler(conn: FakeConn, op: int, fields: dict[str, Any]) -> Reply:
        if op == OpCode.LIST_TOPICS and hang["n"]:
            hang["n"] -= 1
            return NO_REPLY
        return broker(conn, op, fields)

    with FakeServer(handler) as srv, FlyMQClient(srv.address, request_timeout_ms=200, **FAST) as c:
        started = time.monotonic()
        with pytest.raises(TimeoutError):
            c.list_topics()
        assert time.monotonic() - started < 2
        assert c.list_topics() == []
        assert len(srv.connections) == 2


def test_write_timeout_says_the_write_may_have_happened() -> None:
    def handler(conn: FakeConn, op: int, fields: dict[str, Any]) -> Reply:
        return NO_REPLY

    with (
        FakeServer(handler) as srv,
        FlyMQClient(srv.address, request_timeout_ms=150, **FAST) as c,
        pytest.raises(TimeoutError, match="may or may not"),
    ):
        c.create_topic("t")


# --------------------------------------------------------------------------- cluster routing


class Follower:
    """Answers produces like a cluster follower that does not lead the partition."""

    def __init__(self, leader_addr: str, *, metadata_leader: str | None = None) -> None:
        self.leader_addr = leader_addr
        self.metadata_leader = metadata_leader

    def __call__(self, conn: FakeConn, op: int, fields: dict[str, Any]) -> Reply:
        if op == OpCode.PRODUCE:
            return Error(f"not partition leader: partition=0 leader_addr={self.leader_addr}")
        if op == OpCode.CREATE_TOPIC:
            return Error(f"not leader: leader_id=node2 leader_addr={self.leader_addr}")
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
        if op == OpCode.LIST_TOPICS:
            return {"topics": []}
        return Error(f"unknown opcode: {op}")


def test_not_partition_leader_is_followed_once() -> None:
    with (
        FakeServer() as leader,
        FakeServer(Follower(leader.address)) as follower,
        FlyMQClient(follower.address, **FAST) as client,
    ):
        meta = client.produce("orders", b'{"id": 1}', key="user-123")
        assert meta.offset == 0
        assert follower.ops().count(OpCode.PRODUCE) == 1
        assert leader.ops().count(OpCode.PRODUCE) == 1
        client.create_topic("other")  # "not leader: leader_id=... leader_addr=..." too
        assert leader.ops().count(OpCode.CREATE_TOPIC) == 1


def test_redirect_is_not_followed_twice() -> None:
    with FakeServer() as placeholder:
        address = placeholder.address
    with FakeServer(Follower("127.0.0.1:1")) as second, FakeServer(Follower(second.address)) as first:
        with FlyMQClient(first.address, **FAST) as client, pytest.raises(NotLeaderError) as info:
            client.produce("orders", b"v", key="k")
        assert info.value.leader_addr == "127.0.0.1:1"
        assert second.ops().count(OpCode.PRODUCE) == 1
    assert address


def test_keyed_produce_is_routed_to_the_leader_from_metadata() -> None:
    with FakeServer() as leader:
        leader_port = leader.address.rsplit(":", 1)[1]
        # A bare ":port" leader address (as a standalone server reports its bind_addr) gets the
        # bootstrap host substituted.
        follower_handler = Follower(leader.address, metadata_leader=f":{leader_port}")
        with FakeServer(follower_handler) as follower, FlyMQClient(follower.address, **FAST) as client:
            for i in range(3):
                assert client.produce("orders", f"v{i}".encode(), key="user-123").offset == i
            assert follower.ops().count(OpCode.PRODUCE) == 0
            assert follower.ops().count(OpCode.CLUSTER_METADATA) == 1  # cached
            assert leader.ops().count(OpCode.PRODUCE) == 3


def test_standalone_servers_are_never_routed(server: FakeServer) -> None:
    with FlyMQClient(server.address, **FAST) as client:
        client.create_topic("orders", 3)
        for i in range(5):
            client.produce("orders", b"v", key=f"k{i}")
        assert server.ops().count(OpCode.CLUSTER_METADATA) == 1
        assert len(server.connections) == 1


# --------------------------------------------------------------------------- API guards


def test_partition_argument_is_refused_not_ignored(server: FakeServer) -> None:
    with (
        FlyMQClient(server.address, **FAST) as client,
        pytest.raises(InvalidArgumentError, match="ignores the partition"),
    ):
        client.produce("t", b"v", partition=3)
    assert OpCode.PRODUCE not in server.ops()


def test_invalid_arguments_send_nothing(server: FakeServer) -> None:
    with FlyMQClient(server.address, **FAST) as client:
        before = list(server.ops())
        for bad in (
            lambda: client.fetch("t", partition=-1),
            lambda: client.subscribe("t", "g", partition=-1),
            lambda: client.get_lag("t", "g", partition=-1),
            lambda: client.reset_offset("t", "g", partition=-1),
            lambda: client.create_topic("t", partitions=-1),
            lambda: client.audit_query(limit=-1),
            lambda: client.produce("", b"v"),
        ):
            with pytest.raises(InvalidArgumentError):
                bad()
        assert server.ops() == before


def test_seek_to_timestamp_is_unsupported(server: FakeServer) -> None:
    with (
        FlyMQClient(server.address, **FAST) as client,
        pytest.raises(UnsupportedOperationError, match="timestamp"),
    ):
        client.seek_to_timestamp("t", "g", 0, 1_700_000_000_000)


def test_encryption_goes_through_the_value_seam() -> None:
    pytest.importorskip("cryptography")
    broker = MiniBroker()
    key = "ab" * 32
    with (
        FakeServer(broker) as srv,
        FlyMQClient(srv.address, encryption_enabled=True, encryption_key=key, **FAST) as client,
    ):
        client.produce("t", b"secret-1", key="k")
        client.produce_with_ttl("t", b"secret-2", ttl_ms=1000)
        with client.transaction() as txn:
            txn.produce("t", b"secret-3")
        stored = [value for _, value in broker.topics["t"][0]]
        assert len(stored) == 3 and not any(b"secret" in value for value in stored)
        assert client.consume("t", 0).value == b"secret-1"
        assert [m.value for m in client.fetch("t", 0, 0, 10)] == [b"secret-1", b"secret-2", b"secret-3"]
    assert "ab" * 32 not in repr(client.config)


def test_close_is_idempotent_and_later_calls_fail(server: FakeServer) -> None:
    client = FlyMQClient(server.address, **FAST)
    client.close()
    client.close()
    assert client.closed
    with pytest.raises(ConnectionError, match="closed"):
        client.list_topics()
    with FlyMQClient(server.address, **FAST) as other:
        other.list_topics()
    assert other.closed


def test_tls_scheme_uses_the_tls_transport(server: FakeServer) -> None:
    with pytest.raises(ConnectionError, match="TLS"):
        FlyMQClient(f"flymqs://{server.address}", **FAST)


# --------------------------------------------------------------------------- keep-alive


def test_idle_connections_get_a_keepalive(server: FakeServer) -> None:
    with FlyMQClient(server.address, **{**FAST, "keepalive_interval_ms": 100}) as client:
        client.produce("t", b"v")
        deadline = time.monotonic() + 3
        while OpCode.LIST_TOPICS not in server.ops() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert OpCode.LIST_TOPICS in server.ops()


def test_keepalive_thread_does_not_keep_the_client_alive(server: FakeServer) -> None:
    client = FlyMQClient(server.address, **{**FAST, "keepalive_interval_ms": 50})
    keepalive = client._keepalive
    assert isinstance(keepalive, KeepAlive) and keepalive.alive
    ref = weakref.ref(client)
    primary = client._primary
    del client
    gc.collect()
    assert ref() is None
    deadline = time.monotonic() + 3
    while keepalive.alive and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not keepalive.alive
    if primary is not None:
        primary.close()


# --------------------------------------------------------------------------- lifecycle hooks


def test_lifecycle_hooks_observe_requests(server: FakeServer) -> None:
    with recording() as recorder, FlyMQClient(server.address, **FAST) as client:
        client.produce("t", b"v")
        with pytest.raises(Exception):  # noqa: B017 - any mapped error
            client.consume("missing", 0)
    assert recorder.events[0] == ("connected", server.address)
    assert ("before", OpCode.PRODUCE) in recorder.events
    assert ("after", (OpCode.PRODUCE, OpCode.PRODUCE, None)) in recorder.events
    assert ("after", (OpCode.CONSUME, OpCode.ERROR, "TopicNotFoundError")) in recorder.events
    assert recorder.events[-1] == ("closed", None)


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    with recording() as plugin:
        yield plugin


def test_lifecycle_hooks_see_the_auth_probe_and_auth(recorder: Recorder) -> None:
    broker = MiniBroker(auth={"alice": "pw"})
    with FakeServer(broker) as srv, FlyMQClient(srv.address, username="alice", password="pw", **FAST) as c:
        c.produce("t", b"v")
    connected = recorder.events.index(("connected", srv.address))
    assert recorder.events[:connected] == [
        ("before", OpCode.LIST_GROUPS),  # the probe: refused, so authentication is enforced
        ("after", (OpCode.LIST_GROUPS, OpCode.ERROR, "AuthenticationError")),
        ("before", OpCode.AUTH),
        ("after", (OpCode.AUTH, OpCode.AUTH_RESPONSE, None)),
    ]
    assert ("after", (OpCode.PRODUCE, OpCode.PRODUCE, None)) in recorder.events[connected:]


def test_lifecycle_hooks_see_a_failed_auth(recorder: Recorder) -> None:
    broker = MiniBroker(auth={"alice": "pw"})
    with FakeServer(broker) as srv, pytest.raises(AuthenticationError):
        FlyMQClient(srv.address, username="alice", password="wrong", **FAST)
    assert ("after", (OpCode.AUTH, OpCode.AUTH_RESPONSE, "AuthenticationError")) in recorder.events


def test_lifecycle_hooks_see_keepalive_requests(server: FakeServer, recorder: Recorder) -> None:
    with FlyMQClient(server.address, **{**FAST, "keepalive_interval_ms": 100}) as client:
        client.produce("t", b"v")
        deadline = time.monotonic() + 3
        while ("after", (OpCode.LIST_TOPICS, OpCode.LIST_TOPICS, None)) not in recorder.events:
            assert time.monotonic() < deadline, "the keep-alive was not observed"
            time.sleep(0.02)
        assert ("before", OpCode.LIST_TOPICS) in recorder.events
        assert client.metrics()["requests"] >= 2


def test_threads_share_one_client(server: FakeServer) -> None:
    offsets: list[int] = []
    lock = threading.Lock()
    with FlyMQClient(server.address, **FAST) as client:

        def worker() -> None:
            mine = [client.produce("shared", b"v").offset for _ in range(100)]
            with lock:
                offsets.extend(mine)

        pool = [threading.Thread(target=worker) for _ in range(4)]
        for t in pool:
            t.start()
        for t in pool:
            t.join(30)
    assert sorted(offsets) == list(range(400))
    assert len(server.connections) == 1


# --------------------------------------------------------------------------- the produce fast path


def _fresh_topic() -> str:
    """A topic no test produced to yet (the validated-topic cache is process-wide)."""
    return f"fast-{uuid.uuid4().hex[:12]}"


def test_fast_path_sends_the_same_bytes_and_builds_no_call(
    server: FakeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    topic = _fresh_topic()
    with FlyMQClient(server.address, **FAST) as client:
        first = client.produce(topic, b"a")  # validates the topic: the next produce takes the fast path
        built: list[object] = []
        original = calls.produce
        monkeypatch.setattr(calls, "produce", lambda *a, **k: built.append(a) or original(*a, **k))
        second = client.produce(topic, b"bb")
        assert built == []
        assert second == RecordMetadata(
            topic=topic, partition=0, offset=1, timestamp=second.timestamp, key_size=-1, value_size=2
        )
        assert type(second) is RecordMetadata and second.model_fields_set == first.model_fields_set
        assert client.metrics()["requests"] == 2
    produced = [fields for _, op, fields in server.requests if op == OpCode.PRODUCE]
    assert produced == [
        {"topic": topic, "key": b"", "value": b"a", "partition": -1},
        {"topic": topic, "key": b"", "value": b"bb", "partition": -1},
    ]


def test_fast_path_server_errors_go_through_the_retry_policy() -> None:
    topic = _fresh_topic()
    peers = ["127.0.0.1:1", "127.0.0.1:2"]  # cluster (Raft) addresses: never dialed
    with (
        FakeServer(ClusterNode("node1", "127.0.0.1:0", peers)) as node,
        FlyMQClient(node.address, **FAST) as client,
    ):
        client.create_topic(topic, 3)
        assert client.produce(topic, b"1").partition == 0  # the node leads partition 0
        # Fast path: the round-robin picks partitions 1 and 2 ("not partition leader"), then 0 —
        # the keyless record is re-sent to the same node each time.
        assert client.produce(topic, b"2").offset == 1
        assert node.ops().count(OpCode.PRODUCE) == 4
        assert client.metrics()["errors"] == 2
        assert client.metrics()["connections"] == 1


def test_fast_path_connection_loss_is_reported_not_resent() -> None:
    topic = _fresh_topic()
    broker = MiniBroker()

    def handler(conn: FakeConn, op: int, fields: dict[str, Any]) -> Reply:
        if op == OpCode.PRODUCE and fields["value"] == b"lost":
            return CLOSE
        return broker(conn, op, fields)

    with FakeServer(handler) as srv, FlyMQClient(srv.address, **{**FAST, "max_retries": 3}) as c:
        c.produce(topic, b"kept")
        with pytest.raises(ConnectionError, match="may or may not have been applied"):
            c.produce(topic, b"lost")
        assert srv.ops().count(OpCode.PRODUCE) == 2
        assert c.produce(topic, b"next").offset == 1  # reconnects
        assert c.metrics()["errors"] == 1


def test_fast_path_refuses_oversized_values_before_sending(server: FakeServer) -> None:
    topic = _fresh_topic()
    with FlyMQClient(server.address, **FAST) as client:
        client.produce(topic, b"v")
        with pytest.raises(InvalidArgumentError, match="32 MiB"):
            client.produce(topic, b"\x00" * (32 * 1024 * 1024))
        assert server.ops().count(OpCode.PRODUCE) == 1


def test_fast_path_steps_aside_for_lifecycle_observers(server: FakeServer) -> None:
    topic = _fresh_topic()
    with FlyMQClient(server.address, **FAST) as client:
        client.produce(topic, b"1")
        with recording() as recorder:
            client.produce(topic, b"2")
            client.produce(topic, b"3")
        assert recorder.events.count(("after", (OpCode.PRODUCE, OpCode.PRODUCE, None))) == 2


def test_fast_path_is_not_taken_on_a_closed_client(server: FakeServer) -> None:
    topic = _fresh_topic()
    client = FlyMQClient(server.address, **FAST)
    client.produce(topic, b"1")
    client.close()
    with pytest.raises(ConnectionError, match="client is closed"):
        client.produce(topic, b"2")


# --------------------------------------------------------------------------- transactions


def _txn_server(*, coordinator: bool, reject_topic: str | None = None, commit_ok: bool = True) -> Any:
    broker = MiniBroker()

    def handler(conn: FakeConn, op: int, fields: dict[str, Any]) -> Reply:
        if op == OpCode.BEGIN_TX:
            txn_id = "txn-producer-1-2" if coordinator else "txn-42"
            return {"txn_id": txn_id, "success": True}
        if op == OpCode.PRODUCE_TX and fields["topic"] == reject_topic:
            return Error(f"transaction is not active: aborted ({fields['topic']})")
        if op == OpCode.PRODUCE_TX and coordinator:
            return {
                "topic": fields["topic"],
                "partition": 0,
                "offset": 0,
                "timestamp": 0,
                "key_size": -1,
                "value_size": len(fields["data"]),
            }
        if op == OpCode.COMMIT_TX:
            return {"txn_id": fields["txn_id"], "success": commit_ok}
        return broker(conn, op, fields)

    return handler


def test_transaction_sends_nothing_before_commit_and_pipelines_at_commit() -> None:
    with FakeServer(_txn_server(coordinator=False)) as srv, FlyMQClient(srv.address, **FAST) as client:
        txn = client.begin_transaction()
        txn.produce("a", b"1")
        txn.produce("b", b"2")
        assert OpCode.BEGIN_TX not in srv.ops() and len(txn) == 2
        result = txn.commit()
        assert srv.ops()[-4:] == [OpCode.BEGIN_TX, OpCode.PRODUCE_TX, OpCode.PRODUCE_TX, OpCode.COMMIT_TX]
        assert (result.txn_id, result.coordinator, [r.topic for r in result.records]) == (
            "txn-42",
            False,
            ["a", "b"],
        )


def test_partial_failure_without_coordinator_names_what_was_written() -> None:
    handler = _txn_server(coordinator=False, reject_topic="bad")
    with FakeServer(handler) as srv, FlyMQClient(srv.address, **FAST) as client:
        txn = client.begin_transaction()
        txn.produce("good", b"1")
        txn.produce("bad", b"2")
        txn.produce("good", b"3")
        with pytest.raises(TransactionError) as info:
            txn.commit()
        text = str(info.value)
        assert "Written: #0 good, #2 good" in text and "Not written: #1 bad" in text
        assert OpCode.ABORT_TX in srv.ops() and OpCode.COMMIT_TX not in srv.ops()
        assert txn.state == "failed"


def test_partial_failure_with_coordinator_writes_nothing() -> None:
    handler = _txn_server(coordinator=True, reject_topic="bad")
    with FakeServer(handler) as srv, FlyMQClient(srv.address, **FAST) as client:
        txn = client.begin_transaction()
        txn.produce("good", b"1")
        txn.produce("bad", b"2")
        with pytest.raises(TransactionError, match="none of the 2 records was written"):
            txn.commit()
        assert OpCode.ABORT_TX in srv.ops()


def test_commit_reported_as_failed_raises() -> None:
    handler = _txn_server(coordinator=True, commit_ok=False)
    with FakeServer(handler) as srv, FlyMQClient(srv.address, **FAST) as client:
        with (
            pytest.raises(TransactionError, match="some of the 1 records may have been written"),
            client.transaction() as txn,
        ):
            txn.produce("t", b"1")
        assert srv.ops()[-1] == OpCode.COMMIT_TX
