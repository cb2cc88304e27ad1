"""``BrokerConfig.data_dir``: state survives a restart; in-memory-only state does not."""

from __future__ import annotations

from pathlib import Path

from pyflymq_broker import AuthSettings, Broker, BrokerConfig
from pyflymq_broker.direct import DirectClient
from pyflymq_core.protocol import OpCode


def config(tmp_path: Path) -> BrokerConfig:
    auth = AuthSettings(enabled=True, admin_username="admin", admin_password="pw")
    return BrokerConfig(data_dir=str(tmp_path), auth=auth)


def test_restart_keeps_logs_offsets_schemas_users_and_audit(tmp_path: Path) -> None:
    first = Broker(config(tmp_path))
    client = DirectClient(first)
    assert client.call(OpCode.AUTH, username="admin", password="pw")["success"]
    client.call(OpCode.CREATE_TOPIC, topic="t\u00e9", partitions=2)
    client.call(OpCode.CREATE_TOPIC, topic="empty", partitions=3)
    for value in (b"a", b"b", b"c"):
        client.call(OpCode.PRODUCE, topic="t\u00e9", key=b"", value=value, partition=-1)
    client.call(OpCode.PRODUCE, topic="gone", key=b"k", value=b"x", partition=-1)
    client.call(OpCode.DELETE_TOPIC, topic="gone")
    client.call(OpCode.COMMIT, topic="t\u00e9", group_id="g", partition=1, offset=1)
    client.call(OpCode.SUBSCRIBE, topic="empty", group_id="never-committed", partition=0, mode="earliest")
    client.call(OpCode.REGISTER_SCHEMA, name="s", type="json", schema=b'{"required": []}')
    client.call(OpCode.USER_CREATE, username="u", password="upw", old_password="", roles=["consumer"])
    client.call(OpCode.ACL_SET, topic="t\u00e9", public=False, allowed_users=["u"], allowed_roles=[])
    client.call(OpCode.BEGIN_TX)
    events_before = len(first.audit.events()) if first.audit else 0
    assert first.persistence is not None
    first.persistence.close()

    second = Broker(config(tmp_path))
    again = DirectClient(second)
    assert again.call(OpCode.AUTH, username="u", password="upw")["success"]
    assert again.call(OpCode.LIST_TOPICS) == {"topics": ["empty", "t\u00e9"]}
    fetched = again.call(OpCode.FETCH, topic="t\u00e9", partition=0, offset=0, max_messages=10)
    assert [m["value"] for m in fetched["messages"]] == [b"a", b"c"]
    assert again.call(OpCode.GET_OFFSET, topic="t\u00e9", group_id="g", partition=1) == {"offset": 1}
    assert again.call(OpCode.GET_SCHEMA, topic="s", version=0)["definition"] == '{"required": []}'
    admin = DirectClient(second)
    admin.call(OpCode.AUTH, username="admin", password="pw")
    assert admin.call(OpCode.ACL_GET, topic="t\u00e9")["allowed_users"] == ["u"]
    groups = {(g["topic"], g["group_id"]) for g in admin.call(OpCode.LIST_GROUPS)["groups"]}
    assert groups == {("t\u00e9", "g")}  # a group without a commit is not persisted
    assert second.audit is not None and len(second.audit.events()) >= events_before
    # keyless round-robin restarts at partition 0 after a restart, like the server's counter
    assert again.call(OpCode.PRODUCE, topic="t\u00e9", key=b"", value=b"d", partition=-1)["partition"] == 0


def test_truncated_log_tail_is_ignored(tmp_path: Path) -> None:
    broker = Broker(BrokerConfig(data_dir=str(tmp_path)))
    client = DirectClient(broker)
    client.call(OpCode.PRODUCE, topic="t", key=b"", value=b"complete", partition=-1)
    assert broker.persistence is not None
    broker.persistence.close()
    (log,) = (tmp_path / "topics").glob("*/0.log")
    with open(log, "ab") as fh:
        fh.write(b"\x00\x00\x00\x00\x00\x00\x00\x09par")
    reopened_broker = Broker(BrokerConfig(data_dir=str(tmp_path)))
    reopened = DirectClient(reopened_broker)
    fetched = reopened.call(OpCode.FETCH, topic="t", partition=0, offset=0, max_messages=10)
    assert [m["value"] for m in fetched["messages"]] == [b"complete"]
    reopened.call(OpCode.PRODUCE, topic="t", key=b"", value=b"next", partition=-1)
    assert reopened_broker.persistence is not None
    reopened_broker.persistence.close()
    third = DirectClient(Broker(BrokerConfig(data_dir=str(tmp_path))))
    fetched = third.call(OpCode.FETCH, topic="t", partition=0, offset=0, max_messages=10)
    assert [m["value"] for m in fetched["messages"]] == [b"complete", b"next"]
