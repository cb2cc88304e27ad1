"""CLUSTER_METADATA (spec §10.1): no auth check, coded errors."""

from __future__ import annotations

from typing import Any

from pyflymq_broker.cluster import cluster_metadata as build_metadata
from pyflymq_broker.handlers.context import Context
from pyflymq_broker.raft_group import members

__all__ = ["cluster_metadata"]


def cluster_metadata(ctx: Context, payload: bytes) -> dict[str, Any]:
    """CLUSTER_METADATA: partition leadership as this node sees it; ids follow the topology.

    No auth check, as on the server: clients call it before they authenticate, to route requests.
    """
    req = ctx.decode_coded(payload, "invalid request: ")
    broker = ctx.broker
    return build_metadata(
        broker.topics,
        req.get("topic", ""),
        cluster_id=broker.topology.cluster_id(broker.config),
        members=members(broker),
    )
