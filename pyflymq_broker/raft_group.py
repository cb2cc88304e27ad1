"""A node's place in its Raft group: who leads, who the members are, which nodes apply writes.

A lone :class:`~pyflymq_broker.Broker` (standalone, or a single-node cluster) is its own Raft
leader and its only member. The nodes of a :class:`~pyflymq_broker.multinode.BrokerCluster` share
one :class:`RaftGroup`: one node is the elected leader, fixed for the group's life (elections,
terms and failover are not simulated), and every metadata write it accepts is applied by every
node's own state (see :mod:`pyflymq_broker.raft_apply`).

What a follower knows of the leader comes from the leader's Raft heartbeats: its node id and its
client-facing address (``advertise_addr``, else ``bind_addr``). That is what the ``not leader``
answers carry, unlike partition metadata, which names peers by Raft address
(:mod:`pyflymq_broker.membership`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pyflymq_broker.membership import Member, peer_members

if TYPE_CHECKING:
    from pyflymq_broker.broker import Broker

__all__ = [
    "RaftGroup",
    "followers",
    "is_leader",
    "members",
    "no_leader_for_new_topic_text",
    "not_leader_text",
]


class RaftGroup:
    """The nodes of one simulated multi-node cluster, by node id, and the one Raft elected."""

    def __init__(self, leader_id: str) -> None:
        self.leader_id = leader_id
        self._nodes: dict[str, Broker] = {}

    def join(self, broker: Broker) -> None:
        """Add a node (its ``node_id`` must be new to the group)."""
        node_id = broker.config.node_id
        if node_id in self._nodes:
            raise ValueError(f"node id {node_id!r} is already in the Raft group")
        self._nodes[node_id] = broker

    @property
    def nodes(self) -> tuple[Broker, ...]:
        """Every node, in joining order."""
        return tuple(self._nodes.values())

    @property
    def leader(self) -> Broker:
        """The elected leader's broker."""
        return self._nodes[self.leader_id]


def is_leader(broker: Broker) -> bool:
    """Whether ``broker`` is its group's Raft leader (a lone broker always is)."""
    group = broker.raft_group
    return group is None or group.leader_id == broker.config.node_id


def followers(broker: Broker) -> tuple[Broker, ...]:
    """The other nodes of ``broker``'s group, which apply what it commits (none when alone)."""
    group = broker.raft_group
    if group is None:
        return ()
    return tuple(node for node in group.nodes if node is not broker)


def members(broker: Broker) -> tuple[Member, ...]:
    """The membership ``broker`` assigns partitions over: itself first, then its peers.

    A lone broker ignores configured peers (it warned at start-up): it is its only member.
    """
    config = broker.config
    own = Member(config.node_id, broker.topology.leader_addr(config))
    if broker.raft_group is None:
        return (own,)
    return (own, *peer_members(config.cluster_addr, config.peers))


def _leader_identity(broker: Broker) -> tuple[str, str]:
    """(node id, client address) of the leader as a follower learns them from heartbeats."""
    group = broker.raft_group
    leader = broker if group is None else group.leader
    return leader.config.node_id, leader.topology.leader_addr(leader.config)


def not_leader_text(broker: Broker) -> str:
    """A follower's answer to a metadata write (topics, schemas, users, ACLs)."""
    leader_id, leader_addr = _leader_identity(broker)
    if leader_addr:
        return f"not leader: leader_id={leader_id} leader_addr={leader_addr}"
    return f"not leader: leader_id={leader_id}"


def no_leader_for_new_topic_text(broker: Broker) -> str:
    """A follower's answer to a produce that would auto-create a topic (only the leader may)."""
    _, leader_addr = _leader_identity(broker)
    return f"not leader: leader_addr={leader_addr}" if leader_addr else "not leader: no leader elected"
