"""The ``pyflymq`` command line (also ``python -m pyflymq``).

``main(argv)`` returns the exit code instead of exiting, so tests and embedders can call it.  Errors
raised by pyflymq (:class:`~pyflymq_core.errors.FlyMQError`) are printed as ``error: ...`` and
``hint: ...`` on stderr with exit code 1 and no traceback; Ctrl+C exits with 130.  Any other
exception is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

from pyflymq import __version__
from pyflymq.cli.commands import SUBCOMMAND_MODULES
from pyflymq.cli.options import add_global_options, configure_logging
from pyflymq_core.errors import FlyMQError

__all__ = ["build_parser", "main"]

EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


def build_parser() -> argparse.ArgumentParser:
    """The full parser: global options plus every module listed in ``SUBCOMMAND_MODULES``."""
    parser = argparse.ArgumentParser(
        prog="pyflymq", description="Command line tools of pyflymq, the Python SDK for FlyMQ."
    )
    parser.add_argument("--version", action="version", version=f"pyflymq {__version__}")
    add_global_options(parser)
    subparsers = parser.add_subparsers(title="commands", metavar="COMMAND")
    for module_name in SUBCOMMAND_MODULES:
        importlib.import_module(module_name).register(subparsers)
    for subparser in subparsers.choices.values():
        add_global_options(subparser, suppress_defaults=True)
    return parser


def _exit_code(exc: SystemExit) -> int:
    if exc.code is None:
        return 0
    if isinstance(exc.code, int):
        return exc.code
    print(exc.code, file=sys.stderr)
    return EXIT_ERROR


def _report(exc: FlyMQError) -> None:
    print(f"error: {exc}", file=sys.stderr)
    if exc.hint:
        print(f"hint: {exc.hint}", file=sys.stderr)


def _silence_stdout() -> None:
    """After a broken pipe (``pyflymq ... | head``), keep the interpreter's final flush quiet."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError) as exc:  # stdout without a file descriptor (captured in tests)
        print(f"error: cannot redirect stdout after a broken pipe: {exc}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI with ``argv`` (default ``sys.argv[1:]``) and return the exit code."""
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        configure_logging(args.verbose)
        handler = getattr(args, "handler", None)
        if handler is None:
            parser.print_help(sys.stderr)
            return EXIT_USAGE
        return int(handler(args))
    except SystemExit as exc:
        return _exit_code(exc)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except FlyMQError as exc:
        _report(exc)
        return EXIT_ERROR
    except BrokenPipeError:
        _silence_stdout()
        return EXIT_ERROR
