"""What the data subcommands (topics, produce, consume, ...) share: connecting and argument types.

Kept apart from :mod:`pyflymq.cli.options` (the global options, owned by the CLI skeleton) and
imported lazily by the handlers, so ``pyflymq --help`` does not load the client.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pyflymq_core.client.sync_client import FlyMQClient

__all__ = ["non_negative_int", "open_client", "positive_int", "read_input"]


def open_client(args: argparse.Namespace, **overrides: Any) -> FlyMQClient:
    """A connected client built from the global options (``--bootstrap``, TLS, credentials)."""
    from pyflymq.cli.options import client_options
    from pyflymq_core.client.sync_client import FlyMQClient

    options = client_options(args)
    options.update(overrides)
    return FlyMQClient(**options)


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1."""
    value = _int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def non_negative_int(text: str) -> int:
    """argparse type: an integer >= 0."""
    value = _int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None


def read_input(value: str | None, path: str | None, what: str) -> bytes:
    """The bytes of ``value`` (``-`` = all of stdin) or of the file ``path``; exactly one is given."""
    from pyflymq_core.errors import InvalidArgumentError

    if (value is None) == (path is None):
        raise InvalidArgumentError(
            f"give the {what} either inline, as '-' for stdin, or with --file PATH",
            hint='Examples: ... \'{"type": "object"}\'   ... --file schema.json   ... - < schema.json',
        )
    if path is not None:
        try:
            with open(path, "rb") as handle:
                return handle.read()
        except OSError as exc:
            raise InvalidArgumentError(
                f"cannot read {path}: {exc.strerror or exc}", hint="Check the path given to --file."
            ) from exc
    assert value is not None
    if value == "-":
        return sys.stdin.buffer.read() if hasattr(sys.stdin, "buffer") else sys.stdin.read().encode()
    return value.encode("utf-8")
