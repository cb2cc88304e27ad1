"""``pyflymq broker``: run the embedded FlyMQ broker (implementation in :mod:`pyflymq_broker.cli`).

Only the parser lives here: importing :mod:`pyflymq_broker` loads the whole broker (pydantic
models, handlers), which ``pyflymq --help`` and every other subcommand must not pay for.
"""

from __future__ import annotations

import argparse
import sys

__all__ = ["DEFAULT_PORT", "add_arguments", "register", "run"]

DEFAULT_PORT = 9092


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The broker's own options (host, port, config, persistence, TLS, cluster size, feature defaults)."""
    group = parser.add_argument_group("broker")
    group.add_argument(
        "--host", default=None, help="address to bind (default: the config's bind_addr, else 127.0.0.1)"
    )
    group.add_argument(
        "--port",
        type=int,
        default=None,
        help=f"port to bind; 0 = any free port (default: the config's bind_addr, else {DEFAULT_PORT})",
    )
    group.add_argument(
        "--config",
        metavar="PATH",
        default=None,
        help="server configuration JSON in the FlyMQ server's format (unknown keys are ignored)",
    )
    group.add_argument(
        "--data-dir", metavar="DIR", default=None, help="persist state in DIR (default: in memory only)"
    )
    group.add_argument("--tls-cert", metavar="PATH", default=None, help="serve TLS with this certificate")
    group.add_argument("--tls-key", metavar="PATH", default=None, help="private key of --tls-cert")
    group.add_argument(
        "--nodes",
        type=int,
        default=1,
        metavar="N",
        help="simulate a FlyMQ 1.26 cluster of N nodes (node1..nodeN) on consecutive ports from --port "
        "(or free ports with --port 0); prints one 'host:port node_id' line per node, the Raft leader "
        "first (default: 1, a standalone server)",
    )
    group.add_argument(
        "--leader",
        metavar="NODE_ID",
        default=None,
        help="with --nodes: the node that is the Raft leader (default: node1)",
    )
    group.add_argument(
        "--upstream-defaults",
        action="store_true",
        help="use the real server's defaults: schema, dlq, delayed and transaction features off "
        "(the embedded broker turns them on by default)",
    )


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``broker`` subcommand."""
    parser = subparsers.add_parser(
        "broker",
        help="run the embedded FlyMQ broker on TCP/TLS (for tests and local development)",
        description="Run the embedded, protocol-faithful FlyMQ broker. Prints the bound host:port on "
        "startup (one line on stdout) and stops cleanly on SIGINT/SIGTERM. State is in memory unless "
        "--data-dir is given. The connection options (--bootstrap, --username, ...) do not apply.",
    )
    add_arguments(parser)
    parser.set_defaults(handler=run)


#: The client's TLS options (shared by every command): given to ``broker`` they would do nothing, and
#: the broker would serve plain TCP to someone who asked for TLS.
_CLIENT_TLS_OPTIONS = (
    ("--tls", "tls"),
    ("--tls-ca-file", "tls_ca_file"),
    ("--tls-cert-file", "tls_cert_file"),
    ("--tls-key-file", "tls_key_file"),
    ("--tls-insecure-skip-verify", "tls_insecure_skip_verify"),
)


def run(args: argparse.Namespace) -> int:
    """Serve until stopped; the exit code (2 for client options given to the broker)."""
    given = [flag for flag, dest in _CLIENT_TLS_OPTIONS if getattr(args, dest, None)]
    if given:
        print(
            f"pyflymq broker: {', '.join(given)} configure a client's connection, not the broker; "
            "serve TLS with --tls-cert PATH --tls-key PATH",
            file=sys.stderr,
        )
        return 2
    from pyflymq_broker.cli import run as run_broker

    return run_broker(args)
