"""Transaction opcodes (spec §9.12): global ids, no auth checks, failures as ``success = 0``."""

from __future__ import annotations

from typing import Any

from pyflymq_broker.errors import BrokerError
from pyflymq_broker.handlers.context import Context

__all__ = ["abort_tx", "begin_tx", "commit_tx", "produce_tx"]


def begin_tx(ctx: Context, payload: bytes) -> dict[str, Any]:
    """BEGIN_TX: a new transaction id, global to the broker (any connection may use it)."""
    coordinator = ctx.broker.txns
    if coordinator is None:
        return {"txn_id": f"txn-{ctx.broker.now_ns()}", "success": True}
    producer_ns = ctx.broker.now_ns()
    txn = coordinator.begin(ctx.now, producer_ns, ctx.broker.now_ns())
    return {"txn_id": txn.id, "success": True}


def produce_tx(ctx: Context, payload: bytes) -> dict[str, Any]:
    """PRODUCE_TX: buffer a keyless write until COMMIT_TX (feature off: written at once)."""
    req = ctx.decode(payload)
    topic, data = req["topic"], req["data"]
    coordinator = ctx.broker.txns
    if coordinator is None:
        _, offset = ctx.broker.produce(topic, b"", data)  # written at once; ABORT undoes nothing
        return ctx.record_metadata(topic, 0, offset, None, len(data))
    coordinator.add(req["txn_id"], topic, data)
    return ctx.record_metadata(topic, 0, 0, None, len(data))  # offset assigned at commit


def commit_tx(ctx: Context, payload: bytes) -> dict[str, Any]:
    """COMMIT_TX: write the buffered messages one by one; not atomic, like the server.

    A write that fails midway leaves the earlier ones written and answers ``success = false``.
    """
    req = ctx.decode(payload)
    txn_id = req["txn_id"]
    coordinator = ctx.broker.txns
    if coordinator is None:
        return {"txn_id": txn_id, "success": True}
    txn = coordinator.start_commit(txn_id)
    if txn is None:
        return {"txn_id": txn_id, "success": False}
    for topic, data in txn.operations:
        try:
            ctx.broker.produce(topic, b"", data)
        except BrokerError:
            coordinator.fail_commit(txn)  # not atomic: earlier messages stay written
            return {"txn_id": txn_id, "success": False}
    return {"txn_id": txn_id, "success": True}


def abort_tx(ctx: Context, payload: bytes) -> dict[str, Any]:
    """ABORT_TX: discard the buffered writes; ``success = false`` for an unknown or committed id."""
    req = ctx.decode(payload)
    txn_id = req["txn_id"]
    coordinator = ctx.broker.txns
    if coordinator is None:
        return {"txn_id": txn_id, "success": True}
    return {"txn_id": txn_id, "success": coordinator.abort(txn_id)}
