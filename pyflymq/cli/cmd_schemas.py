"""``pyflymq schemas register|get|list|validate|delete``: the server's schema registry.

Registration and lookup work whatever the server's ``schema.enabled`` switch says; the switch only
decides whether PRODUCE_WITH_SCHEMA validates on the server (SEMANTICS_NOTES #28).  ``validate``
asks the server (exit code 1 and the violations when the message does not match); note the server
checks only part of each schema language, while ``pyflymq produce --schema`` also validates locally.
"""

from __future__ import annotations

import argparse

from pyflymq.cli.output import FORMATS

__all__ = ["SCHEMA_TYPES", "register", "run_delete", "run_get", "run_list", "run_register", "run_validate"]

SCHEMA_TYPES = ("json", "avro", "protobuf")


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``schemas`` subcommand and its actions."""
    from pyflymq.cli._client import non_negative_int, positive_int

    parser = subparsers.add_parser(
        "schemas", help="register, show, list, validate against and delete schemas", description=__doc__
    )
    actions = parser.add_subparsers(title="actions", metavar="ACTION", required=True)

    p = actions.add_parser("register", help="register a new version of a schema")
    p.add_argument("name")
    p.add_argument("definition", nargs="?", default=None, help="the schema text, or '-' for stdin")
    p.add_argument("--file", "-f", metavar="PATH", default=None, help="read the schema from PATH")
    p.add_argument("--type", choices=SCHEMA_TYPES, default="json", help="schema language (default: json)")
    p.set_defaults(handler=run_register)

    p = actions.add_parser("get", help="print a schema version (default: the latest)")
    p.add_argument("name")
    p.add_argument("--version", type=non_negative_int, default=0, help="version (default 0 = latest)")
    p.add_argument("--format", choices=FORMATS, default="text")
    p.set_defaults(handler=run_get)

    p = actions.add_parser("list", help="every schema version (optionally of one name)")
    p.add_argument("name", nargs="?", default="")
    p.add_argument("--format", choices=FORMATS, default="text")
    p.set_defaults(handler=run_list)

    p = actions.add_parser("validate", help="validate a message against the latest version")
    p.add_argument("name")
    p.add_argument("message", nargs="?", default=None, help="the message, or '-' for stdin")
    p.add_argument("--file", "-f", metavar="PATH", default=None, help="read the message from PATH")
    p.set_defaults(handler=run_validate)

    p = actions.add_parser("delete", help="delete one version of a schema")
    p.add_argument("name")
    p.add_argument("--version", type=positive_int, required=True, help="the version to delete (>= 1)")
    p.set_defaults(handler=run_delete)


def run_register(args: argparse.Namespace) -> int:
    """Register the definition; print the new version."""
    from pyflymq.cli._client import open_client, read_input

    definition = read_input(args.definition, args.file, "schema").decode("utf-8")
    with open_client(args) as client:
        registration = client.register_schema(args.name, args.type, definition)
    print(f"registered {registration.name!r} version {registration.version} ({registration.type})")
    return 0


def run_get(args: argparse.Namespace) -> int:
    """Print the definition (text) or the whole record (JSON)."""
    from pyflymq.cli._client import open_client
    from pyflymq.cli.output import print_json

    with open_client(args) as client:
        info = client.get_schema(args.name, args.version)
    if args.format == "json":
        print_json(info.model_dump())
    else:
        print(
            f"# {info.name} version {info.version} ({info.type}, compatibility {info.compatibility or '-'})"
        )
        print(info.definition or "")
    return 0


def run_list(args: argparse.Namespace) -> int:
    """Print every schema version."""
    from pyflymq.cli._client import open_client
    from pyflymq.cli.output import print_json, print_table

    with open_client(args) as client:
        schemas = sorted(client.list_schemas(args.name), key=lambda s: (s.name, s.version))
    if args.format == "json":
        print_json([s.model_dump(exclude={"definition"}) for s in schemas])
    elif schemas:
        print_table(("name", "version", "type", "id"), [(s.name, s.version, s.type, s.id) for s in schemas])
    else:
        print("no schemas")
    return 0


def run_validate(args: argparse.Namespace) -> int:
    """Ask the server; exit 1 with the violations when the message does not match."""
    from pyflymq.cli._client import open_client, read_input
    from pyflymq_core.errors import SchemaValidationError

    message = read_input(args.message, args.file, "message")
    with open_client(args) as client:
        verdict = client.validate_schema(args.name, message)
    if not verdict.valid:
        raise SchemaValidationError(
            f"the message does not match schema {args.name!r}: " + "; ".join(verdict.errors or ["invalid"]),
            hint=f"`pyflymq schemas get {args.name}` prints the schema.",
        )
    print(f"valid against {args.name!r}")
    return 0


def run_delete(args: argparse.Namespace) -> int:
    """Delete one version."""
    from pyflymq.cli._client import open_client

    with open_client(args) as client:
        client.delete_schema(args.name, args.version)
    print(f"deleted {args.name!r} version {args.version}")
    return 0
