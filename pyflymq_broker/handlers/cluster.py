"""CLUSTER_METADATA (spec §10.1): no auth check, coded errors."""

from __future__ import annotations

from typing import Any

from pyflymq_broker.cluster import cluster_metadata as build_metadata
from pyflymq_broker.handlers.context import Context

__all__ = ["cluster_metadata"]


def cluster_metadata(ctx: Context, payload: bytes) -> dict[str, Any]:
    """CLUSTER_METADATA: this node leads every partition; ids and address follow the topology.

    No auth check, as on the server: clients call it before they authenticate, to route requests.
    """
    req = ctx.decode_coded(payload, "invalid request: ")
    config, topology = ctx.broker.config, ctx.broker.topology
    return build_metadata(
        ctx.broker.topics,
        req.get("topic", ""),
        cluster_id=topology.cluster_id(config),
        node_id=config.node_id,
        leader_addr=topology.leader_addr(config),
    )
