"""``pyflymq produce TOPIC [VALUE|-]``: write records from the command line or from stdin.

``VALUE`` is sent as one record; ``-`` (or no VALUE) sends every line of stdin as a record (the
newline is not part of the value).  ``--count N`` sends each record N times, ``--key`` gives every
record the same key (records with one key stay in order on one partition), and
``--key-separator SEP`` splits each line into ``key SEP value``.  Records go through the batching
high-level producer; the command waits until every one is acknowledged and exits 1 if any failed.

``--schema NAME`` produces with PRODUCE_WITH_SCHEMA instead (validated locally and by the server;
keyless: that opcode has no key field).
"""

from __future__ import annotations

import argparse
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pyflymq.cli.output import FORMATS

if TYPE_CHECKING:
    from pyflymq_core.client.sync_client import FlyMQClient

__all__ = ["iter_records", "register", "run"]


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``produce`` subcommand."""
    from pyflymq.cli._client import positive_int

    parser = subparsers.add_parser(
        "produce",
        help="produce records: one VALUE, or lines from stdin with '-'",
        description="Produce VALUE to TOPIC, or every line of stdin when VALUE is '-' or omitted. "
        "Waits until every record is acknowledged; exit code 1 if any failed. Topics are created "
        "on first produce by the server (1 partition); create them first for more.",
    )
    parser.add_argument("topic")
    parser.add_argument("value", nargs="?", default="-", help="the value, or '-' for lines of stdin")
    parser.add_argument("--key", "-k", default=None, help="key of every record")
    parser.add_argument(
        "--key-separator",
        metavar="SEP",
        default=None,
        help="split each value at the first SEP into key and value (e.g. ':' for 'user-1:hello')",
    )
    parser.add_argument(
        "--count", "-n", type=positive_int, default=1, help="send each record N times (default 1)"
    )
    parser.add_argument(
        "--schema", metavar="NAME", default=None, help="produce with schema validation (keyless records)"
    )
    parser.add_argument(
        "--format",
        choices=FORMATS,
        default="text",
        help="text: a summary line; json: one line of metadata per record (default: text)",
    )
    parser.add_argument("--no-progress", action="store_true", help="never show a progress bar")
    parser.set_defaults(handler=run)


def _split(line: bytes, key: bytes | None, separator: bytes | None) -> tuple[bytes | None, bytes]:
    if separator is not None and separator in line:
        record_key, _, value = line.partition(separator)
        return record_key, value
    return key, line


def iter_records(args: argparse.Namespace) -> Iterator[tuple[bytes | None, bytes]]:
    """``(key, value)`` pairs to send, each repeated ``--count`` times; stdin is read lazily."""
    key = None if args.key is None else args.key.encode("utf-8")
    separator = None if args.key_separator is None else args.key_separator.encode("utf-8")
    if separator == b"":
        from pyflymq_core.errors import InvalidArgumentError

        raise InvalidArgumentError("--key-separator must not be empty")
    if args.value != "-":
        lines: Any = [args.value.encode("utf-8")]
    else:
        lines = sys.stdin.buffer if hasattr(sys.stdin, "buffer") else (s.encode() for s in sys.stdin)
    for raw in lines:
        line = raw[:-1] if raw.endswith(b"\n") else raw
        if line.endswith(b"\r"):
            line = line[:-1]
        record = _split(line, key, separator)
        for _ in range(args.count):
            yield record


@dataclass
class _Outcome:
    """What was produced: counts and partitions always, every record's metadata only for JSON."""

    acknowledged: int = 0
    partitions: set[int] = field(default_factory=set)
    first: Any = None
    records: list[Any] | None = None
    failures: list[BaseException] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def success(self, metadata: Any) -> None:
        with self.lock:
            self.acknowledged += 1
            self.partitions.add(metadata.partition)
            if self.first is None:
                self.first = metadata

    def failure(self, error: BaseException) -> None:
        with self.lock:
            self.failures.append(error)


def run(args: argparse.Namespace) -> int:
    """Send the records and report; exit 1 when any record failed."""
    from pyflymq.cli._client import open_client
    from pyflymq.cli.output import ProgressMode, ProgressReporter, print_json
    from pyflymq_core.errors import FlyMQError

    total = args.count if args.value != "-" else None
    mode: ProgressMode = "off" if args.no_progress else "auto"
    outcome = _Outcome(records=[] if args.format == "json" else None)
    with open_client(args) as client, ProgressReporter(f"producing to {args.topic}", total, mode=mode) as bar:
        if args.schema is not None:
            _produce_with_schema(client, args, bar, outcome)
        else:
            _produce(client, args, bar, outcome)
    if outcome.records is not None:
        for meta in outcome.records:
            print_json(meta.model_dump(), lines=True)
    if outcome.failures:
        first = outcome.failures[0]
        sent = outcome.acknowledged + len(outcome.failures)
        raise FlyMQError(
            f"{len(outcome.failures)} of {sent} record(s) failed; "
            f"first error: {type(first).__name__}: {first}",
            hint=getattr(first, "hint", None) or "Run with -v for details.",
        )
    if args.format == "text":
        if outcome.acknowledged == 1:
            meta = outcome.first
            print(f"produced 1 record to {meta.topic}[{meta.partition}] @ offset {meta.offset}")
        else:
            where = ", ".join(str(p) for p in sorted(outcome.partitions)) or "-"
            print(f"produced {outcome.acknowledged} record(s) to {args.topic} (partitions: {where})")
    return 0


def _produce(client: FlyMQClient, args: argparse.Namespace, bar: Any, outcome: _Outcome) -> None:
    """Through the batching producer (which waits for every acknowledgement when it closes)."""

    def on_success(metadata: Any) -> None:
        outcome.success(metadata)
        bar.advance()

    def on_error(error: BaseException) -> None:
        outcome.failure(error)
        bar.advance()

    futures = outcome.records is not None
    sent = []
    with client.producer(linger_ms=5) as producer:
        for key, value in iter_records(args):
            future = producer.send(args.topic, value, key=key, on_success=on_success, on_error=on_error)
            if futures:
                sent.append(future)
    if outcome.records is not None:
        outcome.records.extend(f.metadata for f in sent if f.metadata is not None)


def _produce_with_schema(client: FlyMQClient, args: argparse.Namespace, bar: Any, outcome: _Outcome) -> None:
    """One PRODUCE_WITH_SCHEMA per record (the opcode carries no key)."""
    from pyflymq_core.errors import InvalidArgumentError, SchemaNotFoundError

    if args.key is not None or args.key_separator is not None:
        raise InvalidArgumentError(
            "--schema records cannot have a key: FlyMQ's PRODUCE_WITH_SCHEMA has no key field",
            hint="Drop --key/--key-separator, or validate with `pyflymq schemas validate` and produce "
            "without --schema.",
        )
    for _key, value in iter_records(args):
        try:
            meta = client.produce_with_schema(args.topic, value, args.schema)
        except SchemaNotFoundError as exc:  # the client's hint speaks Python; say it for the shell
            exc.hint = (
                f"Register it first: `pyflymq schemas register {args.schema} --type json --file "
                "schema.json`; `pyflymq schemas list` shows the registered schemas."
            )
            raise
        outcome.success(meta)
        if outcome.records is not None:
            outcome.records.append(meta)
        bar.advance()
