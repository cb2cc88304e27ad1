"""``pyflymq groups list|describe|lag|reset|delete``: consumer-group offsets.

A FlyMQ consumer group is offset storage keyed by (topic, group id) plus a member counter; the
server assigns nothing (SEMANTICS_NOTES #13).  So ``describe``, ``reset`` and ``delete`` work on one
topic of a group: ``--topic`` is required where the server needs it, and ``describe`` without it
shows every topic the group has offsets for.

``lag`` compares the committed offsets with each partition's end.  The server reports an end of 1
for an empty partition (#5); ``lag`` corrects that and says so.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from pyflymq.cli.output import FORMATS

if TYPE_CHECKING:
    from pyflymq_core.client.sync_client import FlyMQClient
    from pyflymq_core.models import GroupInfo

__all__ = ["register", "run_delete", "run_describe", "run_lag", "run_list", "run_reset"]


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``groups`` subcommand and its actions."""
    from pyflymq.cli._client import non_negative_int

    parser = subparsers.add_parser(
        "groups",
        help="list, describe, inspect lag of, reset and delete consumer groups",
        description="Consumer-group offsets (FlyMQ keys groups by topic + group id).",
    )
    actions = parser.add_subparsers(title="actions", metavar="ACTION", required=True)

    p = actions.add_parser("list", help="every (topic, group) with members and committed offsets")
    p.add_argument("--topic", "-t", default=None, help="only groups of this topic")
    p.add_argument("--format", choices=FORMATS, default="text")
    p.set_defaults(handler=run_list)

    p = actions.add_parser("describe", help="a group's members and committed offsets")
    p.add_argument("group")
    p.add_argument("--topic", "-t", default=None, help="the topic (default: every topic of the group)")
    p.add_argument("--format", choices=FORMATS, default="text")
    p.set_defaults(handler=run_describe)

    p = actions.add_parser("lag", help="committed offset, end offset and lag per partition")
    p.add_argument("group")
    p.add_argument("--topic", "-t", required=True)
    p.add_argument("--partition", "-p", type=non_negative_int, default=None, help="only this partition")
    p.add_argument("--format", choices=FORMATS, default="text")
    p.set_defaults(handler=run_lag)

    p = actions.add_parser("reset", help="move a group's committed offsets")
    p.add_argument("group")
    p.add_argument("--topic", "-t", required=True)
    p.add_argument("--partition", "-p", type=non_negative_int, default=None, help="only this partition")
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--to-earliest", action="store_true", help="to the first record")
    where.add_argument("--to-latest", action="store_true", help="past the last record")
    where.add_argument("--to-offset", type=non_negative_int, metavar="N", help="to offset N")
    p.set_defaults(handler=run_reset)

    p = actions.add_parser("delete", help="delete a group's offsets for a topic")
    p.add_argument("group")
    p.add_argument("--topic", "-t", required=True)
    p.set_defaults(handler=run_delete)


def _group_rows(groups: list[GroupInfo]) -> list[tuple[Any, ...]]:
    rows = []
    for g in sorted(groups, key=lambda g: (g.topic, g.group_id)):
        offsets = ", ".join(f"{o.partition}:{o.offset}" for o in sorted(g.offsets, key=lambda o: o.partition))
        rows.append((g.topic, g.group_id, g.members, offsets or "-"))
    return rows


def run_list(args: argparse.Namespace) -> int:
    """Print every group (optionally of one topic)."""
    from pyflymq.cli._client import open_client
    from pyflymq.cli.output import print_json, print_table

    with open_client(args) as client:
        groups = client.list_groups()
    if args.topic is not None:
        groups = [g for g in groups if g.topic == args.topic]
    if args.format == "json":
        print_json([g.model_dump() for g in sorted(groups, key=lambda g: (g.topic, g.group_id))])
    elif groups:
        print_table(("topic", "group", "members", "committed (partition:offset)"), _group_rows(groups))
    else:
        print("no consumer groups")
    return 0


def _find_group(client: FlyMQClient, group: str, topic: str | None) -> list[GroupInfo]:
    from pyflymq_core.errors import GroupNotFoundError

    if topic is not None:
        return [client.describe_group(topic, group)]
    found = [g for g in client.list_groups() if g.group_id == group]
    if not found:
        raise GroupNotFoundError(
            f"consumer group not found: {group}",
            hint="`pyflymq groups list` shows the groups; a group exists once it committed an offset "
            "or subscribed.",
        )
    return found


