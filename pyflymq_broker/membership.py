"""Who the members of a cluster are as one node sees them, and how partitions are spread over them.

The real server assigns the partitions of a topic when it applies the topic's creation, on every
node separately and from that node's own membership list: the node itself first (its node id and
client address), then the other live members. A configured peer is known only by its Raft address,
which serves as its node id *and* its address: 1.26.11 never learns the peers' real ids or client
addresses. So in a multi-node cluster every node reports itself as the leader of partition 0 and
names the other nodes by their Raft address (transcript ``cluster3_metadata_and_non_leader``).

Partition ``p`` is led by member ``p mod n``; its replicas (and ISR) are that member and the next
ones in the list, up to the replication factor 3. A standalone server and a single-node cluster
have one member, which leads every partition with itself as the only replica.

The server lists the other members in Go map order, random per run: which peer leads partition 1
differs between runs (the transcript marks those fields volatile). The broker lists them in the
order of the ``peers`` configuration, so the simulation is deterministic.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["REPLICATION_FACTOR", "Assignment", "Member", "assign", "normalize_peer", "peer_members"]

#: Replicas per partition (the server's fixed cluster setting), capped by the member count.
REPLICATION_FACTOR = 3


@dataclass(frozen=True)
class Member:
    """A cluster member as one node knows it."""

    node_id: str
    #: Where clients reach it; for a peer this is its Raft address (all the server knows).
    client_addr: str


@dataclass(frozen=True)
class Assignment:
    """One partition's leadership as one node computed it."""

    leader: Member
    #: Node ids of the replicas, leader first (the ISR is the same list).
    replicas: tuple[str, ...]
    #: Whether the node that computed it leads the partition (it is always the first member).
    local: bool


def normalize_peer(addr: str) -> str:
    """The server's peer-address normalisation: a leading ``localhost`` becomes ``127.0.0.1``."""
    return "127.0.0.1" + addr[len("localhost") :] if addr.startswith("localhost") else addr


def peer_members(cluster_addr: str, peers: Sequence[str]) -> tuple[Member, ...]:
    """The configured peers as members (id = address = Raft address), in configuration order.

    A peer naming this node's own Raft address is skipped, and a repeated peer counts once, as in
    the server's membership map.
    """
    own = normalize_peer(cluster_addr)
    seen: dict[str, Member] = {}
    for raw in peers:
        addr = normalize_peer(raw)
        if addr != own and addr not in seen:
            seen[addr] = Member(addr, addr)
    return tuple(seen.values())


def assign(members: Sequence[Member], partition: int) -> Assignment:
    """Round-robin leadership of ``partition`` over ``members`` (the computing node first)."""
    if not members:
        raise ValueError("a cluster has at least one member (the node itself)")
    count = len(members)
    lead = partition % count
    replicas = tuple(members[(lead + j) % count].node_id for j in range(min(REPLICATION_FACTOR, count)))
    return Assignment(members[lead], replicas, local=lead == 0)
