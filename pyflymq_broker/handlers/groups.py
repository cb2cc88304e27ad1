"""Consumer-group opcodes (spec §8.4, §8.5, §10.2-10.7)."""

from __future__ import annotations

from typing import Any

from pyflymq_broker.errors import BrokerError
from pyflymq_broker.groups import ConsumerGroup
from pyflymq_broker.handlers.context import Context
from pyflymq_broker.handlers.core import read_partition

__all__ = [
    "commit",
    "delete_group",
    "describe_group",
    "get_lag",
    "get_offset",
    "list_groups",
    "reset_offset",
    "subscribe",
]


def subscribe(ctx: Context, payload: bytes) -> dict[str, Any]:
    """SUBSCRIBE: the start offset for ``earliest``, ``latest`` or ``commit`` mode.

    The connection joins the group before any check, so even a failed SUBSCRIBE creates the group:
    that is what the server does and what DESCRIBE_GROUP then reports.
    """
    req = ctx.decode(payload)
    topic, group_id, partition, mode = req["topic"], req["group_id"], req["partition"], req["mode"]
    ctx.check_read(topic)
    if group_id:
        # Registered before anything is checked: a failed SUBSCRIBE still creates the group and
        # counts this connection as a member (until it closes, for its latest subscription only).
        ctx.session.remember_group(topic, group_id)
    if mode == "":
        mode = "latest"
    part = read_partition(ctx, topic, partition)
    if mode == "earliest":
        return {"offset": 0}
    if mode == "latest":
        return {"offset": part.highest_offset + 1}  # 1 on an empty partition: the server's off-by-one
    if mode == "commit":
        committed = ctx.broker.groups.committed(topic, group_id, partition)
        return {"offset": committed if committed is not None else 0}
    raise BrokerError(f"unknown subscribe mode: {mode}")


def _store_offset(ctx: Context, topic: str, group_id: str, partition: int, offset: int) -> None:
    """Commit, then fail like the server's offsets file write when the names contain ``/``.

    The server persists ``<data>/__consumer_offsets/<topic>_<group>.json`` whenever the value
    changed; a ``/`` in either name points into a missing directory, the write fails with an
    ``open ...`` error, and the in-memory value is kept anyway.
    """
    changed = ctx.broker.groups.commit(topic, group_id, partition, offset)
    if changed and "/" in f"{topic}_{group_id}":
        data_dir = ctx.broker.config.data_dir or "data"
        path = f"{data_dir}/__consumer_offsets/{topic}_{group_id}.json"
        raise BrokerError(f"open {path}: no such file or directory")


def commit(ctx: Context, payload: bytes) -> dict[str, Any]:
    """COMMIT: store an offset; no authentication or existence check, as on the server."""
    req = ctx.decode(payload)  # no authentication and no existence checks, as on the server
    _store_offset(ctx, req["topic"], req["group_id"], req["partition"], req["offset"])
    return {"success": True}


def get_offset(ctx: Context, payload: bytes) -> dict[str, Any]:
    """GET_OFFSET: the committed offset, 0 when none (the group must exist)."""
    req = ctx.decode(payload)
    ctx.check_read(req["topic"])
    group = ctx.broker.groups.get(req["topic"], req["group_id"])
    return {"offset": group.offsets.get(req["partition"], 0)}


def reset_offset(ctx: Context, payload: bytes) -> dict[str, Any]:
    """RESET_OFFSET: commit ``earliest``, ``latest`` or an explicit offset (admin permission)."""
    req = ctx.decode(payload)
    topic, mode = req["topic"], req["mode"]
    problem = ctx.topic_admin_problem()
    if problem is not None:
        raise BrokerError(problem)
    if mode == "earliest":
        read_partition(ctx, topic, req["partition"])
        target = 0
    elif mode == "latest":
        target = read_partition(ctx, topic, req["partition"]).highest_offset + 1
    elif mode == "offset":
        target = req["offset"]
    else:
        raise BrokerError(f"unknown reset mode: {mode}")
    _store_offset(ctx, topic, req["group_id"], req["partition"], target)
    return {"success": True}


def _summary(ctx: Context, group: ConsumerGroup) -> dict[str, Any]:
    return {
        "topic": group.topic,
        "group_id": group.group_id,
        "members": len(group.members),
        "offsets": [{"partition": p, "offset": o} for p, o in sorted(group.offsets.items())],
    }


def list_groups(ctx: Context, payload: bytes) -> dict[str, Any]:
    """LIST_GROUPS: every group with its members and offsets (admin permission)."""
    ctx.check_manage(coded=False)
    return {"groups": [_summary(ctx, g) for g in ctx.broker.groups.all()]}


def describe_group(ctx: Context, payload: bytes) -> dict[str, Any]:
    """DESCRIBE_GROUP: one group's members and offsets (admin permission)."""
    req = ctx.decode(payload)
    ctx.check_manage(coded=False)
    return _summary(ctx, ctx.broker.groups.get(req["topic"], req["group_id"]))


def get_lag(ctx: Context, payload: bytes) -> dict[str, Any]:
    """GET_LAG: end offset minus committed offset for one partition, never negative."""
    req = ctx.decode(payload)
    topic = req["topic"]
    ctx.check_read(topic)
    group = ctx.broker.groups.get(topic, req["group_id"])
    committed = group.offsets.get(req["partition"], 0)
    latest = read_partition(ctx, topic, req["partition"]).highest_offset + 1
    return {
        "current_offset": committed,
        "committed_offset": committed,
        "latest_offset": latest,
        "lag": latest - committed if latest >= committed else 0,
    }


def delete_group(ctx: Context, payload: bytes) -> dict[str, Any]:
    """DELETE_GROUP: forget a group and its offsets (admin permission)."""
    req = ctx.decode(payload)
    ctx.check_manage(coded=False)
    ctx.broker.groups.delete(req["topic"], req["group_id"])
    return {"success": True}
