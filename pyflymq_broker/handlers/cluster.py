"""CLUSTER_METADATA (spec §10.1): no auth check, coded errors."""

from __future__ import annotations

from typing import Any

from pyflymq_broker.cluster import cluster_metadata as build_metadata
from pyflymq_broker.handlers.context import Context

__all__ = ["cluster_metadata"]


def cluster_metadata(ctx: Context, payload: bytes) -> dict[str, Any]:
    req = ctx.decode_coded(payload, "invalid request: ")
    config = ctx.broker.config
    return build_metadata(ctx.broker.topics, req.get("topic", ""), config.node_id, config.bind_addr)
