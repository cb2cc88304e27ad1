"""DLQ opcodes (spec §9.7-9.9): read ``<topic><suffix>`` partition 0 from offset 0; no auth checks."""

from __future__ import annotations

from typing import Any

from pyflymq_broker.dlq import DLQRecord, decode_dlq_record
from pyflymq_broker.errors import BrokerError
from pyflymq_broker.handlers.context import Context
from pyflymq_broker.raft_apply import propose
from pyflymq_core.protocol import OpCode

__all__ = ["fetch_dlq", "purge_dlq", "replay_dlq"]

#: REPLAY_DLQ looks for the id among this many DLQ records.
REPLAY_SCAN = 1000


def _read_dlq(ctx: Context, topic: str, max_messages: int) -> list[DLQRecord]:
    """The server's GetDLQMessages: plain fetch of partition 0, non-decoding records skipped."""
    dlq_topic = topic + ctx.broker.config.dlq_topic_suffix
    found = ctx.broker.topics.get(dlq_topic)
    if found is None:
        raise BrokerError(f"topic not found: {dlq_topic}")
    records = found.partitions[0].records[: max(max_messages, 0)]
    decoded = (decode_dlq_record(value) for _, value in records)
    return [r for r in decoded if r is not None]


def fetch_dlq(ctx: Context, payload: bytes) -> dict[str, Any]:
    """FETCH_DLQ: the dead letters of a topic; any read error is an empty answer, as on the server."""
    req = ctx.decode(payload)
    if not ctx.broker.config.dlq_enabled:
        return {"messages": []}
    try:
        records = _read_dlq(ctx, req["topic"], req["max_messages"])
    except BrokerError:
        return {"messages": []}  # any read error is an empty answer
    return {
        "messages": [
            {"id": r.id, "data": r.payload, "error": r.error_message, "retries": _i32(r.retry_count)}
            for r in records
        ]
    }


def _i32(value: int) -> int:
    """Go's int32(int) conversion of retry_count (wraps)."""
    value &= 0xFFFFFFFF
    return value - (1 << 32) if value >= 1 << 31 else value


def replay_dlq(ctx: Context, payload: bytes) -> dict[str, Any]:
    """REPLAY_DLQ: re-produce one dead letter (found by id) to its original topic.

    Failures are ``success = false`` answers with a message, never error frames.
    """
    req = ctx.decode(payload)
    if not ctx.broker.config.dlq_enabled:
        return {"success": False, "message": "DLQ not enabled"}
    try:
        records = _read_dlq(ctx, req["topic"], REPLAY_SCAN)
    except BrokerError as exc:
        return {"success": False, "message": exc.text}
    for record in records:
        if record.id == req["message_id"]:
            try:
                ctx.broker.produce(record.original_topic, b"", record.payload)
            except BrokerError as exc:
                return {"success": False, "message": f"failed to replay message: {exc.text}"}
            return {"success": True, "message": "OK"}
    return {"success": False, "message": "message not found"}


def purge_dlq(ctx: Context, payload: bytes) -> dict[str, Any]:
    """PURGE_DLQ: drop the whole ``<topic><suffix>`` topic.

    The server deletes it like DELETE_TOPIC does: Raft-proposed in a cluster, so a follower
    answers ``success = false`` with the ``not leader`` text.
    """
    req = ctx.decode(payload)
    if not ctx.broker.config.dlq_enabled:
        return {"success": False, "message": "DLQ not enabled"}
    dlq_topic = req["topic"] + ctx.broker.config.dlq_topic_suffix
    try:
        propose(
            ctx.broker,
            OpCode.PURGE_DLQ,
            f"PURGE_DLQ {dlq_topic!r}",
            lambda node: node.topics.delete(dlq_topic),
        )
    except BrokerError as exc:
        return {"success": False, "message": exc.text}
    return {"success": True, "message": "OK"}
