"""Options shared by every subcommand: server address, credentials, TLS and verbosity.

They are accepted both before and after the subcommand name (``pyflymq -v plugins`` and
``pyflymq plugins -v``).  Defaults come from the environment (``FLYMQ_BOOTSTRAP``,
``FLYMQ_USERNAME``, ``FLYMQ_PASSWORD``), read when the parser is built.
"""

from __future__ import annotations

import argparse
import logging
import os
from typing import Any

__all__ = ["DEFAULT_BOOTSTRAP", "add_global_options", "client_options", "configure_logging"]

DEFAULT_BOOTSTRAP = "localhost:9092"


def add_global_options(parser: argparse.ArgumentParser, *, suppress_defaults: bool = False) -> None:
    """Add the shared options to ``parser``.

    With ``suppress_defaults`` (used on subparsers) an option left out after the subcommand does not
    overwrite the value given before it.
    """

    def default(value: Any) -> Any:
        return argparse.SUPPRESS if suppress_defaults else value

    conn = parser.add_argument_group("connection")
    conn.add_argument(
        "--bootstrap",
        metavar="SERVERS",
        default=default(os.environ.get("FLYMQ_BOOTSTRAP", DEFAULT_BOOTSTRAP)),
        help=f"comma-separated host:port list (env FLYMQ_BOOTSTRAP; default {DEFAULT_BOOTSTRAP})",
    )
    conn.add_argument(
        "--username", default=default(os.environ.get("FLYMQ_USERNAME")), help="user name (env FLYMQ_USERNAME)"
    )
    conn.add_argument(
        "--password",
        default=default(os.environ.get("FLYMQ_PASSWORD")),
        help="password (env FLYMQ_PASSWORD; prefer the variable, command lines are visible to other users)",
    )
    tls = parser.add_argument_group("TLS (any TLS option turns TLS on)")
    tls.add_argument("--tls", action="store_true", default=default(False), help="connect with TLS")
    tls.add_argument(
        "--tls-ca-file", metavar="PATH", default=default(None), help="CA bundle to verify the server"
    )
    tls.add_argument(
        "--tls-cert-file", metavar="PATH", default=default(None), help="client certificate (mTLS)"
    )
    tls.add_argument(
        "--tls-key-file", metavar="PATH", default=default(None), help="client private key (mTLS)"
    )
    tls.add_argument(
        "--tls-insecure-skip-verify",
        action="store_true",
        default=default(False),
        help="do not verify the server certificate (testing only)",
    )
    parser.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=default(0),
        help="log more (-v: info, -vv: debug) to stderr",
    )


def client_options(args: argparse.Namespace) -> dict[str, Any]:
    """The parsed shared options as ``ClientConfig`` keyword arguments, for subcommands that connect."""
    tls_enabled = bool(
        args.tls
        or args.tls_ca_file
        or args.tls_cert_file
        or args.tls_key_file
        or args.tls_insecure_skip_verify
    )
    options: dict[str, Any] = {"bootstrap_servers": args.bootstrap, "tls_enabled": tls_enabled}
    if args.username is not None:
        options["username"] = args.username
    if args.password is not None:
        options["password"] = args.password
    if tls_enabled:
        options.update(
            tls_ca_file=args.tls_ca_file,
            tls_cert_file=args.tls_cert_file,
            tls_key_file=args.tls_key_file,
            tls_insecure_skip_verify=bool(args.tls_insecure_skip_verify),
        )
    return options


def configure_logging(verbosity: int) -> None:
    """Route log records to stderr: warnings by default, info with -v, debug with -vv."""
    level = logging.WARNING if verbosity <= 0 else logging.INFO if verbosity == 1 else logging.DEBUG
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
