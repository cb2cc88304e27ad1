"""What every example shares: where the FlyMQ server is.

``python examples/01_quick_start.py`` starts pyflymq's embedded broker on a free loopback port and
runs the example against it, so nothing has to be installed or running; ``--bootstrap HOST:PORT``
runs the same code against a real FlyMQ server instead.  The broker's address goes to stderr, so
stdout shows only what the example itself prints.
"""

from __future__ import annotations

import argparse
import socket
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

__all__ = ["TlsEndpoint", "example_server", "tls_example_server", "unreachable_address", "wait_until"]


def _parser(description: str | None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=(description or "").strip().splitlines()[0] or None)
    parser.add_argument(
        "--bootstrap",
        metavar="HOST:PORT",
        default=None,
        help="a running FlyMQ server (default: start the embedded broker for this run)",
    )
    return parser


@contextmanager
def example_server(description: str | None = None) -> Iterator[str]:
    """Yield the bootstrap address: ``--bootstrap``, or an embedded broker started for this run."""
    args = _parser(description).parse_args()
    if args.bootstrap:
        yield args.bootstrap
        return
    from pyflymq_broker.server import BrokerServer

    with BrokerServer() as server:
        print(f"[embedded FlyMQ broker on {server.address}]", file=sys.stderr)
        yield server.address


@dataclass(frozen=True)
class TlsEndpoint:
    """A TLS server and the PEM files to talk to it (``cert_file``/``key_file``: a client pair)."""

    address: str
    ca_file: str
    cert_file: str | None
    key_file: str | None


@contextmanager
def tls_example_server(description: str | None = None) -> Iterator[TlsEndpoint]:
    """Yield a TLS endpoint: ``--bootstrap`` + ``--ca-file`` (+ ``--cert-file``/``--key-file``), or an
    embedded TLS broker whose certificate is signed by a CA generated for this run."""
    parser = _parser(description)
    parser.add_argument("--ca-file", default=None, help="CA bundle of the --bootstrap server")
    parser.add_argument("--cert-file", default=None, help="client certificate (mTLS part)")
    parser.add_argument("--key-file", default=None, help="client private key (mTLS part)")
    args = parser.parse_args()
    if args.bootstrap:
        if not args.ca_file:
            parser.error("--bootstrap needs --ca-file for the TLS example")
        yield TlsEndpoint(args.bootstrap, args.ca_file, args.cert_file, args.key_file)
        return
    from pyflymq_broker.server import BrokerServer
    from pyflymq_broker.tls_testing import generate_tls_material

    with tempfile.TemporaryDirectory(prefix="pyflymq-tls-example-") as directory:
        material = generate_tls_material(directory)
        with BrokerServer(tls_cert_file=material.cert_file, tls_key_file=material.key_file) as server:
            print(f"[embedded FlyMQ TLS broker on {server.address}, CA {material.ca_file}]", file=sys.stderr)
            # The broker, like FlyMQ 1.26, never asks for a client certificate: its own pair stands in.
            yield TlsEndpoint(server.address, material.ca_file, material.cert_file, material.key_file)


def unreachable_address() -> str:
    """A loopback ``host:port`` where nothing listens (a cluster node that is down)."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]
    return f"127.0.0.1:{port}"


def wait_until(condition: Callable[[], bool], timeout: float = 15.0, what: str = "the condition") -> None:
    """Poll ``condition`` until it is true; ``TimeoutError`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} was not reached within {timeout:g} s")
        time.sleep(0.02)
