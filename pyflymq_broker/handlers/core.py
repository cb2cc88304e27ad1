"""Core opcodes (spec §8): PRODUCE, CONSUME, CONSUME_ZERO_COPY, topics, FETCH/FETCH_BINARY."""

from __future__ import annotations

import struct
from typing import Any

from pyflymq_broker.errors import BrokerError
from pyflymq_broker.filters import RecordFilter
from pyflymq_broker.handlers.context import Context
from pyflymq_broker.log import Partition
from pyflymq_broker.raft_apply import propose, replicate, require_leader
from pyflymq_core.protocol import OpCode

__all__ = [
    "consume",
    "consume_zero_copy",
    "create_topic",
    "delete_topic",
    "fetch",
    "list_topics",
    "produce",
    "read_partition",
]

#: FETCH stops after scanning this many records, matching or not.
FETCH_SCAN_LIMIT = 1000
#: CONSUME_ZERO_COPY answers with the stored record framing for values of at least this size.
ZERO_COPY_THRESHOLD = 64 * 1024


def produce(ctx: Context, payload: bytes) -> dict[str, Any]:
    """PRODUCE: write one keyed record; the request's partition is ignored, as on the server."""
    req = ctx.decode(payload)
    topic, key, value = req["topic"], req["key"], req["value"]
    ctx.check_write(topic)
    partition, offset = ctx.broker.produce(topic, key, value)  # the partition field is ignored
    return ctx.record_metadata(topic, partition, offset, key, len(value))


def _consume_partition(ctx: Context, topic: str, partition: int) -> Partition:
    found = ctx.broker.topics.get(topic)
    if found is None:
        raise BrokerError("topic not found")
    if not 0 <= partition < len(found.partitions):
        raise BrokerError(f"partition {partition} out of range")
    return found.partitions[partition]


def _consume_record(ctx: Context, req: dict[str, Any]) -> tuple[bytes, bytes]:
    part = _consume_partition(ctx, req["topic"], req["partition"])
    offset = req["offset"]
    if offset >= part.next_offset:
        raise BrokerError("EOF")
    key, value = part.records[offset]
    return key, value


def consume(ctx: Context, payload: bytes) -> dict[str, Any]:
    """CONSUME: one record by offset; past the end answers ``EOF`` (the server's text, clients map it)."""
    req = ctx.decode(payload)
    ctx.check_read(req["topic"])
    key, value = _consume_record(ctx, req)
    return {"key": key, "value": value}


def consume_zero_copy(ctx: Context, payload: bytes) -> dict[str, Any]:
    """CONSUME_ZERO_COPY: like CONSUME, but a large value comes back in its stored framing.

    The server sendfile()s the record as stored on disk, so clients must unwrap values of at least
    :data:`ZERO_COPY_THRESHOLD` bytes; answering the same way lets their unwrapping be tested.
    """
    req = ctx.decode(payload)
    ctx.check_read(req["topic"])
    key, value = _consume_record(ctx, req)
    if len(value) >= ZERO_COPY_THRESHOLD:
        # The server sendfile()s the stored record ([u32 klen][key][u32 vlen][value]) as the value.
        stored = struct.pack(">I", len(key)) + key + struct.pack(">I", len(value)) + value
        return {"key": key, "value": stored}
    return {"key": key, "value": value}


def create_topic(ctx: Context, payload: bytes) -> dict[str, Any]:
    """CREATE_TOPIC: idempotent (an existing topic keeps its count); 0 partitions means 1.

    In a cluster only the Raft leader accepts it (a follower answers ``not leader: ...``, audited
    as a failure); every node then creates the topic.
    """
    req = ctx.decode(payload)
    topic, partitions = req["topic"], req["partitions"]
    problem = ctx.topic_admin_problem()
    if problem is not None:
        ctx.audit("access.denied", resource=topic, action="create_topic", result="denied")
        raise BrokerError(problem)
    if partitions == 0:
        partitions = 1
    with ctx.audit_failure("topic.create", resource=topic, action="create_topic"):
        require_leader(ctx.broker)
        if partitions < 0:
            # The real server panics here (makeslice) and exits; the broker refuses the request.
            raise BrokerError(f"invalid partition count: {partitions}")
    # Idempotent: an existing topic keeps its count.
    replicate(
        ctx.broker,
        OpCode.CREATE_TOPIC,
        f"CREATE_TOPIC {topic!r}",
        lambda node: node.topics.create(topic, partitions),
    )
    ctx.audit(
        "topic.create",
        resource=topic,
        action="create_topic",
        result="success",
        details={
            "partitions": str(partitions),
            "replication_factor": str(ctx.broker.config.default_replication_factor),
        },
    )
    return {"success": True}


def delete_topic(ctx: Context, payload: bytes) -> dict[str, Any]:
    """DELETE_TOPIC: idempotent; the topic's consumer-group offsets survive, as on the server.

    In a cluster only the Raft leader accepts it (``not leader: ...`` on a follower, audited as a
    failure); every node then deletes the topic.
    """
    req = ctx.decode(payload)
    topic = req["topic"]
    problem = ctx.topic_admin_problem()
    if problem is not None:
        ctx.audit("access.denied", resource=topic, action="delete_topic", result="denied")
        raise BrokerError(problem)
    count = ctx.broker.topics.reported_message_count(topic)
    with ctx.audit_failure("topic.delete", resource=topic, action="delete_topic"):
        # Idempotent; consumer-group offsets are left behind.
        propose(
            ctx.broker, OpCode.DELETE_TOPIC, f"DELETE_TOPIC {topic!r}", lambda node: node.topics.delete(topic)
        )
    ctx.audit(
        "topic.delete",
        resource=topic,
        action="delete_topic",
        result="success",
        details={"message_count": str(count)},
    )
    return {"success": True}


def list_topics(ctx: Context, payload: bytes) -> dict[str, Any]:
    """LIST_TOPICS: names sorted by bytes (Go's order), internal ``__`` topics hidden."""
    names = [n for n in ctx.broker.topics.names() if not n.startswith("__")]
    names.sort(key=lambda n: n.encode("utf-8", "surrogateescape"))  # Go sorts by bytes
    return {"topics": names}


def read_partition(ctx: Context, topic: str, partition: int) -> Partition:
    """FETCH/SUBSCRIBE/GET_LAG/RESET_OFFSET lookup: ``topic not found: <t>``, ``partition <n> not found``.

    A negative partition crashes the real server (index out of range); the broker answers the
    same "not found" text instead.
    """
    found = ctx.broker.topics.get(topic)
    if found is None:
        raise BrokerError(f"topic not found: {topic}")
    if not 0 <= partition < len(found.partitions):
        raise BrokerError(f"partition {partition} not found")
    return found.partitions[partition]


def fetch(ctx: Context, payload: bytes) -> dict[str, Any]:
    """FETCH (0x07) and FETCH_BINARY (0x0B): identical but for the response opcode."""
    req = ctx.decode(payload)
    topic = req["topic"]
    ctx.check_read(topic)
    max_messages = req["max_messages"]
    if max_messages <= 0:
        max_messages = 10
    part = read_partition(ctx, topic, req["partition"])
    record_filter = RecordFilter(req.get("filter", ""))
    offset = start = req["offset"]
    end = min(part.next_offset, start + FETCH_SCAN_LIMIT) if start < part.next_offset else start
    messages: list[dict[str, Any]] = []
    while offset < end and len(messages) < max_messages:
        key, value = part.records[offset]
        if record_filter.matches(key, value):
            messages.append({"offset": offset, "key": key, "value": value})
        offset += 1
    return {"message_count": len(messages), "next_offset": offset, "messages": messages}
