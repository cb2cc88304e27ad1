"""Authentication, authorization and the audit trail."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import pytest

from pyflymq_broker import AuthSettings, Broker, BrokerConfig
from pyflymq_broker.direct import DirectClient
from pyflymq_core.protocol import OpCode

ADMIN = ("admin", "secret")


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.25

    def __call__(self) -> float:
        return self.now


def auth_broker(clock: Clock | None = None, **auth: Any) -> Broker:
    settings = AuthSettings(enabled=True, admin_username=ADMIN[0], admin_password=ADMIN[1], **auth)
    return Broker(BrokerConfig(auth=settings), clock=clock)


def login(broker: Broker, user: str, password: str, addr: str | None = None) -> DirectClient:
    client = DirectClient(broker, addr)
    reply = client.call(OpCode.AUTH, username=user, password=password)
    assert reply["success"], reply
    return client


def create_user(admin: DirectClient, name: str, roles: list[str]) -> None:
    reply = admin.call(OpCode.USER_CREATE, username=name, password=name + "-pw", old_password="", roles=roles)
    assert reply["username"] == name, reply


def produce(client: DirectClient, topic: str) -> dict[str, Any]:
    return client.call(OpCode.PRODUCE, topic=topic, key=b"", value=b"v", partition=-1)


def test_anonymous_access_follows_allow_anonymous() -> None:
    closed = DirectClient(auth_broker())
    assert produce(closed, "pub")["message"] == "authentication required"
    opened = DirectClient(auth_broker(allow_anonymous=True))
    assert produce(opened, "pub")["offset"] == 0  # anonymous users may write public topics
    assert opened.call(OpCode.CREATE_TOPIC, topic="x", partitions=1)["message"] == "authentication required"


def test_acl_public_needs_allow_anonymous_and_private_topics_need_grants() -> None:
    broker = auth_broker(allow_anonymous=True, default_public=False)
    admin = login(broker, *ADMIN)
    create_user(admin, "eve", ["guest"])
    create_user(admin, "pat", ["producer"])
    assert admin.call(OpCode.ACL_SET, topic="open", public=True, allowed_users=[], allowed_roles=[])[
        "success"
    ]
    admin.call(OpCode.ACL_SET, topic="team", public=False, allowed_users=[], allowed_roles=["guest"])
    eve = login(broker, "eve", "eve-pw")
    pat = login(broker, "pat", "pat-pw")
    anonymous = DirectClient(broker)
    assert produce(anonymous, "open")["offset"] == 0
    assert produce(anonymous, "closed-by-default")["message"] == "authentication required"
    assert produce(eve, "closed-by-default")["message"] == "unauthorized"
    assert produce(eve, "team")["offset"] == 0  # role granted by the ACL (read and write)
    assert produce(pat, "closed-by-default")["offset"] == 0  # role permission "write"
    assert (
        pat.call(OpCode.CONSUME, topic="closed-by-default", partition=0, offset=0)["message"]
        == "unauthorized"
    )
    listed = admin.call(OpCode.ACL_LIST)
    assert (
        sorted(a["topic"] for a in listed["acls"]) == ["open", "team"] and listed["default_public"] is False
    )


def test_disabled_users_and_failed_auth_keep_identity() -> None:
    broker = auth_broker()
    admin = login(broker, *ADMIN)
    create_user(admin, "bob", ["consumer"])
    bob = login(broker, "bob", "bob-pw")
    bad = bob.call(OpCode.AUTH, username="admin", password="nope")
    assert bad == {"success": False, "username": "", "roles": [], "error": "invalid username or password"}
    assert bob.call(OpCode.WHOAMI)["username"] == "bob"
    admin.call(
        OpCode.USER_UPDATE, username="bob", password="", old_password="", roles=["consumer"]
    )  # no byte
    # disabled is reported before the password is checked
    assert DirectClient(broker).call(OpCode.AUTH, username="bob", password="wrong")["error"] == (
        "user account is disabled"
    )
    assert admin.call(OpCode.USER_GET, username="bob")["enabled"] is False


def test_password_change_rules() -> None:
    broker = auth_broker()
    admin = login(broker, *ADMIN)
    create_user(admin, "amy", [])
    amy = login(broker, "amy", "amy-pw")
    ask = {"password": "new", "roles": []}
    assert amy.call(OpCode.PASSWORD_CHANGE, username="amy", old_password="x", **ask)["message"] == (
        "invalid current password"
    )
    assert (
        amy.call(OpCode.PASSWORD_CHANGE, username="admin", old_password="", **ask)["message"]
        == "unauthorized"
    )
    assert amy.call(OpCode.PASSWORD_CHANGE, username="amy", old_password="amy-pw", **ask)["success"]
    assert login(broker, "amy", "new").call(OpCode.WHOAMI)["username"] == "amy"
    anonymous = DirectClient(broker)
    assert anonymous.call(OpCode.PASSWORD_CHANGE, username="", old_password="", **ask)["message"] == (
        "invalid current password"
    )


def test_user_get_permissions_and_role_list() -> None:
    admin = login(auth_broker(), *ADMIN)
    create_user(admin, "multi", ["producer", "consumer", "nonsense"])
    got = admin.call(OpCode.USER_GET, username="multi")
    assert sorted(got["permissions"]) == ["read", "write"]
    roles = {r["name"]: r["permissions"] for r in admin.call(OpCode.ROLE_LIST)["roles"]}
    assert roles == {
        "admin": ["read", "write", "admin"],
        "producer": ["write"],
        "consumer": ["read"],
        "guest": [],
    }


@pytest.mark.parametrize(
    ("op", "fields"),
    [
        (OpCode.AUTH, {"username": "a", "password": "b"}),
        (OpCode.USER_LIST, {}),
        (OpCode.USER_GET, {"username": "a"}),
        (OpCode.USER_CREATE, {"username": "u", "password": "p", "old_password": "", "roles": []}),
        (OpCode.USER_UPDATE, {"username": "u", "password": "", "old_password": "", "roles": []}),
        (OpCode.USER_DELETE, {"username": "u"}),
        (OpCode.PASSWORD_CHANGE, {"username": "u", "password": "p", "old_password": "", "roles": []}),
        (OpCode.ACL_SET, {"topic": "t", "public": False, "allowed_users": [], "allowed_roles": []}),
        (OpCode.ACL_GET, {"topic": "t"}),
        (OpCode.ACL_DELETE, {"topic": "t"}),
        (OpCode.ACL_LIST, {}),
        (OpCode.ROLE_LIST, {}),
    ],
)
def test_auth_disabled_answers_instead_of_crashing(op: int, fields: dict[str, Any]) -> None:
    client = DirectClient(Broker())
    assert client.call(op, fields) == {
        "error_encoding": "coded",
        "code": 1,
        "message": "authentication is not enabled on this server",
    }
    assert client.call(OpCode.LIST_TOPICS) == {"topics": []}


def test_auth_disabled_argument_checks_still_answer_first() -> None:
    client = DirectClient(Broker())
    assert client.call(OpCode.USER_CREATE, username="", password="", old_password="", roles=[])[
        "message"
    ] == ("username and password are required")
    assert client.call(OpCode.USER_DELETE, username="")["message"] == "cannot delete your own account"
    public = {"topic": "t", "public": True, "allowed_users": [], "allowed_roles": []}
    assert client.call(OpCode.ACL_SET, public)["message"].startswith("cannot make topic public")
    assert client.call(OpCode.WHOAMI)["success"] is False


# --- audit ------------------------------------------------------------------------------------


def query(client: DirectClient, **filters: Any) -> dict[str, Any]:
    fields = {
        "start_time": 0,
        "end_time": 0,
        "event_types": [],
        "user": "",
        "resource": "",
        "result": "",
        "search": "",
        "limit": 100,
        "offset": 0,
    }
    fields.update(filters)
    return client.call(OpCode.AUDIT_QUERY, fields)


def test_audit_events_filters_and_exports() -> None:
    clock = Clock()
    broker = auth_broker(clock)
    admin = login(broker, *ADMIN, addr="10.1.2.3:4000")
    DirectClient(broker, "10.9.9.9:1").call(OpCode.AUTH, username="admin", password="bad")
    create_user(admin, "zoe", ["guest"])
    zoe = login(broker, "zoe", "zoe-pw", addr="[::1]:5000")
    clock.now += 10
    assert zoe.call(OpCode.CREATE_TOPIC, topic="z,1", partitions=1)["message"] == "unauthorized"
    admin.call(OpCode.CREATE_TOPIC, topic="z,1", partitions=2)
    events = query(admin)["events"]
    kinds = [(e["type"], e["user"], e["client_ip"], e["result"]) for e in events]
    assert kinds == [
        ("topic.create", "admin", "10.1.2.3", "success"),
        ("access.denied", "zoe", "::1", "denied"),
        ("auth.success", "zoe", "::1", "success"),
        ("user.create", "admin", "10.1.2.3", "success"),
        ("auth.failure", "admin", "10.9.9.9", "failure"),
        ("auth.success", "admin", "10.1.2.3", "success"),
    ]
    assert events[2]["details"] == [["roles", "[guest]"]]
    assert events[4]["details"] == [["reason", "invalid username or password"]]
    assert events[0]["timestamp"] == int((clock.now) * 1000)
    assert [e["type"] for e in query(admin, search="GUEST")["events"]] == ["auth.success", "user.create"]
    assert query(admin, user="zoe", result="denied")["total_count"] == 1
    assert query(admin, resource="z,")["total_count"] == 2
    boundary = int(clock.now)  # events 10 s earlier fall outside [boundary, ...]
    assert query(admin, start_time=boundary)["total_count"] == 2
    assert query(admin, end_time=boundary - 1)["total_count"] == 4
    page = query(admin, limit=2, offset=3)
    assert (len(page["events"]), page["total_count"], page["has_more"]) == (2, 6, True)
    assert query(admin, limit=-1)["message"].startswith("invalid audit query request: ")
    assert query(zoe)["message"] == "admin access required for audit queries"

    export = {"query": {**_empty_query(), "event_types": ["topic.create"]}, "format": "csv"}
    rows = list(csv.reader(io.StringIO(admin.call(OpCode.AUDIT_EXPORT, export)["data"].decode())))
    assert rows[0][:3] == ["ID", "Timestamp", "Type"]
    assert rows[1][2:] == [
        "topic.create",
        "admin",
        "10.1.2.3",
        "z,1",
        "create_topic",
        "success",
        "flymq-embedded",
        '{"partitions":"2","replication_factor":"1"}',
    ]
    assert rows[1][1] == "2027-01-15T08:00:10Z"
    as_json = admin.call(OpCode.AUDIT_EXPORT, {**export, "format": "yaml"})
    assert as_json["format"] == "yaml"
    doc = json.loads(as_json["data"])
    assert list(doc[0]) == [
        "id",
        "timestamp",
        "type",
        "user",
        "client_ip",
        "resource",
        "action",
        "result",
        "details",
        "node_id",
    ]
    # RFC 3339 with nanoseconds; the broker keeps event times strictly increasing (+1 ns on ties)
    assert doc[0]["timestamp"] == "2027-01-15T08:00:10.250000001Z"


def _empty_query() -> dict[str, Any]:
    return {
        "start_time": 0,
        "end_time": 0,
        "event_types": [],
        "user": "",
        "resource": "",
        "result": "",
        "search": "",
        "limit": 0,
        "offset": 0,
    }


def test_audit_disabled_and_export_cap() -> None:
    off = DirectClient(Broker(BrokerConfig(audit_enabled=False)))
    assert query(off)["message"] == "audit trail is not enabled"
    client = DirectClient(Broker())
    for i in range(120):
        client.call(OpCode.CREATE_TOPIC, topic=f"t{i}", partitions=1)
    assert query(client, limit=0)["has_more"] is True
    exported = json.loads(client.call(OpCode.AUDIT_EXPORT, query=_empty_query(), format="json")["data"])
    assert len(exported) == 100


def test_secrets_stay_out_of_reprs() -> None:
    """A logged or pytest-printed configuration must not reveal a password (or its hash)."""
    from pyflymq_broker.pytest_plugin import FlyMQTestOptions
    from pyflymq_broker.security import User, hash_password

    config = BrokerConfig(auth=AuthSettings(enabled=True, admin_username="admin", admin_password="s3cr3t-pw"))
    options = FlyMQTestOptions(username="admin", password="s3cr3t-pw")
    user = User("admin", hash_password("s3cr3t-pw"), ["admin"], True, 0.0, 0.0)
    for text in (repr(config), str(config), repr(options), repr(user)):
        assert "s3cr3t-pw" not in text and user.password_hash not in text
    assert config.auth.admin_password == "s3cr3t-pw" and options.client_kwargs()["password"] == "s3cr3t-pw"


def test_passwords_bcrypt_cannot_hash_are_refused_with_the_server_text() -> None:
    # The server hashes with bcrypt (at most 72 bytes): the user is not created, the password not
    # changed, and the answer is its user store's text.
    admin = login(auth_broker(), *ADMIN)
    long = "p" * 73
    refused = admin.call(OpCode.USER_CREATE, username="ann", password=long, old_password="", roles=[])
    assert refused["message"] == "failed to hash password: bcrypt: password length exceeds 72 bytes"
    created = admin.call(OpCode.USER_CREATE, username="ann", password="p" * 72, old_password="", roles=[])
    assert created["username"] == "ann"
    changed = admin.call(OpCode.PASSWORD_CHANGE, username="ann", password=long, old_password="", roles=[])
    assert changed["message"] == "failed to hash password: bcrypt: password length exceeds 72 bytes"
    ann = login(admin.broker, "ann", "p" * 72)  # the old password still works
    assert ann is not None


def test_an_admin_password_bcrypt_cannot_hash_is_a_configuration_error() -> None:
    from pyflymq_core.errors import ConfigurationError

    with pytest.raises(ConfigurationError, match="admin user 'admin'") as caught:
        Broker(BrokerConfig(auth=AuthSettings(enabled=True, admin_username="admin", admin_password="p" * 73)))
    assert caught.value.hint is not None and "72 UTF-8 bytes" in caught.value.hint
