"""CLUSTER_METADATA (spec §10.1): every partition's leadership as the answering node computed it.

Epoch 1 and state ``online`` everywhere (assignments exist from the topic's creation on). Who
leads and the replica lists come from the answering node's membership
(:mod:`pyflymq_broker.membership`): a standalone server or single-node cluster leads every
partition itself (replicas = ISR = [node id]); a node of a multi-node cluster leads partition 0
and every n-th one after it, and names the other nodes by their Raft address. ``cluster_id``
(``"standalone"``, or in a cluster the answering node's id) comes from the topology.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pyflymq_broker.errors import BrokerError
from pyflymq_broker.log import TopicStore
from pyflymq_broker.membership import Member, assign

__all__ = ["cluster_metadata"]


def _topic_entry(name: str, partitions: int, members: Sequence[Member]) -> dict[str, Any]:
    entries = []
    for index in range(partitions):
        assignment = assign(members, index)
        entries.append(
            {
                "partition": index,
                "leader_id": assignment.leader.node_id,
                "leader_addr": assignment.leader.client_addr,
                "epoch": 1,
                "state": "online",
                "replicas": list(assignment.replicas),
                "isr": list(assignment.replicas),
            }
        )
    return {"topic": name, "partitions": entries}


def cluster_metadata(
    topics: TopicStore, topic: str, *, cluster_id: str, members: Sequence[Member]
) -> dict[str, Any]:
    """The response fields; ``topic == ""`` lists every topic (internal ``__`` ones included)."""
    if topic:
        found = topics.get(topic)
        if found is None:
            raise BrokerError.coded(f"topic not found: {topic}")
        entries = [_topic_entry(topic, len(found.partitions), members)]
    else:
        entries = []
        for name in topics.names():
            t = topics.get(name)
            assert t is not None
            entries.append(_topic_entry(name, len(t.partitions), members))
    return {"cluster_id": cluster_id, "topics": entries}
