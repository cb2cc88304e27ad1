"""``pyflymq dlq fetch|replay|purge``: the dead-letter queue of a topic (``<topic>.dlq``).

The server never dead-letters by itself over the binary protocol: records get there when a
consumer (e.g. pyflymq's ``ConsumerGroup``) writes them.  ``fetch`` always reads from the start of
the DLQ and returns nothing when the server's DLQ feature is off; ``replay`` re-produces a record to
its original topic and leaves it in the DLQ; ``purge`` deletes the whole DLQ (SEMANTICS_NOTES #27).
"""

from __future__ import annotations

import argparse

from pyflymq.cli.output import FORMATS

__all__ = ["register", "run_fetch", "run_purge", "run_replay"]


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``dlq`` subcommand and its actions."""
    from pyflymq.cli._client import positive_int

    parser = subparsers.add_parser(
        "dlq", help="inspect, replay and purge dead-letter queues", description=__doc__
    )
    actions = parser.add_subparsers(title="actions", metavar="ACTION", required=True)

    p = actions.add_parser("fetch", help="print the dead-letter records of a topic")
    p.add_argument("topic")
    p.add_argument("--max", "-n", type=positive_int, default=100, help="at most N records (default 100)")
    p.add_argument("--format", choices=FORMATS, default="text")
    p.set_defaults(handler=run_fetch)

    p = actions.add_parser("replay", help="re-produce dead-letter records to their original topic")
    p.add_argument("topic")
    p.add_argument("ids", nargs="*", metavar="ID", help="record ids (see `dlq fetch`)")
    p.add_argument("--all", action="store_true", help="replay every record (up to --max)")
    p.add_argument(
        "--max", "-n", type=positive_int, default=1000, help="with --all: at most N (default 1000)"
    )
    p.set_defaults(handler=run_replay)

    p = actions.add_parser("purge", help="delete every dead-letter record of a topic")
    p.add_argument("topic")
    p.set_defaults(handler=run_purge)


def run_fetch(args: argparse.Namespace) -> int:
    """Print id, retries, error and payload of each record."""
    from pyflymq.cli._client import open_client
    from pyflymq.cli.output import bytes_field, print_json, print_table

    with open_client(args) as client:
        messages = client.fetch_dlq(args.topic, max_messages=args.max)
    if args.format == "json":
        print_json(
            [
                {"id": m.id, "error": m.error, "retries": m.retries, **bytes_field("data", m.data)}
                for m in messages
            ]
        )
    elif messages:
        rows = [(m.id, m.retries, m.error, m.data.decode("utf-8", "replace")) for m in messages]
        print_table(("id", "retries", "error", "data"), rows, title=f"dead letters of {args.topic}")
    else:
        print(f"no dead-letter records for {args.topic} (or the server's DLQ feature is off)")
    return 0


def run_replay(args: argparse.Namespace) -> int:
    """Replay the given ids (or all with ``--all``)."""
    from pyflymq.cli._client import open_client
    from pyflymq_core.errors import InvalidArgumentError

    if bool(args.ids) == bool(args.all):
        raise InvalidArgumentError(
            "give record ids or --all (not both)", hint=f"`pyflymq dlq fetch {args.topic}` lists the ids."
        )
    from pyflymq_core.errors import NotFoundError

    with open_client(args) as client:
        ids = args.ids or [m.id for m in client.fetch_dlq(args.topic, max_messages=args.max)]
        for record_id in ids:
            try:
                client.replay_dlq(args.topic, record_id)
            except NotFoundError as exc:  # no DLQ topic: nothing was dead-lettered, or it was purged
                exc.hint = (
                    f"{args.topic!r} has no dead-letter records: `pyflymq dlq fetch {args.topic}` lists them."
                )
                raise
            print(f"replayed {record_id}")
    if not ids:
        print(f"no dead-letter records for {args.topic}")
    return 0


def run_purge(args: argparse.Namespace) -> int:
    """Delete the topic's DLQ."""
    from pyflymq.cli._client import open_client

    with open_client(args) as client:
        client.purge_dlq(args.topic)
    print(f"purged the dead-letter queue of {args.topic}")
    return 0
