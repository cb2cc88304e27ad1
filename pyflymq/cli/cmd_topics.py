"""``pyflymq topics list|create|delete|describe``: topic administration.

FlyMQ's CREATE_TOPIC and DELETE_TOPIC always succeed (creating an existing topic keeps its partition
count; deleting a missing topic is not an error), so ``create`` reports what the topic looks like
afterwards and ``delete`` says whether the topic existed.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from pyflymq.cli.output import FORMATS

if TYPE_CHECKING:
    from pyflymq_core.client.sync_client import FlyMQClient

__all__ = ["register", "run_create", "run_delete", "run_describe", "run_list"]


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``topics`` subcommand and its actions."""
    from pyflymq.cli._client import positive_int

    parser = subparsers.add_parser(
        "topics", help="list, create, delete and describe topics", description="Topic administration."
    )
    actions = parser.add_subparsers(title="actions", metavar="ACTION", required=True)

    p = actions.add_parser("list", help="list topic names (names starting with __ are hidden by the server)")
    p.add_argument("--format", choices=FORMATS, default="text", help="output format (default: text)")
    p.set_defaults(handler=run_list)

    p = actions.add_parser("create", help="create a topic (no error if it exists)")
    p.add_argument("topic")
    p.add_argument("--partitions", "-p", type=positive_int, default=1, help="partition count (default 1)")
    p.set_defaults(handler=run_create)

    p = actions.add_parser("delete", help="delete a topic and its data (consumer-group offsets stay)")
    p.add_argument("topic")
    p.set_defaults(handler=run_delete)

    p = actions.add_parser("describe", help="partitions, leaders and end offsets of a topic")
    p.add_argument("topic")
    p.add_argument("--format", choices=FORMATS, default="text", help="output format (default: text)")
    p.set_defaults(handler=run_describe)


def _exists(client: FlyMQClient, topic: str) -> bool:
    """Whether ``topic`` exists (CLUSTER_METADATA also sees the ``__`` topics LIST_TOPICS hides)."""
    from pyflymq_core.errors import TopicNotFoundError

    try:
        client.get_topic_metadata(topic)
    except TopicNotFoundError:
        return False
    return True


def run_list(args: argparse.Namespace) -> int:
    """Print the topic names, one per line (or a JSON list)."""
    from pyflymq.cli._client import open_client
    from pyflymq.cli.output import print_json

    with open_client(args) as client:
        topics = client.list_topics()
    if args.format == "json":
        print_json(topics)
    else:
        for topic in topics:
            print(topic)
    return 0


def run_create(args: argparse.Namespace) -> int:
    """Create the topic and report its partition count (which may differ if it already existed)."""
    from pyflymq.cli._client import open_client

    with open_client(args) as client:
        existed = _exists(client, args.topic)
        client.create_topic(args.topic, partitions=args.partitions)
        count = client.get_topic_metadata(args.topic).partition_count
    if existed:
        print(f"topic {args.topic!r} already exists with {count} partition(s); left unchanged")
    else:
        print(f"created topic {args.topic!r} with {count} partition(s)")
    return 0


def run_delete(args: argparse.Namespace) -> int:
    """Delete the topic; exit 1 when it did not exist."""
    from pyflymq.cli._client import open_client
    from pyflymq_core.errors import TopicNotFoundError

    with open_client(args) as client:
        existed = _exists(client, args.topic)
        client.delete_topic(args.topic)
    if not existed:
        raise TopicNotFoundError(
            f"topic not found: {args.topic}", topic=args.topic, hint="`pyflymq topics list` shows the topics."
        )
    print(f"deleted topic {args.topic!r}")
    return 0


def run_describe(args: argparse.Namespace) -> int:
    """Print each partition: leader, state, replicas, in-sync replicas and next offset."""
    from pyflymq.cli._client import open_client
    from pyflymq.cli.output import print_json, print_table
    from pyflymq_core.consumer.assignment import TopicPartition
    from pyflymq_core.consumer.offsets import end_offsets

    with open_client(args) as client:
        metadata = client.get_topic_metadata(args.topic)
        ends = end_offsets(client, [TopicPartition(args.topic, p.partition) for p in metadata.partitions])
    partitions = sorted(metadata.partitions, key=lambda p: p.partition)
    if args.format == "json":
        print_json(
            {
                "topic": metadata.topic,
                "partitions": [
                    {**p.model_dump(), "end_offset": ends[TopicPartition(args.topic, p.partition)]}
                    for p in partitions
                ],
            }
        )
        return 0
    rows = [
        (
            p.partition,
            p.leader_id or "-",
            p.leader_addr or "-",
            p.state,
            ",".join(p.replicas) or "-",
            ",".join(p.isr) or "-",
            ends[TopicPartition(args.topic, p.partition)],
        )
        for p in partitions
    ]
    print_table(
        ("partition", "leader", "leader address", "state", "replicas", "in sync", "end offset"),
        rows,
        title=f"topic {metadata.topic}: {metadata.partition_count} partition(s)",
    )
    return 0