def run_describe(args: argparse.Namespace) -> int:
    """Print the group's entry for each of its topics."""
    from pyflymq.cli._client import open_client
    from pyflymq.cli.output import print_json, print_table

    with open_client(args) as client:
        groups = _find_group(client, args.group, args.topic)
    if args.format == "json":
        print_json([g.model_dump() for g in groups])
        return 0
    for g in sorted(groups, key=lambda g: g.topic):
        rows = [(o.partition, o.offset) for o in sorted(g.offsets, key=lambda o: o.partition)]
        print_table(
            ("partition", "committed offset"),
            rows or [("-", "-")],
            title=f"group {g.group_id} on topic {g.topic}: {g.members} member(s)",
        )
    return 0


def _partitions(client: FlyMQClient, topic: str, partition: int | None) -> list[int]:
    from pyflymq_core.errors import InvalidArgumentError

    count = client.get_topic_metadata(topic).partition_count
    if partition is None:
        return list(range(count))
    if partition >= count:
        raise InvalidArgumentError(
            f"topic {topic!r} has {count} partition(s); there is no partition {partition}",
            hint=f"Use --partition 0..{count - 1}, or leave it out for every partition.",
        )
    return [partition]


def run_lag(args: argparse.Namespace) -> int:
    """Print committed offset, end offset and lag of each partition, and the total lag."""
    from pyflymq.cli._client import open_client
    from pyflymq.cli.output import print_json, print_table
    from pyflymq_core.consumer.assignment import TopicPartition
    from pyflymq_core.consumer.offsets import end_offsets

    rows = []
    with open_client(args) as client:
        partitions = _partitions(client, args.topic, args.partition)
        ends = end_offsets(client, [TopicPartition(args.topic, p) for p in partitions])
        for p in partitions:
            lag = client.get_lag(args.topic, args.group, p)
            end = ends[TopicPartition(args.topic, p)]
            rows.append(
                {
                    "partition": p,
                    "committed_offset": lag.committed_offset,
                    "end_offset": end,
                    "lag": max(end - lag.committed_offset, 0),
                    "server_reported_lag": lag.lag,
                }
            )
    total = sum(r["lag"] for r in rows)
    if args.format == "json":
        print_json({"topic": args.topic, "group": args.group, "partitions": rows, "total_lag": total})
        return 0
    print_table(
        ("partition", "committed", "end offset", "lag"),
        [(r["partition"], r["committed_offset"], r["end_offset"], r["lag"]) for r in rows],
        title=f"group {args.group} on topic {args.topic}: total lag {total}",
    )
    if any(r["lag"] != r["server_reported_lag"] for r in rows):
        print("note: the server reports an empty partition's end as 1; corrected here")
    return 0


def run_reset(args: argparse.Namespace) -> int:
    """Reset the committed offset of each (or one) partition and print the new offsets.

    ``--to-latest`` commits the corrected end offset (the server's own ``latest`` reset commits 1 on
    an empty partition, which would skip the first record ever written there).
    """
    from pyflymq.cli._client import open_client
    from pyflymq_core.consumer.assignment import TopicPartition
    from pyflymq_core.consumer.offsets import end_offsets

    with open_client(args) as client:
        partitions = _partitions(client, args.topic, args.partition)
        if args.to_latest:
            ends = end_offsets(client, [TopicPartition(args.topic, p) for p in partitions])
        for p in partitions:
            if args.to_offset is not None:
                client.reset_offset(args.topic, args.group, p, mode="offset", offset=args.to_offset)
            elif args.to_latest:
                end = ends[TopicPartition(args.topic, p)]
                client.reset_offset(args.topic, args.group, p, mode="offset", offset=end)
            else:
                client.reset_offset(args.topic, args.group, p, mode="earliest")
            committed = client.get_committed_offset(args.topic, args.group, p)
            print(f"{args.topic}[{p}] group {args.group}: committed offset now {committed}")
    return 0


def run_delete(args: argparse.Namespace) -> int:
    """Delete the group's offsets for the topic."""
    from pyflymq.cli._client import open_client

    with open_client(args) as client:
        client.delete_group(args.topic, args.group)
    print(f"deleted group {args.group!r} of topic {args.topic!r}")
    return 0
