"""A multi-node FlyMQ cluster in one process: one :class:`~pyflymq_broker.Broker` per node.

What a real 1.26.11 cluster replicates through Raft, every node here applies too: topic creation
and deletion, schemas, users and ACLs (:mod:`pyflymq_broker.raft_apply`). What the server keeps
per node stays per node: partition logs (not replicated at all: each node's FETCH sees only the
records written on that node), round-robin counters, consumer groups and offsets, delayed
messages, transactions, the audit trail, and each node's partition assignment
(:mod:`pyflymq_broker.membership`).

Which node leads: the real election is a race of randomised timeouts (2 s plus up to 2 s more;
the first node to time out asks for votes and, with every log empty, wins), so the leader differs
from run to run; the ``cluster-3node`` capture happened to elect ``node2``. The broker makes it a
choice: ``leader`` names the node; by default it is the first configuration, the node a test
starts first. Elections, terms, failover and membership changes are not simulated.

Serve the nodes over TCP with :class:`pyflymq_broker.cluster_server.ClusterServer`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType

from pyflymq_broker.broker import Broker, Clock
from pyflymq_broker.config import BrokerConfig
from pyflymq_broker.membership import normalize_peer
from pyflymq_broker.raft_group import RaftGroup
from pyflymq_core.errors import ConfigurationError

__all__ = ["BrokerCluster"]

#: ``BrokerCluster.local``: the first node's client port, and the distance between nodes' ports
#: (each node's Raft address is its client port + 1), as in the transcripts' ``cluster-3node``.
LOCAL_FIRST_PORT = 19160
LOCAL_PORT_STEP = 10


class BrokerCluster:
    """The nodes of one cluster, built from one configuration per node.

    Every configuration needs a ``cluster_addr`` and ``peers`` naming exactly the other nodes'
    Raft addresses; node ids and Raft addresses must be unique. ``clock`` and ``id_factory`` are
    shared by every node (see :class:`~pyflymq_broker.Broker`).
    """

    def __init__(
        self,
        configs: Sequence[BrokerConfig],
        *,
        leader: str | None = None,
        clock: Clock | None = None,
        id_factory: Callable[[], str] | None = None,
    ) -> None:
        _check_configs(configs)
        leader_id = configs[0].node_id if leader is None else leader
        if leader_id not in {c.node_id for c in configs}:
            raise ConfigurationError(
                f"leader {leader_id!r} is not a node of the cluster",
                hint=f"Name one of {[c.node_id for c in configs]}.",
            )
        self.group = RaftGroup(leader_id)
        nodes = []
        for config in configs:
            node = Broker(config, clock=clock, id_factory=id_factory, raft_group=self.group)
            self.group.join(node)
            nodes.append(node)
        #: Every node, in configuration order.
        self.nodes: tuple[Broker, ...] = tuple(nodes)

    @classmethod
    def local(
        cls,
        size: int = 3,
        *,
        base: BrokerConfig | None = None,
        first_port: int = LOCAL_FIRST_PORT,
        leader: str | None = None,
        clock: Clock | None = None,
        id_factory: Callable[[], str] | None = None,
    ) -> BrokerCluster:
        """``size`` nodes ``node1``, ``node2``... on 127.0.0.1, every other setting from ``base``.

        Node ``i`` (from 0) reports client address ``first_port + 10 i`` and Raft address one
        above it (a :class:`~pyflymq_broker.cluster_server.ClusterServer` started on other ports
        reports those instead).  A ``data_dir`` in ``base`` becomes one subdirectory per node
        (``<data_dir>/node1``...): each node persists its own state, as real nodes do.
        """
        if size < 1:
            raise ConfigurationError(f"a cluster has at least one node, not {size}")
        template = base if base is not None else BrokerConfig()
        raft = [f"127.0.0.1:{first_port + LOCAL_PORT_STEP * i + 1}" for i in range(size)]
        configs = [
            template.model_copy(
                update={
                    "node_id": f"node{i + 1}",
                    "bind_addr": f"127.0.0.1:{first_port + LOCAL_PORT_STEP * i}",
                    "advertise_addr": "",
                    "cluster_addr": raft[i],
                    "peers": tuple(a for a in raft if a != raft[i]),
                    "data_dir": None
                    if template.data_dir is None
                    else str(Path(template.data_dir) / f"node{i + 1}"),
                }
            )
            for i in range(size)
        ]
        return cls(configs, leader=leader, clock=clock, id_factory=id_factory)

    @classmethod
    def from_json_files(
        cls,
        paths: Sequence[str | Path],
        *,
        leader: str | None = None,
        clock: Clock | None = None,
        id_factory: Callable[[], str] | None = None,
    ) -> BrokerCluster:
        """One node per FlyMQ server configuration file (e.g. ``profiles/cluster-3node.node*.json``)."""
        configs = [BrokerConfig.from_json_file(p) for p in paths]
        return cls(configs, leader=leader, clock=clock, id_factory=id_factory)

    def __repr__(self) -> str:
        return (
            f"<BrokerCluster nodes={[n.config.node_id for n in self.nodes]} leader={self.group.leader_id!r}>"
        )

    def node(self, node_id: str) -> Broker:
        """The node with that id."""
        for node in self.nodes:
            if node.config.node_id == node_id:
                return node
        raise KeyError(f"no node {node_id!r} in {[n.config.node_id for n in self.nodes]}")

    @property
    def leader(self) -> Broker:
        """The Raft leader's node: the only one that accepts metadata writes."""
        return self.group.leader

    @property
    def followers(self) -> tuple[Broker, ...]:
        """The other nodes, in configuration order."""
        return tuple(n for n in self.nodes if n is not self.leader)

    def close(self) -> None:
        """Close every node (releases ``data_dir`` files; the in-memory state stays usable)."""
        for node in self.nodes:
            node.close()

    def __enter__(self) -> BrokerCluster:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def _check_configs(configs: Sequence[BrokerConfig]) -> None:
    """Refuse configurations that would not form one cluster, before any node is built."""
    if not configs:
        raise ConfigurationError("a cluster needs at least one node configuration")
    ids = [c.node_id for c in configs]
    if len(set(ids)) != len(ids):
        raise ConfigurationError(
            f"node ids must be unique, got {ids}", hint="Give every node its own node_id."
        )
    missing = [c.node_id for c in configs if not c.cluster_addr]
    if missing:
        raise ConfigurationError(
            f"nodes {missing} have no cluster_addr", hint="Every node of a cluster needs its Raft address."
        )
    raft = [normalize_peer(c.cluster_addr) for c in configs]
    if len(set(raft)) != len(raft):
        raise ConfigurationError(f"Raft addresses must be unique, got {raft}")
    for config, own in zip(configs, raft, strict=True):
        expected = {a for a in raft if a != own}
        configured = {normalize_peer(p) for p in config.peers} - {own}
        if configured != expected:
            raise ConfigurationError(
                f"node {config.node_id!r} has peers {sorted(configured)}, "
                f"but the other nodes' Raft addresses are {sorted(expected)}",
                hint="List every other node's cluster_addr in peers (BrokerCluster.local builds them).",
            )
