"""``pyflymq consume TOPIC``: print records as they arrive.

Without ``--group`` nothing is committed and reading starts at the end of each partition (or at
the beginning with ``--from-beginning``).  With ``--group G`` reading resumes from the group's
committed offsets (``--from-beginning`` only applies to partitions the group never committed, as
in Kafka) and what was printed is committed when the command stops, also on Ctrl+C.

Stops after ``--max N`` records, after ``--timeout-ms T`` without a new record, or on Ctrl+C
(exit code 130).  Text output prints each value (``--print-key``: ``key<TAB>value``), replacing
bytes that are not UTF-8; ``--format json`` prints one JSON object per record (values that are not
UTF-8 appear base64-encoded as ``value_base64``).
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any, TextIO

from pyflymq.cli.output import FORMATS

__all__ = ["register", "run", "write_message"]

#: How long one poll waits: bounds how late --timeout-ms is noticed.
POLL_MS = 200


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``consume`` subcommand."""
    from pyflymq.cli._client import non_negative_int, positive_int

    parser = subparsers.add_parser(
        "consume",
        help="print records of a topic as they arrive",
        description="Consume TOPIC and print its records until --max, --timeout-ms or Ctrl+C. "
        "With --group, resume from and commit the group's offsets.",
    )
    parser.add_argument("topic")
    parser.add_argument(
        "--group", "-g", default=None, help="consumer group: resume from and commit its offsets"
    )
    parser.add_argument(
        "--from-beginning",
        action="store_true",
        help="start at the first record (with --group: only where the group has no committed offset)",
    )
    parser.add_argument("--max", "-n", type=positive_int, default=None, help="stop after N records")
    parser.add_argument(
        "--partition", "-p", type=non_negative_int, default=None, help="read only this partition"
    )
    parser.add_argument(
        "--timeout-ms",
        type=positive_int,
        default=None,
        help="stop when no record arrived for this long (default: wait forever)",
    )
    parser.add_argument("--print-key", action="store_true", help="text format: print key<TAB>value")
    parser.add_argument("--format", choices=FORMATS, default="text", help="output format (default: text)")
    parser.add_argument("--no-progress", action="store_true", help="never show the record counter")
    parser.set_defaults(handler=run)


def write_message(message: Any, args: argparse.Namespace, out: TextIO) -> None:
    """One record in the chosen format."""
    if args.format == "json":
        from pyflymq.cli.output import message_to_dict, print_json

        print_json(message_to_dict(message), out, lines=True)
        return
    value = message.value.decode("utf-8", "replace")
    if args.print_key:
        key = "" if message.key is None else message.key.decode("utf-8", "replace")
        out.write(f"{key}\t{value}\n")
    else:
        out.write(value + "\n")


def _print_batch(consumer: Any, batch: list[Any], args: argparse.Namespace, out: TextIO) -> None:
    """Print ``batch``; if printing stops half-way (Ctrl+C, closed pipe), rewind the consumer to the
    first record not printed, so the commit made on close covers exactly what was printed."""
    printed = 0
    try:
        for message in batch:
            write_message(message, args, out)
            printed += 1
        out.flush()
    except BaseException:
        rewind: dict[tuple[str, int], int] = {}
        for message in batch[printed:]:
            where = (message.topic, message.partition)
            rewind[where] = min(rewind.get(where, message.offset), message.offset)
        for where, offset in rewind.items():
            consumer.seek(where, offset)
        raise


def _check_partition(client: Any, topic: str, partition: int) -> None:
    from pyflymq_core.errors import InvalidArgumentError, TopicNotFoundError

    try:
        count = client.get_topic_metadata(topic).partition_count
    except TopicNotFoundError:
        return  # the consumer waits for the topic to appear
    if partition >= count:
        raise InvalidArgumentError(
            f"topic {topic!r} has {count} partition(s); there is no partition {partition}",
            hint=f"Use --partition 0..{count - 1}, or leave it out to read every partition.",
        )


def run(args: argparse.Namespace) -> int:
    """Consume until a stop condition; exit code 0 (130 on Ctrl+C, via the CLI's main)."""
    from pyflymq.cli._client import open_client
    from pyflymq.cli.output import ProgressMode, ProgressReporter
    from pyflymq_core.consumer import HighLevelConsumer

    out = sys.stdout
    options: dict[str, Any] = {"auto_offset_reset": "earliest" if args.from_beginning else "latest"}
    if args.partition is not None:
        options["partitions"] = (args.partition,)
    mode: ProgressMode = "off" if args.no_progress else "auto"
    received = 0
    with open_client(args) as client:
        if args.partition is not None:
            _check_partition(client, args.topic, args.partition)
        consumer = HighLevelConsumer(
            client, args.topic, args.group, auto_commit=args.group is not None, **options
        )
        timeout = None if args.timeout_ms is None else args.timeout_ms / 1000.0
        idle_since = time.monotonic()
        with consumer, ProgressReporter(f"consuming {args.topic}", args.max, mode=mode) as bar:
            while args.max is None or received < args.max:
                limit = 500 if args.max is None else min(500, args.max - received)
                batch = consumer.poll(timeout_ms=POLL_MS, max_records=limit)
                now = time.monotonic()
                if not batch:
                    if timeout is not None and now - idle_since >= timeout:
                        break
                    continue
                idle_since = now
                _print_batch(consumer, batch, args, out)
                received += len(batch)
                bar.advance(len(batch))
    print(f"consumed {received} record(s) from {args.topic}", file=sys.stderr)
    return 0
