"""FlyMQClient end to end: pipelining, failover, re-authentication, timeouts, validation, cluster
redirects, and the rest of the simple API (groups, metadata, zero-copy, users/ACLs/audit)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from pyflymq_core.errors import (
    AuthenticationError,
    ConnectionError,
    GroupNotFoundError,
    InvalidArgumentError,
    NotLeaderError,
    TimeoutError,
)
from pyflymq_core.protocol import OpCode
from tests.integration.fake_server import Error, FakeConn, FakeServer, Reply


def _dead_address() -> str:
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    listener.close()
    return f"127.0.0.1:{port}"


# --------------------------------------------------------------------------- pipelining


def test_eight_threads_share_one_client(flymq_client: Any, unique_topic: Callable[..., str]) -> None:
    topic = unique_topic("pipeline")
    flymq_client.create_topic(topic, partitions=1)
    threads, per_thread = 8, 1000
    results: list[list[Any]] = [[] for _ in range(threads)]
    errors: list[BaseException] = []
    start = threading.Barrier(threads)

    def worker(index: int) -> None:
        try:
            start.wait()
            for i in range(per_thread):
                results[index].append(flymq_client.produce(topic, f"{index}:{i}".encode()))
        except BaseException as exc:
            errors.append(exc)

    pool = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join(120)
    assert not errors
    offsets = [meta.offset for metas in results for meta in metas]
    assert len(offsets) == threads * per_thread
    assert sorted(offsets) == list(range(threads * per_thread))  # unique and complete
    # Each thread's own records were written in its call order.
    for metas in results:
        assert [m.offset for m in metas] == sorted(m.offset for m in metas)
    # What the offsets say is what the log holds.
    stored: dict[int, bytes] = {}
    offset = 0
    while offset < threads * per_thread:
        batch = flymq_client.fetch(topic, 0, offset, 1000)
        stored.update((m.offset, m.value) for m in batch)
        offset = batch.next_offset
    for index, metas in enumerate(results):
        for i, meta in enumerate(metas):
            assert stored[meta.offset] == f"{index}:{i}".encode()
    assert flymq_client.metrics()["connections"] == 1


def test_pipelined_submit_api(flymq_client: Any, unique_topic: Callable[..., str]) -> None:
    from pyflymq_core.client import calls

    topic = unique_topic("submit")
    conn = flymq_client.connection()
    built = [calls.produce(topic, f"m{i}".encode()) for i in range(200)]
    pendings = [conn.submit(call.op, call.payload) for call in built]
    metas = [calls.complete(call, pending.wait(10)) for call, pending in zip(built, pendings, strict=True)]
    assert [m.offset for m in metas] == list(range(200))


# --------------------------------------------------------------------------- failover, reconnect, auth


def test_first_bootstrap_address_dead(
    flymq_bootstrap: str, flymq_client_kwargs: dict[str, Any], unique_topic: Callable[..., str]
) -> None:
    from pyflymq import FlyMQClient

    with FlyMQClient([_dead_address(), flymq_bootstrap], **flymq_client_kwargs) as client:
        assert client.produce(unique_topic("fo"), b"x").offset == 0


def test_transparent_reconnect_after_connection_loss(
    flymq_client: Any, unique_topic: Callable[..., str]
) -> None:
    topic = unique_topic("reconnect")
    flymq_client.produce(topic, b"before")
    flymq_client.connection().close("simulated network failure")
    assert [m.value for m in flymq_client.fetch(topic, 0, 0, 10)] == [b"before"]
    assert flymq_client.produce(topic, b"after").offset == 1
    assert flymq_client.metrics()["reconnects"] == 1


def _transport_kwargs(flymq_options: Any) -> dict[str, Any]:
    """The TLS options of the server under test, without its credentials."""
    kwargs: dict[str, Any] = flymq_options.client_kwargs()
    kwargs.pop("username", None)
    kwargs.pop("password", None)
    return kwargs


@pytest.fixture
def auth_server(flymq_options: Any) -> Iterator[tuple[str, str, str]]:
    """(address, admin user, password): the real server when credentials were given, else an
    embedded broker with authentication on."""
    if not flymq_options.embedded:
        if flymq_options.username is None:
            pytest.skip("pass --flymq-username/--flymq-password to test authentication on a real server")
        assert flymq_options.bootstrap is not None
        yield flymq_options.bootstrap, flymq_options.username, flymq_options.password
        return
    from pyflymq_broker import AuthSettings, BrokerConfig
    from pyflymq_broker.server import BrokerServer

    config = BrokerConfig(
        auth=AuthSettings(enabled=True, admin_username="admin", admin_password="admin-pass-1")
    )
    server = BrokerServer(config=config).start()
    try:
        yield server.address, "admin", "admin-pass-1"
    finally:
        server.stop()


def test_reauthentication_after_reconnect(
    auth_server: tuple[str, str, str], flymq_options: Any, unique_topic: Callable[..., str]
) -> None:
    from pyflymq import FlyMQClient

    address, user, password = auth_server
    kwargs = {**_transport_kwargs(flymq_options), "username": user, "password": password}
    with FlyMQClient(address, **kwargs) as client:
        assert client.whoami().username == user
        topic = unique_topic("auth")
        client.create_topic(topic)  # needs an authenticated admin
        client.connection().close("simulated network failure")
        assert client.whoami().username == user  # the new connection authenticated again
        client.delete_topic(topic)
        assert client.metrics()["reconnects"] == 1


def test_anonymous_client_is_refused_and_bad_password_raises(
    auth_server: tuple[str, str, str], flymq_options: Any
) -> None:
    from pyflymq import FlyMQClient

    address, user, _password = auth_server
    transport = _transport_kwargs(flymq_options)
    with FlyMQClient(address, **transport) as anonymous:
        assert not anonymous.whoami().authenticated
        with pytest.raises(AuthenticationError, match="authentication required"):
            anonymous.list_groups()
    with pytest.raises(AuthenticationError, match="invalid username or password"):
        FlyMQClient(address, username=user, password="definitely-wrong", max_retries=0, **transport)


def test_user_and_acl_management(
    auth_server: tuple[str, str, str], flymq_options: Any, unique_topic: Callable[..., str]
) -> None:
    from pyflymq import FlyMQClient

    address, user, password = auth_server
    transport = _transport_kwargs(flymq_options)
    with FlyMQClient(address, username=user, password=password, **transport) as admin:
        name = unique_topic("user")
        created = admin.create_user(name, "pw-1", ["consumer"])
        assert created.username == name and created.roles == ["consumer"] and created.enabled
        admin.update_user(name, enabled=False)
        fetched = admin.get_user(name)
        assert fetched.roles == ["consumer"] and not fetched.enabled  # roles kept
        admin.update_user(name, roles=["producer"], enabled=True)
        assert admin.get_user(name).roles == ["producer"]
        assert name in [u.username for u in admin.list_users()]
        assert {"admin", "producer", "consumer", "guest"} <= {r.name for r in admin.list_roles()}
        admin.change_password(name, "pw-2")
        with FlyMQClient(address, username=name, password="pw-2", **transport) as bob:
            assert bob.whoami().username == name
        topic = unique_topic("acl")
        admin.set_acl(topic, allowed_users=[name])
        acl = admin.get_acl(topic)
        assert acl.exists and acl.allowed_users == [name]
        assert topic in [a.topic for a in admin.list_acls()]
        admin.delete_acl(topic)
        assert not admin.get_acl(topic).exists
        admin.delete_user(name)
        events = admin.audit_query(limit=50)
        assert events.total_count >= 1 and any(e.type.startswith("auth.") for e in events)
        export = admin.audit_export("csv")
        assert export.data.startswith(b"ID,Timestamp")


# --------------------------------------------------------------------------- timeouts


def test_request_timeout_against_a_silent_server() -> None:
    from pyflymq import FlyMQClient

    listener = socket.create_server(("127.0.0.1", 0))  # accepts (kernel backlog) but never answers
    address = f"127.0.0.1:{listener.getsockname()[1]}"
    try:
        with FlyMQClient(address, request_timeout_ms=300, max_retries=0) as client:
            started = time.monotonic()
            with pytest.raises(TimeoutError):
                client.list_topics()
            assert 0.25 < time.monotonic() - started < 3
    finally:
        listener.close()


def test_connect_timeout_is_honoured() -> None:
    from pyflymq import FlyMQClient

    # A listener whose accept queue is full: the kernel drops further SYNs, so connect() hangs.
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    fillers: list[socket.socket] = []
    try:
        while True:
            filler = socket.socket()
            filler.settimeout(0.2)
            try:
                filler.connect(listener.getsockname())
            except OSError:
                filler.close()
                break
            fillers.append(filler)
            if len(fillers) > 64:
                pytest.skip("this platform does not drop connections beyond the listen backlog")
        address = f"127.0.0.1:{listener.getsockname()[1]}"
        started = time.monotonic()
        with pytest.raises(ConnectionError, match="timed out"):
            FlyMQClient(address, connect_timeout_ms=300, max_retries=0)
        assert 0.25 < time.monotonic() - started < 3
    finally:
        for filler in fillers:
            filler.close()
        listener.close()


# --------------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    "call",
    [
        lambda c, t: c.fetch(t, partition=-1),
        lambda c, t: c.fetch_binary(t, partition=-1),
        lambda c, t: c.subscribe(t, "g", partition=-1, mode="earliest"),
        lambda c, t: c.get_lag(t, "g", partition=-1),
        lambda c, t: c.reset_offset(t, "g", partition=-1, mode="latest"),
        lambda c, t: c.create_topic(t, partitions=-1),
        lambda c, t: c.audit_query(limit=-1),
        lambda c, t: c.audit_query(offset=-1),
        lambda c, t: c.commit_offset(t, "a/b", 0, 1),
        lambda c, t: c.produce("a/b", b"x"),
        lambda c, t: c.delete_schema("s", 0),
        lambda c, t: c.produce(t, b"x", partition=1),
    ],
    ids=[
        "fetch-neg-partition",
        "fetch-binary-neg-partition",
        "subscribe-neg-partition",
        "lag-neg-partition",
        "reset-neg-partition",
        "create-neg-partitions",
        "audit-neg-limit",
        "audit-neg-offset",
        "slash-group",
        "slash-topic",
        "schema-version-0",
        "explicit-partition",
    ],
)
def test_crash_inputs_are_refused_and_nothing_is_sent(
    flymq_client: Any, unique_topic: Callable[..., str], call: Callable[[Any, str], Any]
) -> None:
    topic = unique_topic("v")
    flymq_client.produce(topic, b"seed")
    before = flymq_client.metrics()["requests"]
    with pytest.raises(InvalidArgumentError):
        call(flymq_client, topic)
    assert flymq_client.metrics()["requests"] == before
    assert flymq_client.consume(topic, 0).value == b"seed"  # the server is still alive


# --------------------------------------------------------------------------- cluster


def test_follower_redirects_to_the_real_leader(
    flymq_bootstrap: str, flymq_client_kwargs: dict[str, Any], unique_topic: Callable[..., str]
) -> None:
    """A fake follower (built from pyflymq_core.protocol) answers like a cluster node that does not
    lead the partition; the client re-reads the topic's metadata, then follows ``leader_addr`` to
    the server under test (a keyed record; see ``RetryPolicy`` in pyflymq_core/client/base.py)."""
    from pyflymq import FlyMQClient

    def follower(conn: FakeConn, op: int, fields: dict[str, Any]) -> Reply:
        # With --flymq-username the client probes whether authentication is on (an unauthenticated
        # LIST_GROUPS), then authenticates with every node it connects to: the follower included.
        if op == OpCode.LIST_GROUPS:
            return Error("authentication required")
        if op == OpCode.AUTH:
            return {"success": True, "username": fields["username"], "roles": ["admin"], "error": ""}
        if op == 0x01:
            return Error(f"not partition leader: partition=0 leader_addr={flymq_bootstrap}")
        if op == 0x53:
            return Error(f"topic not found: {fields.get('topic', '')}", "coded")
        return Error(f"not leader: leader_id=node2 leader_addr={flymq_bootstrap}")

    if flymq_client_kwargs.get("tls_enabled"):
        pytest.skip("the fake follower speaks plain TCP")
    topic = unique_topic("routed")
    with FakeServer(follower) as node1, FlyMQClient(node1.address, **flymq_client_kwargs) as client:
        meta = client.produce(topic, b'{"id": 1}', key="user-123")
        client.create_topic(unique_topic("created-on-leader"))
        assert meta.topic == topic and meta.offset == 0
        assert client.connected_server == node1.address
        assert client.metrics()["connections"] == 2  # bootstrap + pooled leader connection
        handshake = (OpCode.LIST_GROUPS, OpCode.AUTH)
        # metadata, the refused produce, metadata re-read before following, the redirected create
        assert [op for op in node1.ops() if op not in handshake] == [0x53, 0x01, 0x53, 0x03]


def test_redirect_loop_stops_after_one_hop(unique_topic: Callable[..., str]) -> None:
    from pyflymq import FlyMQClient

    holder: dict[str, str] = {}

    def node(conn: FakeConn, op: int, fields: dict[str, Any]) -> Reply:
        if op == OpCode.CLUSTER_METADATA:
            return Error(f"topic not found: {fields.get('topic', '')}", "coded")
        return Error(f"not partition leader: partition=0 leader_addr={holder['other']}")

    with FakeServer(node) as a, FakeServer(node) as b:
        holder["other"] = b.address
        with FlyMQClient(a.address, max_retries=0) as client, pytest.raises(NotLeaderError):
            client.produce(unique_topic("loop"), b"x", key="k")  # a keyed record follows leader_addr
        assert a.ops().count(OpCode.PRODUCE) == 1 and b.ops().count(OpCode.PRODUCE) == 1


# --------------------------------------------------------------------------- the rest of the API


def test_consumer_group_offsets(flymq_client: Any, unique_topic: Callable[..., str]) -> None:
    topic, group = unique_topic("groups"), unique_topic("g")
    for i in range(5):
        flymq_client.produce(topic, f"m{i}".encode())
    assert flymq_client.subscribe(topic, group, 0, "earliest") == 0
    assert flymq_client.subscribe(topic, group, 0, "commit") == 0
    batch = flymq_client.fetch(topic, 0, 0, 3)
    flymq_client.commit_offset(topic, group, 0, batch.next_offset)
    assert flymq_client.get_committed_offset(topic, group, 0) == 3
    assert flymq_client.subscribe(topic, group, 0, "commit") == 3
    lag = flymq_client.get_lag(topic, group, 0)
    assert (lag.committed_offset, lag.latest_offset, lag.lag) == (3, 5, 2)
    flymq_client.reset_offset(topic, group, 0, "offset", offset=1)
    assert flymq_client.get_committed_offset(topic, group, 0) == 1
    flymq_client.reset_offset(topic, group, 0, "latest")
    assert flymq_client.get_committed_offset(topic, group, 0) == 5
    try:
        info = flymq_client.describe_group(topic, group)
        assert info.group_id == group and {(o.partition, o.offset) for o in info.offsets} == {(0, 5)}
        assert any(g.group_id == group for g in flymq_client.list_groups())
        flymq_client.delete_group(topic, group)
        with pytest.raises(GroupNotFoundError):
            flymq_client.describe_group(topic, group)
    except AuthenticationError:
        pytest.skip("group administration needs an admin user on this server")


def test_metadata_and_topic_admin(flymq_client: Any, unique_topic: Callable[..., str]) -> None:
    topic = unique_topic("meta")
    flymq_client.create_topic(topic, partitions=3)
    meta = flymq_client.get_topic_metadata(topic)
    assert meta.partition_count == 3
    assert [p.partition for p in meta.partitions] == [0, 1, 2]
    assert all(p.state == "online" for p in meta.partitions)
    assert topic in flymq_client.list_topics()
    flymq_client.delete_topic(topic)
    assert topic not in flymq_client.list_topics()


def test_fetch_filters_and_fetch_binary(flymq_client: Any, unique_topic: Callable[..., str]) -> None:
    topic = unique_topic("filters")
    flymq_client.produce(topic, b'{"user": {"id": 1}}', key="a")
    flymq_client.produce(topic, b"plain text ERROR here", key="b")
    flymq_client.produce(topic, b'{"other": true}', key="c")
    assert [m.offset for m in flymq_client.fetch(topic, 0, 0, 10, filter="$.user.id")] == [0]
    assert [m.offset for m in flymq_client.fetch(topic, 0, 0, 10, filter="error")] == [1]
    binary = flymq_client.fetch_binary(topic, 0, 0, 10)
    assert [m.key for m in binary] == [b"a", b"b", b"c"] and binary.next_offset == 3


def test_large_values_and_zero_copy(flymq_client: Any, unique_topic: Callable[..., str]) -> None:
    topic = unique_topic("large")
    big = bytes(range(256)) * 400  # 102,400 bytes: above the server's 64 KiB zero-copy threshold
    flymq_client.produce(topic, big, key="k")
    flymq_client.produce(topic, b"small", key="k")
    assert flymq_client.consume(topic, 0).value == big
    assert flymq_client.consume_zero_copy(topic, 0).value == big
    assert flymq_client.consume_zero_copy(topic, 1).value == b"small"


def test_gzip_compressed_produce(
    flymq_bootstrap: str, flymq_client_kwargs: dict[str, Any], unique_topic: Callable[..., str]
) -> None:
    from pyflymq import FlyMQClient

    topic = unique_topic("gzip")
    with FlyMQClient(flymq_bootstrap, compression="gzip", **flymq_client_kwargs) as client:
        meta = client.produce(topic, b"z" * 10_000, key="k")
        assert meta.value_size == 10_000
        assert client.consume(topic, meta.offset).value == b"z" * 10_000


def test_memory_transport_by_url(flymq_memory_url: str) -> None:
    from pyflymq import FlyMQClient

    with FlyMQClient(flymq_memory_url) as client:
        assert client.produce("in-process", b"x").offset == 0
        assert client.consume("in-process", 0).value == b"x"
