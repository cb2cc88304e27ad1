"""Standalone server or Raft cluster node: the few answers that depend on the topology.

The real server runs in cluster mode as soon as its configuration names a ``cluster_addr``; with
no ``peers`` that is a one-node Raft cluster (the upstream default topology, transcript profile
``raft-single``). Its answers then differ from a standalone server's in exactly these places:

* CLUSTER_METADATA reports the node's own id as ``cluster_id`` (not ``"standalone"``) and its
  client-facing address (``advertise_addr``, else ``bind_addr``) as the leader address of the
  partitions it leads (all of them when it is alone);
* a produce-type request to a missing topic auto-creates it with 6 partitions instead of 1;
* metadata writes are proposed through Raft and answered before the proposal is applied, so an
  apply-time failure (invalid or incompatible schema, deleting a missing schema version) is
  answered as a success and only logged (see :mod:`pyflymq_broker.raft_apply`).

Everything else (idempotent create/delete, FNV-1a keyed partitioning, the per-topic round-robin,
``unknown opcode`` for CLUSTER_JOIN/LEAVE/STATUS) is the same in both modes. A node of a multi-node
cluster (``peers``, built with :class:`pyflymq_broker.multinode.BrokerCluster`) has this topology
too; what being a leader or a follower adds is in :mod:`pyflymq_broker.raft_group`.
"""

from __future__ import annotations

from dataclasses import dataclass

from pyflymq_broker.config import BrokerConfig

__all__ = ["CLUSTER_AUTO_CREATE_PARTITIONS", "STANDALONE_CLUSTER_ID", "Topology"]

#: CLUSTER_METADATA ``cluster_id`` of a standalone server.
STANDALONE_CLUSTER_ID = "standalone"
#: Partitions of a topic auto-created by a produce on a standalone server.
STANDALONE_AUTO_CREATE_PARTITIONS = 1
#: Partitions of a topic auto-created by a produce on the Raft leader of a cluster.
CLUSTER_AUTO_CREATE_PARTITIONS = 6


@dataclass(frozen=True)
class Topology:
    """The topology-dependent part of the server's behaviour, derived from a configuration."""

    #: Whether the server runs Raft (a ``cluster_addr`` is configured).
    cluster_mode: bool
    #: Partition count of topics auto-created by produce-type requests.
    auto_create_partitions: int
    #: Whether metadata writes are answered before they are applied (their failures go unseen).
    answers_before_apply: bool

    @classmethod
    def of(cls, config: BrokerConfig) -> Topology:
        """The topology ``config`` selects: cluster mode exactly when ``cluster_addr`` is set.

        Fixed for the broker's lifetime, as the real server decides at start-up.
        """
        if not config.cluster_addr:
            return cls(False, STANDALONE_AUTO_CREATE_PARTITIONS, answers_before_apply=False)
        return cls(True, CLUSTER_AUTO_CREATE_PARTITIONS, answers_before_apply=True)

    def cluster_id(self, config: BrokerConfig) -> str:
        """CLUSTER_METADATA ``cluster_id``: ``"standalone"``, or in a cluster the answering node's id."""
        return config.node_id if self.cluster_mode else STANDALONE_CLUSTER_ID

    def leader_addr_field(self, config: BrokerConfig) -> str:
        """The configuration field reported as every partition's ``leader_addr``.

        Standalone: ``bind_addr`` (verbatim). Cluster: the client-facing address,
        ``advertise_addr`` when set, else ``bind_addr`` (the real server then replaces an empty or
        wildcard host by a detected local IP; the broker keeps it verbatim). The TCP server
        rewrites this field when it listens elsewhere.
        """
        return "advertise_addr" if self.cluster_mode and config.advertise_addr else "bind_addr"

    def leader_addr(self, config: BrokerConfig) -> str:
        """This node's client address: CLUSTER_METADATA ``leader_addr`` of the partitions it leads
        (all of them when it is alone), and what ``not leader`` answers name when it is the leader."""
        return str(getattr(config, self.leader_addr_field(config)))
