"""``pyflymq broker``: run the embedded broker on TCP/TLS until SIGINT or SIGTERM.

On startup it prints the bound ``host:port`` as one flushed line on stdout (with ``--port 0`` that
is how scripts learn the ephemeral port); everything else goes to logging (stderr).

With ``--nodes N`` (N > 1) it serves a simulated multi-node cluster instead
(:class:`~pyflymq_broker.multinode.BrokerCluster`, one TCP port per node) and prints one
``host:port node_id`` line per node, the Raft leader first, then stops them all on a signal.

The options are parsed by :mod:`pyflymq.cli.cmd_broker` (``host``, ``port``, ``config``,
``data_dir``, ``tls_cert``, ``tls_key``, ``nodes``, ``leader``, ``upstream_defaults`` on the
namespace); this module turns them into a configured, running server.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
from typing import Any

from pyflymq_broker.cluster_server import ClusterServer, start_all
from pyflymq_broker.config import BrokerConfig
from pyflymq_broker.multinode import BrokerCluster
from pyflymq_broker.server import BrokerServer, make_server_ssl_context
from pyflymq_core.errors import ConfigurationError
from pyflymq_transports.base import parse_address

__all__ = ["DEFAULT_PORT", "build_config", "run"]

logger = logging.getLogger("pyflymq.broker")

DEFAULT_PORT = 9092


def build_config(args: argparse.Namespace) -> BrokerConfig:
    """The broker configuration the options describe (file, then switches, then --data-dir)."""
    if args.config:
        try:
            config = BrokerConfig.from_json_file(args.config)
        except (OSError, ValueError) as exc:  # pydantic's ValidationError is a ValueError
            raise ConfigurationError(
                f"cannot load the broker configuration {args.config}: {exc}",
                hint="Pass a FlyMQ server configuration file (JSON), e.g. the server's flymq.json.",
            ) from exc
    else:
        config = BrokerConfig()
    updates: dict[str, Any] = {}
    if args.upstream_defaults:
        updates.update(config.upstream_feature_defaults())
    if args.data_dir:
        updates["data_dir"] = args.data_dir
    if updates:
        config = config.model_copy(update=updates)
    return config


def _listen_address(args: argparse.Namespace, config: BrokerConfig) -> tuple[str, int]:
    """Explicit options win over the config's ``bind_addr``; then 127.0.0.1:9092."""
    host, port = "127.0.0.1", DEFAULT_PORT
    bind = config.bind_addr if args.config else ""
    if bind:
        parsed = parse_address(bind)
        host, port = parsed.host or "0.0.0.0", parsed.port  # ":9092" binds every interface in Go
    if args.host is not None:
        host = args.host
    if args.port is not None:
        port = args.port
    return host, port


def _tls_files(args: argparse.Namespace, config: BrokerConfig) -> tuple[str | None, str | None]:
    cert, key = args.tls_cert, args.tls_key
    if cert is None and key is None:
        cert, key = config.tls_files()
    if (cert is None) != (key is None):
        raise ConfigurationError(
            "TLS needs both --tls-cert and --tls-key", hint="Pass both PEM files, or neither for plain TCP."
        )
    return cert, key


def _install_signal_handlers(servers: list[BrokerServer]) -> list[signal.Signals]:
    """SIGINT/SIGTERM stop the servers; returns the signals handled through the loop."""
    loop = asyncio.get_running_loop()
    installed: list[signal.Signals] = []

    def stop() -> None:
        for server in servers:
            server.request_stop()

    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop)
            installed.append(sig)
        except NotImplementedError:  # Windows: plain handlers (request_stop is thread-safe)
            signal.signal(sig, lambda _signum, _frame: stop())
        except RuntimeError as exc:  # not the main thread: only request_stop() can stop it
            logger.warning("cannot handle %s (%s); stop the broker with request_stop()", sig.name, exc)
    return installed


async def _serve(servers: list[BrokerServer], banner: list[str]) -> None:
    """Bind every server, print ``banner`` (one flushed line each), serve until a stop signal."""
    await start_all(servers)
    installed = _install_signal_handlers(servers)
    print("\n".join(line.format(*(s.address for s in servers)) for line in banner), flush=True)
    try:
        await asyncio.gather(*(server.serve() for server in servers))
    finally:
        loop = asyncio.get_running_loop()
        for sig in installed:
            loop.remove_signal_handler(sig)


def _cluster(args: argparse.Namespace, config: BrokerConfig, host: str, port: int) -> ClusterServer:
    """The ``--nodes`` cluster: node1..nodeN on ``port``, ``port + 1``... (0: free ports)."""
    if args.nodes < 1:
        raise ConfigurationError(
            f"--nodes must be at least 1, not {args.nodes}",
            hint="--nodes 1 (the default) serves one standalone broker; --nodes 3 a simulated cluster.",
        )
    cluster = BrokerCluster.local(args.nodes, base=config, leader=args.leader)
    cert, key = _tls_files(args, config)
    context = None if cert is None or key is None else make_server_ssl_context(cert, key)
    ports = [0 if port == 0 else port + i for i in range(args.nodes)]
    return ClusterServer(cluster, host=host, ports=ports, ssl_context=context)


def run(args: argparse.Namespace) -> int:
    """Start the broker the parsed ``args`` describe and serve until a stop signal; exit code 0."""
    config = build_config(args)
    host, port = _listen_address(args, config)
    if args.nodes != 1 or args.leader is not None:
        cluster = _cluster(args, config, host, port)
        servers = list(cluster.servers)
        leader = cluster.cluster.leader
        order = sorted(range(len(servers)), key=lambda i: servers[i].broker is not leader)
        banner = [f"{{{i}}} {servers[i].broker.config.node_id}" for i in order]
    else:
        cert, key = _tls_files(args, config)
        servers = [BrokerServer(config=config, host=host, port=port, tls_cert_file=cert, tls_key_file=key)]
        banner = ["{0}"]
    asyncio.run(_serve(servers, banner))
    logger.info("broker stopped")
    return 0
