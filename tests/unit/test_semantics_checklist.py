"""SEMANTICS_NOTES, note by note: the client behaviours that close the gaps found by the checklist.

Each test is named ``test_noteNN_...`` after the numbered item of
``/work/shared/protocol/SEMANTICS_NOTES.md`` it proves.  Most notes are already covered by the test
files of the modules concerned (the checklist in the helper report maps every note to its test);
this file holds what the checklist added: the crash guards exercised through *both* clients and the
high-level entry points, the AUDIT_EXPORT format, deterministic order of map-backed lists, the ACL_GET
``default_public`` byte, asyncio schema validation, and the storage ``EOF`` on produce.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from pyflymq import AsyncFlyMQClient, FlyMQClient
from pyflymq.cli import EXIT_USAGE, main
from pyflymq_core.client import calls
from pyflymq_core.client.calls import complete
from pyflymq_core.errors import (
    ConfigurationError,
    ConnectionError,
    FeatureDisabledError,
    InvalidArgumentError,
    PartitionFullError,
    SchemaValidationError,
)
from pyflymq_core.models import SchemaInfo
from pyflymq_core.protocol import Frame, OpCode, decode_request, encode_response
from tests.integration.fake_server import Error, FakeConn, FakeServer, MiniBroker, Reply
from tests.support.aio import run

FAST: dict[str, Any] = {
    "max_retries": 0,
    "retry_delay_ms": 10,
    "connect_timeout_ms": 2000,
    "keepalive_interval_ms": 0,
}

_AUTH_AND_STORE_OPS = frozenset(range(OpCode.AUTH, OpCode.ROLE_LIST + 1))


@pytest.fixture
def server() -> Iterator[FakeServer]:
    with FakeServer() as srv:
        yield srv


def _on_both_clients(address: str, use: Callable[[Any], Any]) -> tuple[BaseException, BaseException]:
    """Run ``use(client)`` on a sync and on an asyncio client; return the exception each raised."""
    with FlyMQClient(address, **FAST) as client, pytest.raises(Exception) as sync_info:
        use(client)

    async def go() -> BaseException:
        async with AsyncFlyMQClient(address, **FAST) as aclient:
            try:
                outcome = use(aclient)
                if asyncio.iscoroutine(outcome):
                    await outcome
            except Exception as exc:
                return exc
        raise AssertionError("the asyncio client accepted what the sync client refused")

    return sync_info.value, run(go())


# --------------------------------------------------------------------------- note 1: crash inputs

#: Requests the real server dies on (or misreads) — every public method that can carry them.
CRASH_CALLS: dict[str, Callable[[Any], Any]] = {
    "fetch partition -1": lambda c: c.fetch("t", partition=-1),
    "fetch_binary partition -1": lambda c: c.fetch_binary("t", partition=-1),
    "consume partition -1": lambda c: c.consume("t", 0, -1),
    "consume_zero_copy partition -1": lambda c: c.consume_zero_copy("t", 0, -1),
    "subscribe partition -1": lambda c: c.subscribe("t", "g", -1, "earliest"),
    "get_lag partition -1": lambda c: c.get_lag("t", "g", -1),
    "reset_offset earliest -1": lambda c: c.reset_offset("t", "g", -1, "earliest"),
    "reset_offset latest -1": lambda c: c.reset_offset("t", "g", -1, "latest"),
    "commit_offset partition -1": lambda c: c.commit_offset("t", "g", -1, 0),
    "get_committed_offset partition -1": lambda c: c.get_committed_offset("t", "g", -1),
    "create_topic partitions -1": lambda c: c.create_topic("t", -1),
    "create_topic partitions 0": lambda c: c.create_topic("t", 0),
    "audit_query limit -1": lambda c: c.audit_query(limit=-1),
    "audit_query offset -1": lambda c: c.audit_query(offset=-1),
    "fetch max_messages 0": lambda c: c.fetch("t", 0, 0, 0),
    "fetch_dlq max_messages 0": lambda c: c.fetch_dlq("t", 0),
    "commit to a topic with '/'": lambda c: c.commit_offset("a/b", "g", 0, 1),
    "commit for a group with '/'": lambda c: c.commit_offset("t", "g/h", 0, 1),
    "produce to ''": lambda c: c.produce("", b"v"),
    "produce_delayed -1 ms": lambda c: c.produce_delayed("t", b"v", -1),
    "produce_with_ttl -1 ms": lambda c: c.produce_with_ttl("t", b"v", -1),
    "delete_schema version 0": lambda c: c.delete_schema("s", 0),
    "subscribe mode ''": lambda c: c.subscribe("t", "g", 0, ""),
}


@pytest.mark.parametrize("use", list(CRASH_CALLS.values()), ids=list(CRASH_CALLS))
def test_note01_crash_arguments_are_refused_by_both_clients_before_sending(
    server: FakeServer, use: Callable[[Any], Any]
) -> None:
    before = list(server.ops())
    sync_error, async_error = _on_both_clients(server.address, use)
    for error in (sync_error, async_error):
        assert isinstance(error, InvalidArgumentError), repr(error)
        assert error.hint
    assert type(sync_error) is type(async_error) and str(sync_error) == str(async_error)
    assert server.ops() == before


#: Every call that sends AUTH or reads/writes the user/ACL/role store.
AUTH_STORE_CALLS: dict[str, Callable[[Any], Any]] = {
    "authenticate": lambda c: c.authenticate("admin", "pw"),
    "create_user": lambda c: c.create_user("bob", "pw", ["admin"]),
    "get_user": lambda c: c.get_user("bob"),
    "list_users": lambda c: c.list_users(),
    "update_user": lambda c: c.update_user("bob", roles=["admin"], enabled=True),
    "update_user (reads back first)": lambda c: c.update_user("bob", enabled=True),
    "delete_user": lambda c: c.delete_user("bob"),
    "change_password": lambda c: c.change_password("bob", "new", "old"),
    "set_acl": lambda c: c.set_acl("t", public=True),
    "get_acl": lambda c: c.get_acl("t"),
    "delete_acl": lambda c: c.delete_acl("t"),
    "list_acls": lambda c: c.list_acls(),
    "list_roles": lambda c: c.list_roles(),
}


@pytest.mark.parametrize("use", list(AUTH_STORE_CALLS.values()), ids=list(AUTH_STORE_CALLS))
def test_note01_auth_and_user_acl_role_ops_never_reach_a_server_without_auth(
    use: Callable[[Any], Any],
) -> None:
    broker = MiniBroker(auth=None)
    with FakeServer(broker) as srv:
        sync_error, async_error = _on_both_clients(srv.address, use)
        for error in (sync_error, async_error):
            assert isinstance(error, FeatureDisabledError), repr(error)
            assert "authentication" in str(error) and error.hint
        assert not _AUTH_AND_STORE_OPS & set(srv.ops())
        assert OpCode.LIST_GROUPS in srv.ops()  # the probe (note 1's detection rule)
        assert not broker.crashed


def test_note01_high_level_entry_points_validate_before_queueing(server: FakeServer) -> None:
    with FlyMQClient(server.address, **FAST) as client:
        with client.producer() as producer, pytest.raises(InvalidArgumentError, match="'/'"):
            producer.send("a/b", b"v")
        with pytest.raises(ConfigurationError, match="partitions"):
            client.consumer("t", "g", partitions=[-1])

    async def go() -> None:
        async with AsyncFlyMQClient(server.address, **FAST) as aclient:
            async with aclient.producer() as producer:
                with pytest.raises(InvalidArgumentError, match="'/'"):
                    await producer.send("a/b", b"v")
            with pytest.raises(ConfigurationError, match="partitions"):
                aclient.consumer("t", "g", partitions=[-1])

    run(go())
    assert OpCode.PRODUCE not in server.ops() and OpCode.FETCH not in server.ops()


def test_note02_the_producers_refuse_a_partition_they_cannot_honour(server: FakeServer) -> None:
    with FlyMQClient(server.address, **FAST) as client, client.producer() as producer:
        with pytest.raises(InvalidArgumentError, match=r"send\(partition=...\) cannot be honoured") as sync:
            producer.send("t", b"v", partition=3)
        assert sync.value.hint is not None and "key" in sync.value.hint

    async def go() -> None:
        async with AsyncFlyMQClient(server.address, **FAST) as aclient, aclient.producer() as producer:
            with pytest.raises(InvalidArgumentError, match="cannot be honoured"):
                await producer.send("t", b"v", partition=0)

    run(go())
    assert OpCode.PRODUCE not in server.ops()


@pytest.mark.parametrize(
    "argv",
    [
        ["consume", "t", "--partition", "-1"],
        ["groups", "lag", "g", "--topic", "t", "--partition", "-1"],
        ["groups", "reset", "g", "--topic", "t", "--partition", "-1", "--to-earliest"],
        ["topics", "create", "t", "--partitions", "0"],
        ["schemas", "delete", "s", "--version", "0"],
    ],
)
def test_note01_cli_refuses_crash_arguments_before_connecting(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    # --bootstrap points nowhere: a usage error must come before any connection attempt.
    assert main(["--bootstrap", "127.0.0.1:1", *argv]) == EXIT_USAGE
    assert "must be >=" in capsys.readouterr().err


# --------------------------------------------------------------------------- note 36: random order


def _complete(call: calls.Call[Any], fields: dict[str, Any]) -> Any:
    return complete(call, Frame(*encode_response(call.op, fields)))


def _partition(p: int) -> dict[str, Any]:
    return {
        "partition": p,
        "leader_id": "n",
        "leader_addr": ":9092",
        "epoch": 1,
        "state": "online",
        "replicas": [],
        "isr": [],
    }


def test_note36_lists_built_from_go_maps_come_back_sorted() -> None:
    groups = _complete(
        calls.list_groups(),
        {
            "groups": [
                {"topic": "b", "group_id": "g", "members": 0, "offsets": [{"partition": 2, "offset": 5}]},
                {
                    "topic": "a",
                    "group_id": "z",
                    "members": 1,
                    "offsets": [{"partition": 1, "offset": 1}, {"partition": 0, "offset": 3}],
                },
                {"topic": "a", "group_id": "h", "members": 0, "offsets": []},
            ]
        },
    )
    assert [(g.topic, g.group_id) for g in groups] == [("a", "h"), ("a", "z"), ("b", "g")]
    assert [o.partition for o in groups[1].offsets] == [0, 1]

    described = _complete(
        calls.describe_group("t", "g"),
        {
            "topic": "t",
            "group_id": "g",
            "members": 1,
            "offsets": [{"partition": 3, "offset": 1}, {"partition": 0, "offset": 9}],
        },
    )
    assert [o.partition for o in described.offsets] == [0, 3]

    schemas = _complete(
        calls.list_schemas(),
        {
            "schemas": [
                {"name": "b-v1", "type": "json", "version": 1},
                {"name": "a-v10", "type": "json", "version": 10},
                {"name": "a-v2", "type": "json", "version": 2},
            ]
        },
    )
    assert [s.id for s in schemas] == ["a-v2", "a-v10", "b-v1"]

    user = {"roles": ["r"], "enabled": True, "created_at": 0, "updated_at": 0}
    users = _complete(
        calls.list_users(),
        {
            "users": [
                {**user, "username": "zoe", "permissions": ["write", "read"]},
                {**user, "username": "amy", "permissions": []},
            ]
        },
    )
    assert [u.username for u in users] == ["amy", "zoe"]
    assert users[1].permissions == ["read", "write"]
    one = _complete(calls.get_user("zoe"), {**user, "username": "zoe", "permissions": ["b", "a"]})
    assert one.permissions == ["a", "b"]

    roles = _complete(
        calls.list_roles(),
        {
            "roles": [
                {"name": "producer", "permissions": ["write"], "description": ""},
                {"name": "admin", "permissions": ["admin"], "description": ""},
            ]
        },
    )
    assert [r.name for r in roles] == ["admin", "producer"]

    acl = {"exists": True, "public": False, "allowed_users": [], "allowed_roles": []}
    acls = _complete(
        calls.list_acls(), {"acls": [{**acl, "topic": "y"}, {**acl, "topic": "x"}], "default_public": True}
    )
    assert [a.topic for a in acls.acls] == ["x", "y"] and acls.default_public is True

    metadata = _complete(
        calls.cluster_metadata(),
        {
            "cluster_id": "standalone",
            "topics": [
                {"topic": "orders", "partitions": [_partition(1), _partition(0)]},
                {"topic": "events", "partitions": [_partition(0)]},
            ],
        },
    )
    assert [t.topic for t in metadata.topics] == ["events", "orders"]
    assert [p.partition for p in metadata.topics[1].partitions] == [0, 1]


# --------------------------------------------------------------------------- note 38: ACL_GET


def test_note38_acl_get_keeps_default_public_only_when_no_acl_exists() -> None:
    base = {"topic": "t", "public": True, "allowed_users": ["bob"], "allowed_roles": []}
    existing = _complete(calls.get_acl("t"), {**base, "exists": True, "default_public": False})
    assert existing.exists and existing.default_public is None  # the byte is always 0 here
    missing = _complete(calls.get_acl("t"), {**base, "exists": False, "default_public": True})
    assert not missing.exists and missing.default_public is True


# --------------------------------------------------------------------------- note 39: audit export


def test_note39_audit_export_accepts_only_the_formats_the_server_implements(server: FakeServer) -> None:
    query = calls.audit_fields()
    assert decode_request(OpCode.AUDIT_EXPORT, calls.audit_export(query, "CSV").payload)["format"] == "csv"
    assert decode_request(OpCode.AUDIT_EXPORT, calls.audit_export(query).payload)["format"] == "json"
    with pytest.raises(InvalidArgumentError, match="xml") as info:
        calls.audit_export(query, "xml")
    assert info.value.hint is not None and "'csv'" in info.value.hint

    before = list(server.ops())
    sync_error, async_error = _on_both_clients(server.address, lambda c: c.audit_export("xml"))
    assert isinstance(sync_error, InvalidArgumentError) and isinstance(async_error, InvalidArgumentError)
    assert server.ops() == before


# --------------------------------------------------------------------------- note 28: schemas


_SCHEMA = SchemaInfo(
    id="user-v1",
    name="user",
    version=1,
    type="json",
    definition='{"type": "object", "required": ["name"]}',
    compatibility="backward",
)


def test_note28_the_asyncio_client_validates_produce_with_schema_locally(server: FakeServer) -> None:
    async def go() -> None:
        async with AsyncFlyMQClient(server.address, **FAST) as client:
            client._schemas.remember(_SCHEMA)  # as if fetched
            with pytest.raises(SchemaValidationError, match="name"):
                # refused by the cached copy; the second opinion (GET_SCHEMA) fails on this fake
                # server, so the refusal stands
                await client.produce_with_schema("users", b'{"age": 1}', "user")
            lookups = server.ops().count(OpCode.GET_SCHEMA)
            with pytest.raises(InvalidArgumentError):
                await client.produce_with_schema("a/b", b'{"name": "x"}', "other")
            assert server.ops().count(OpCode.GET_SCHEMA) == lookups  # refused before any lookup

    run(go())
    assert OpCode.PRODUCE_WITH_SCHEMA not in server.ops()


def test_note28_invalid_arguments_are_refused_before_the_schema_lookup(server: FakeServer) -> None:
    with FlyMQClient(server.address, **FAST) as client, pytest.raises(InvalidArgumentError):
        client.produce_with_schema("a/b", b"{}", "user")
    assert OpCode.GET_SCHEMA not in server.ops()


# --------------------------------------------------------------------------- note 41: full partition


class FullPartition(MiniBroker):
    """A partition that answers ``EOF`` to every produce after ``limit`` records (note 41)."""

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit = limit

    def _handle(self, conn: FakeConn, op: int, f: dict[str, Any]) -> Reply:
        if op == OpCode.PRODUCE and sum(len(p) for p in self.topics.get(f["topic"], [])) >= self.limit:
            return Error("EOF")
        return super()._handle(conn, op, f)


def test_note41_eof_on_produce_is_a_partition_full_error_not_a_connection_problem() -> None:
    with FakeServer(FullPartition(limit=1)) as srv:
        with FlyMQClient(srv.address, **FAST) as client:
            client.produce("t", b"first")  # validates the topic: the next ones take the fast path
            for attempt in (
                lambda: client.produce("t", b"fast path"),
                lambda: client.produce("t", "general path"),
                lambda: client.produce("t", b"keyed", key="k"),
            ):
                with pytest.raises(PartitionFullError) as info:
                    attempt()
                error = info.value
                assert not isinstance(error, ConnectionError) and not error.retriable
                assert error.topic == "t" and error.server_message == "EOF"
                assert error.hint is not None and "partitions" in error.hint
            assert client.list_topics() == ["t"]  # the connection is fine
        assert len(srv.connections) == 1

        async def go() -> None:
            async with AsyncFlyMQClient(srv.address, **FAST) as aclient:
                with pytest.raises(PartitionFullError, match="partition is full"):
                    await aclient.produce("t", b"v")

        run(go())
