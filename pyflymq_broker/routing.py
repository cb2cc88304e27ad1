"""The one produce path: auto-create, partition choice, leadership check, local append.

Every way of writing a record on the server (PRODUCE, PRODUCE_WITH_SCHEMA, PRODUCE_WITH_TTL,
PRODUCE_TX / COMMIT_TX, REPLAY_DLQ, delayed delivery) ends in the same broker routine, so the
rules below apply to all of them:

1. A missing topic is auto-created: standalone at once with 1 partition; in cluster mode only by
   the Raft leader, which proposes it with 6 partitions (every node creates it); a follower
   answers ``not leader: leader_addr=<leader's client address>``.
2. The node picks the partition: FNV-1a of a non-empty key, else the topic's round-robin counter
   on *this* node (it advances even when step 3 then refuses the record).
3. A partition this node does not lead, by its own assignment
   (:mod:`pyflymq_broker.membership`), is refused: ``not partition leader: partition=<p>
   leader_addr=<address>``. In a multi-node cluster every node leads partition 0 and round-robins
   over all partitions, so keyless produces on one node succeed only every n-th time.
4. The record is appended to this node's log only: partition logs are not replicated.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pyflymq_broker.errors import BrokerError
from pyflymq_broker.log import Topic
from pyflymq_broker.membership import assign
from pyflymq_broker.raft_apply import replicate
from pyflymq_broker.raft_group import is_leader, members, no_leader_for_new_topic_text
from pyflymq_core.protocol import OpCode

if TYPE_CHECKING:
    from pyflymq_broker.broker import Broker

__all__ = ["produce"]


def produce(broker: Broker, topic: str, key: bytes, value: bytes) -> tuple[int, int]:
    """Write one record as the server's produce routine does; returns (partition, offset)."""
    found = broker.topics.get(topic)
    if found is None:
        found = _auto_create(broker, topic)
    index = found.pick_partition(key)
    if broker.raft_group is not None:  # a lone broker (standalone, single-node) leads everything
        assignment = assign(members(broker), index)
        if not assignment.local:
            leader = assignment.leader
            where = f"leader_addr={leader.client_addr}" if leader.client_addr else f"leader={leader.node_id}"
            raise BrokerError(f"not partition leader: partition={index} {where}")
    return index, broker.topics.append(topic, index, key, value)


def _auto_create(broker: Broker, topic: str) -> Topic:
    if not is_leader(broker):
        raise BrokerError(no_leader_for_new_topic_text(broker))
    partitions = broker.topology.auto_create_partitions
    replicate(
        broker,
        OpCode.CREATE_TOPIC,
        f"auto-creation of topic {topic!r}",
        lambda node: node.topics.create(topic, partitions),
    )
    found = broker.topics.get(topic)
    assert found is not None  # creating a topic cannot fail
    return found
