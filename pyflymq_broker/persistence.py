"""Optional on-disk state (``BrokerConfig.data_dir``): the broker survives a restart.

What the real server keeps on disk is kept here too: partition logs, committed group offsets,
schemas, users and ACLs, the audit trail. What it keeps only in memory is lost here too: delayed
messages, transactions, connections and group members, the round-robin counters.

Layout (private to this module; not the server's format):

* ``topics/<n>/meta.json`` (``{"name": ..., "partitions": N}``) and ``topics/<n>/<p>.log``, each
  record ``[u32 key_len][key][u32 value_len][value]``, appended as it is produced;
* ``state.json``: groups, schemas, users, ACLs, rewritten atomically after a request changed them;
* ``audit.jsonl``: one event per line, appended.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import shutil
import struct
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from pyflymq_broker.audit import AuditEvent
from pyflymq_broker.schemas import SchemaVersion
from pyflymq_broker.security import Acl, User
from pyflymq_core.protocol import OpCode

if TYPE_CHECKING:
    from pyflymq_broker.broker import Broker

__all__ = ["Persistence"]

logger = logging.getLogger("pyflymq.broker")

_LEN = struct.Struct(">I")
#: Requests after which ``state.json`` is rewritten (they may change groups, schemas, users, ACLs).
STATE_OPS = frozenset(
    {
        OpCode.COMMIT,
        OpCode.RESET_OFFSET,
        OpCode.DELETE_GROUP,
        OpCode.REGISTER_SCHEMA,
        OpCode.DELETE_SCHEMA,
        OpCode.USER_CREATE,
        OpCode.USER_DELETE,
        OpCode.USER_UPDATE,
        OpCode.PASSWORD_CHANGE,
        OpCode.ACL_SET,
        OpCode.ACL_DELETE,
    }
)
#: Requests that may delete topics.
DELETE_OPS = frozenset({OpCode.DELETE_TOPIC, OpCode.PURGE_DLQ})


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text.encode("ascii"))


def _s(text: str) -> str:
    """A str that may hold surrogate-escaped bytes, as JSON-safe base64 of its bytes."""
    return _b64(text.encode("utf-8", "surrogateescape"))


def _uns(text: str) -> str:
    return _unb64(text).decode("utf-8", "surrogateescape")


class Persistence:
    """Loads the state at start-up and mirrors every change to ``data_dir``."""

    def __init__(self, broker: Broker, data_dir: str) -> None:
        self._broker = broker
        self._root = Path(data_dir)
        self._topics_dir = self._root / "topics"
        self._topics_dir.mkdir(parents=True, exist_ok=True)
        self._dirs: dict[str, Path] = {}
        self._files: dict[tuple[str, int], IO[bytes]] = {}
        self._next_dir = 0
        self._audited = 0

    # --- loading ------------------------------------------------------------------------------

    def load(self) -> None:
        """Read topics, then groups, schemas, users, ACLs and audit events back into the broker.

        Run once, before the broker serves: the loaded state is what a restarted server would have.
        """
        broker = self._broker
        for meta_path in sorted(self._topics_dir.glob("*/meta.json")):
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
            name = _uns(meta["name"])
            partitions = [
                self._read_log(meta_path.parent / f"{p}.log") for p in range(int(meta["partitions"]))
            ]
            broker.topics.restore(name, partitions)
            self._dirs[name] = meta_path.parent
            self._next_dir = max(self._next_dir, int(meta_path.parent.name) + 1)
        state_path = self._root / "state.json"
        if state_path.exists():
            self._restore_state(json.loads(state_path.read_text(encoding="utf-8")))
        audit_path = self._root / "audit.jsonl"
        if audit_path.exists() and broker.audit is not None:
            for line in audit_path.read_text(encoding="utf-8").splitlines():
                if line.strip():
                    broker.audit.restore(_event_from_json(json.loads(line)))
        self._audited = len(broker.audit.events()) if broker.audit is not None else 0
        broker.topics.append_listeners.append(self._append)

    @staticmethod
    def _read_log(path: Path) -> list[tuple[bytes, bytes]]:
        if not path.exists():
            return []
        data = path.read_bytes()
        records: list[tuple[bytes, bytes]] = []
        pos = 0
        while pos + 8 <= len(data):
            (klen,) = _LEN.unpack_from(data, pos)
            key = data[pos + 4 : pos + 4 + klen]
            (vlen,) = _LEN.unpack_from(data, pos + 4 + klen)
            start = pos + 8 + klen
            if start + vlen > len(data):
                break
            records.append((key, data[start : start + vlen]))
            pos = start + vlen
        if pos != len(data):
            # A crash mid-append: drop the partial record so later appends stay aligned.
            logger.warning("%s: dropping a truncated last record (%d bytes)", path, len(data) - pos)
            with open(path, "r+b") as fh:
                fh.truncate(pos)
        return records

    def _restore_state(self, state: dict[str, Any]) -> None:
        broker = self._broker
        for group in state.get("groups", []):
            offsets = {int(p): int(o) for p, o in group["offsets"].items()}
            broker.groups.restore(_uns(group["topic"]), _uns(group["group_id"]), offsets)
        for entry in state.get("schemas", []):
            version = SchemaVersion(
                _uns(entry["name"]), int(entry["version"]), entry["type"], _unb64(entry["definition"])
            )
            broker.schemas.restore(version, int(entry["latest"]))
        if broker.security is not None:
            for user in state.get("users", []):
                broker.security.users[_uns(user["username"])] = User(
                    _uns(user["username"]),
                    user["password_hash"],
                    [_uns(r) for r in user["roles"]],
                    bool(user["enabled"]),
                    float(user["created_at"]),
                    float(user["updated_at"]),
                )
            for acl in state.get("acls", []):
                broker.security.acls[_uns(acl["topic"])] = Acl(
                    _uns(acl["topic"]),
                    bool(acl["public"]),
                    [_uns(u) for u in acl["allowed_users"]],
                    [_uns(r) for r in acl["allowed_roles"]],
                )

    # --- mirroring ----------------------------------------------------------------------------

    def _topic_dir(self, name: str) -> Path:
        path = self._dirs.get(name)
        if path is None:
            topic = self._broker.topics.get(name)
            assert topic is not None
            path = self._topics_dir / str(self._next_dir)
            self._next_dir += 1
            path.mkdir(parents=True, exist_ok=True)
            meta = {"name": _s(name), "partitions": len(topic.partitions)}
            (path / "meta.json").write_text(json.dumps(meta), encoding="utf-8")
            self._dirs[name] = path
        return path

    def _append(self, topic: str, partition: int, key: bytes, value: bytes) -> None:
        handle = self._files.get((topic, partition))
        if handle is None:
            handle = self._files[(topic, partition)] = open(self._topic_dir(topic) / f"{partition}.log", "ab")  # noqa: SIM115
        handle.write(_LEN.pack(len(key)) + key + _LEN.pack(len(value)) + value)
        handle.flush()  # acknowledged = handed to the OS, as on the server (acks=leader)

    def after_request(self, op: int) -> None:
        """Called after every request (under the broker lock)."""
        broker = self._broker
        if op == OpCode.CREATE_TOPIC:
            for name in broker.topics.names():
                if name not in self._dirs:
                    self._topic_dir(name)
        if op in DELETE_OPS:
            for name in [n for n in self._dirs if n not in broker.topics]:
                self._drop_topic(name)
        if op in STATE_OPS:
            self._write_state()
        if broker.audit is not None:
            events = broker.audit.events()
            if len(events) > self._audited:
                with open(self._root / "audit.jsonl", "a", encoding="utf-8") as fh:
                    for event in events[self._audited :]:
                        fh.write(json.dumps(_event_to_json(event)) + "\n")
                self._audited = len(events)

    def _drop_topic(self, name: str) -> None:
        for key in [k for k in self._files if k[0] == name]:
            self._files.pop(key).close()
        path = self._dirs.pop(name)
        shutil.rmtree(path, ignore_errors=False)

    def _write_state(self) -> None:
        broker = self._broker
        latest = broker.schemas.latest_pointers()
        state: dict[str, Any] = {
            "groups": [
                {
                    "topic": _s(g.topic),
                    "group_id": _s(g.group_id),
                    "offsets": {str(p): o for p, o in g.offsets.items()},
                }
                for g in broker.groups.all()
                if g.offsets  # groups without a commit are not persisted (as on the server)
            ],
            "schemas": [
                {
                    "name": _s(s.name),
                    "version": s.version,
                    "type": s.type,
                    "definition": _b64(s.definition),
                    "latest": latest.get(s.name, s.version),
                }
                for s in broker.schemas.versions("")
            ],
            "users": [],
            "acls": [],
        }
        if broker.security is not None:
            state["users"] = [
                {
                    "username": _s(u.username),
                    "password_hash": u.password_hash,
                    "roles": [_s(r) for r in u.roles],
                    "enabled": u.enabled,
                    "created_at": u.created_at,
                    "updated_at": u.updated_at,
                }
                for u in broker.security.users.values()
            ]
            state["acls"] = [
                {
                    "topic": _s(a.topic),
                    "public": a.public,
                    "allowed_users": [_s(x) for x in a.allowed_users],
                    "allowed_roles": [_s(x) for x in a.allowed_roles],
                }
                for a in broker.security.acls.values()
            ]
        tmp = self._root / "state.json.tmp"
        tmp.write_text(json.dumps(state), encoding="utf-8")
        os.replace(tmp, self._root / "state.json")

    def close(self) -> None:
        """Close the open partition logs (everything is already written: each append is flushed)."""
        for handle in self._files.values():
            handle.close()
        self._files.clear()


def _event_to_json(event: AuditEvent) -> dict[str, Any]:
    return {
        "id": event.id,
        "ts": event.timestamp_ns,
        "type": event.type,
        "user": _s(event.user),
        "client_ip": _s(event.client_ip),
        "resource": _s(event.resource),
        "action": event.action,
        "result": event.result,
        "node_id": _s(event.node_id),
        "details": None if event.details is None else [[_s(k), _s(v)] for k, v in event.details],
        "seq": event.seq,
    }


def _event_from_json(doc: dict[str, Any]) -> AuditEvent:
    details = doc["details"]
    return AuditEvent(
        id=doc["id"],
        timestamp_ns=int(doc["ts"]),
        type=doc["type"],
        user=_uns(doc["user"]),
        client_ip=_uns(doc["client_ip"]),
        resource=_uns(doc["resource"]),
        action=doc["action"],
        result=doc["result"],
        node_id=_uns(doc["node_id"]),
        details=None if details is None else tuple((_uns(k), _uns(v)) for k, v in details),
        seq=int(doc["seq"]),
    )
