"""Serve every node of a :class:`~pyflymq_broker.multinode.BrokerCluster` on its own TCP port.

One :class:`~pyflymq_broker.server.BrokerServer` per node: ``start()``/``stop()`` (or ``with``)
give each its own background loop thread; ``async with`` runs them all on the caller's loop.

Each node reports the address it really listens on as its client address (the server rewrites
the node's ``bind_addr``/``advertise_addr``, see ``BrokerServer``), so CLUSTER_METADATA names it as
the leader of its partition 0 and the followers' ``not leader`` answers name the leader's real
address. The other nodes still appear in a node's metadata under their Raft address, where nothing
listens: that is what a real 1.26.11 cluster reports, and a client that follows those addresses
fails here as it would there.
"""

from __future__ import annotations

import ssl
from collections.abc import Sequence
from types import TracebackType

from pyflymq_broker.multinode import BrokerCluster
from pyflymq_broker.server import DEFAULT_HOST, DEFAULT_IDLE_TIMEOUT, DEFAULT_TICK_INTERVAL, BrokerServer
from pyflymq_core.errors import ConfigurationError

__all__ = ["ClusterServer", "start_all"]


async def start_all(servers: Sequence[BrokerServer]) -> None:
    """Bind every server on the running loop, in order; if one fails, close all of them and re-raise
    (closing is idempotent, so the ones never bound are harmless to close)."""
    try:
        for srv in servers:
            await srv.start_serving()
    except BaseException:
        for srv in reversed(servers):
            await srv.aclose()
        raise


class ClusterServer:
    """TCP (or TLS) servers for every node of ``cluster``, in the cluster's node order.

    ``ports`` gives one port per node (default: ephemeral ports). The cluster stays the caller's:
    stopping the servers does not close its nodes.
    """

    def __init__(
        self,
        cluster: BrokerCluster,
        *,
        host: str = DEFAULT_HOST,
        ports: Sequence[int] | None = None,
        ssl_context: ssl.SSLContext | None = None,
        tick_interval: float = DEFAULT_TICK_INTERVAL,
        idle_timeout: float | None = DEFAULT_IDLE_TIMEOUT,
    ) -> None:
        nodes = cluster.nodes
        chosen = list(ports) if ports is not None else [0] * len(nodes)
        if len(chosen) != len(nodes):
            raise ConfigurationError(
                f"{len(chosen)} ports for {len(nodes)} nodes",
                hint="Give one port per node (0 = any free port).",
            )
        self.cluster = cluster
        #: One server per node, in the cluster's node order.
        self.servers: tuple[BrokerServer, ...] = tuple(
            BrokerServer(
                node,
                host=host,
                port=port,
                ssl_context=ssl_context,
                tick_interval=tick_interval,
                idle_timeout=idle_timeout,
            )
            for node, port in zip(nodes, chosen, strict=True)
        )

    def __repr__(self) -> str:
        return f"<ClusterServer {[repr(s) for s in self.servers]}>"

    def server(self, node_id: str) -> BrokerServer:
        """The server of the node with that id."""
        for srv in self.servers:
            if srv.broker.config.node_id == node_id:
                return srv
        raise KeyError(f"no node {node_id!r} in {[s.broker.config.node_id for s in self.servers]}")

    @property
    def addresses(self) -> dict[str, str]:
        """Node id -> ``host:port`` where the node listens (once started)."""
        return {srv.broker.config.node_id: srv.address for srv in self.servers}

    @property
    def leader_address(self) -> str:
        """Where the Raft leader listens: the node that accepts metadata writes."""
        return self.server(self.cluster.leader.config.node_id).address

    # ------------------------------------------------------------------ thread API

    def start(self, timeout: float = 10.0) -> ClusterServer:
        """Start every node's server in its own thread; if one fails, stop the started ones."""
        started: list[BrokerServer] = []
        try:
            for srv in self.servers:
                srv.start(timeout)
                started.append(srv)
        except BaseException:
            for srv in reversed(started):
                srv.stop(timeout)
            raise
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Stop every server started with :meth:`start`; idempotent."""
        for srv in reversed(self.servers):
            srv.stop(timeout)

    def __enter__(self) -> ClusterServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # ------------------------------------------------------------------ asyncio API

    async def start_serving(self) -> None:
        """Bind every node's server on the running loop; on failure close the ones already bound."""
        await start_all(self.servers)

    async def aclose(self) -> None:
        """Close every server (idempotent)."""
        for srv in reversed(self.servers):
            await srv.aclose()

    async def __aenter__(self) -> ClusterServer:
        await self.start_serving()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()
