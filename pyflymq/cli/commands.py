"""The one list of CLI subcommands.

Each entry is a module exposing ``register(subparsers)``, which adds its subparser and sets
``handler`` (``(argparse.Namespace) -> int``, the exit code) with ``set_defaults``.  Adding a
subcommand = writing ``pyflymq/cli/<name>.py`` + one line here.  Keep module-level imports of
subcommand modules light (import clients, pydantic, etc. inside the handler) so ``pyflymq --help``
stays fast.
"""

from __future__ import annotations

SUBCOMMAND_MODULES: tuple[str, ...] = (
    "pyflymq.cli.plugins",
    "pyflymq.cli.cmd_broker",
    "pyflymq.cli.cmd_demo",
    "pyflymq.cli.cmd_topics",
    "pyflymq.cli.cmd_produce",
    "pyflymq.cli.cmd_consume",
    "pyflymq.cli.cmd_groups",
    "pyflymq.cli.cmd_schemas",
    "pyflymq.cli.cmd_dlq",
    "pyflymq.cli.cmd_bench",
)
