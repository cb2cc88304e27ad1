"""PRODUCE_DELAYED (spec §9.10) and PRODUCE_WITH_TTL (§9.11): keyless writes, no auth checks."""

from __future__ import annotations

from typing import Any

from pyflymq_broker.handlers.context import Context

__all__ = ["produce_delayed", "produce_with_ttl"]


def produce_delayed(ctx: Context, payload: bytes) -> dict[str, Any]:
    """PRODUCE_DELAYED: queue the value for later (offset 0 is a placeholder, as on the server).

    With the feature off the delay is ignored and the value is written at once.
    """
    req = ctx.decode(payload)
    topic, data = req["topic"], req["data"]
    queue = ctx.broker.delayed
    if queue is not None:
        queue.schedule(topic, data, req["delay_ms"], ctx.now)
        ctx.broker.deliver_due(ctx.now)  # a delay <= 0 is due at once
        return ctx.record_metadata(topic, 0, 0, None, len(data))  # offset 0: a placeholder
    _, offset = ctx.broker.produce(topic, b"", data)  # feature off: the delay is ignored
    return ctx.record_metadata(topic, 0, offset, None, len(data))


def produce_with_ttl(ctx: Context, payload: bytes) -> dict[str, Any]:
    """PRODUCE_WITH_TTL: write the value; the TTL is accepted but never enforced, like the server."""
    req = ctx.decode(payload)
    topic, data = req["topic"], req["data"]
    # The TTL is never enforced: the record stays readable forever (SEMANTICS_NOTES #18).
    _, offset = ctx.broker.produce(topic, b"", data)
    return ctx.record_metadata(topic, 0, offset, None, len(data))
