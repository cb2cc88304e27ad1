"""CLUSTER_METADATA (spec §10.1): every partition led by this node.

Both topologies the broker simulates have one node, which leads every partition: ``leader_id`` =
node id, epoch 1, state ``online``, replicas = ISR = [node id]. Only ``cluster_id`` (``"standalone"``
or, in cluster mode, the node id) and ``leader_addr`` (``bind_addr`` verbatim, ``":9092"`` by
default; in cluster mode ``advertise_addr`` when set) depend on the topology: the caller passes
them (see :class:`~pyflymq_broker.topology.Topology`). Multi-node clusters are not simulated.
"""

from __future__ import annotations

from typing import Any

from pyflymq_broker.errors import BrokerError
from pyflymq_broker.log import TopicStore

__all__ = ["cluster_metadata"]


def _topic_entry(name: str, partitions: int, node_id: str, leader_addr: str) -> dict[str, Any]:
    return {
        "topic": name,
        "partitions": [
            {
                "partition": index,
                "leader_id": node_id,
                "leader_addr": leader_addr,
                "epoch": 1,
                "state": "online",
                "replicas": [node_id],
                "isr": [node_id],
            }
            for index in range(partitions)
        ],
    }


def cluster_metadata(
    topics: TopicStore, topic: str, *, cluster_id: str, node_id: str, leader_addr: str
) -> dict[str, Any]:
    """The response fields; ``topic == ""`` lists every topic (internal ``__`` ones included)."""
    if topic:
        found = topics.get(topic)
        if found is None:
            raise BrokerError.coded(f"topic not found: {topic}")
        entries = [_topic_entry(topic, len(found.partitions), node_id, leader_addr)]
    else:
        entries = []
        for name in topics.names():
            t = topics.get(name)
            assert t is not None
            entries.append(_topic_entry(name, len(t.partitions), node_id, leader_addr))
    return {"cluster_id": cluster_id, "topics": entries}
