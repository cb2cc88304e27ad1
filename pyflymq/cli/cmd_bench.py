"""``pyflymq bench produce|consume``: quick throughput and latency numbers against a server.

``produce`` sends ``--count`` records of ``--size`` bytes through the high-level producer and
measures, per record, the time from ``send()`` to its acknowledgement.  ``consume`` reads
``--count`` records with the high-level consumer (filling a scratch topic first when no ``--topic``
is given) and measures the duration of each ``poll()`` that returned records.  Both print a summary
table: records, bytes, elapsed time, msgs/s, MB/s (10^6 bytes) and latency percentiles p50/p95/p99.

A scratch topic (``pyflymq-bench-<random>``) is deleted afterwards unless ``--keep``.  For careful
measurements (CPU per message, several runs, comparisons) use the scripts in ``bench/``.
"""

from __future__ import annotations

import argparse
import math
import os
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pyflymq.cli.output import FORMATS

if TYPE_CHECKING:
    from pyflymq_core.client.sync_client import FlyMQClient

__all__ = ["BenchResult", "percentile", "register", "run_consume", "run_produce"]


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``bench`` subcommand and its actions."""
    from pyflymq.cli._client import non_negative_int, positive_int

    parser = subparsers.add_parser(
        "bench", help="measure produce/consume throughput and latency", description=__doc__
    )
    actions = parser.add_subparsers(title="actions", metavar="ACTION", required=True)

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--topic", "-t", default=None, help="topic (default: a scratch topic, deleted after)")
        p.add_argument("--count", "-n", type=positive_int, default=20_000, help="records (default 20000)")
        p.add_argument(
            "--size", "-s", type=positive_int, default=100, help="value size in bytes (default 100)"
        )
        p.add_argument(
            "--partitions",
            "-p",
            type=positive_int,
            default=1,
            help="partitions of the scratch topic (default 1)",
        )
        p.add_argument("--keep", action="store_true", help="do not delete the scratch topic")
        p.add_argument("--format", choices=FORMATS, default="text", help="summary format (default: text)")
        p.add_argument("--no-progress", action="store_true", help="never show a progress bar")

    p = actions.add_parser("produce", help="send records, measure acknowledgement latency")
    common(p)
    p.add_argument("--linger-ms", type=non_negative_int, default=5, help="producer linger (default 5)")
    p.add_argument(
        "--batch-size", type=positive_int, default=16_384, help="producer batch bytes (default 16384)"
    )
    p.add_argument(
        "--max-in-flight",
        type=positive_int,
        default=None,
        help="batches in flight (default: the producer's, 20)",
    )
    p.add_argument(
        "--keys", type=non_negative_int, default=0, help="spread records over N keys (default: keyless)"
    )
    p.set_defaults(handler=run_produce)

    p = actions.add_parser("consume", help="read records, measure poll latency")
    common(p)
    p.add_argument(
        "--max-poll-records", type=positive_int, default=500, help="records per poll (default 500)"
    )
    p.set_defaults(handler=run_consume)


def percentile(sorted_values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile of an ascending sequence (``None`` when empty)."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(len(sorted_values) * q / 100.0))
    return sorted_values[min(rank, len(sorted_values)) - 1]


@dataclass
class BenchResult:
    """What one benchmark measured."""

    kind: str
    topic: str
    records: int
    bytes: int
    elapsed_s: float
    latencies_ms: list[float]
    latency_label: str

    def summary(self) -> dict[str, Any]:
        """JSON-ready summary (rates per second; MB = 10^6 bytes)."""
        ordered = sorted(self.latencies_ms)
        elapsed = max(self.elapsed_s, 1e-9)
        return {
            "benchmark": self.kind,
            "topic": self.topic,
            "records": self.records,
            "bytes": self.bytes,
            "elapsed_s": round(self.elapsed_s, 6),
            "msgs_per_s": round(self.records / elapsed, 1),
            "mb_per_s": round(self.bytes / elapsed / 1e6, 3),
            "latency": self.latency_label,
            "p50_ms": percentile(ordered, 50),
            "p95_ms": percentile(ordered, 95),
            "p99_ms": percentile(ordered, 99),
            "max_ms": ordered[-1] if ordered else None,
        }

    def print(self, output_format: str) -> None:
        """The summary as a table (text) or a JSON document."""
        from pyflymq.cli.output import format_bytes, format_ms, print_json, print_table

        doc = self.summary()
        if output_format == "json":
            print_json(doc)
            return
        rows = [
            ("records", f"{doc['records']:,}"),
            ("bytes", format_bytes(doc["bytes"])),
            ("elapsed", f"{doc['elapsed_s']:.3f} s"),
            ("throughput", f"{doc['msgs_per_s']:,.0f} msgs/s"),
            ("bandwidth", f"{doc['mb_per_s']:.2f} MB/s"),
            (f"{self.latency_label} p50", f"{format_ms(doc['p50_ms'])} ms"),
            (f"{self.latency_label} p95", f"{format_ms(doc['p95_ms'])} ms"),
            (f"{self.latency_label} p99", f"{format_ms(doc['p99_ms'])} ms"),
            (f"{self.latency_label} max", f"{format_ms(doc['max_ms'])} ms"),
        ]
        print_table(("metric", "value"), rows, title=f"bench {self.kind} on {self.topic}")


@contextmanager
def _bench_topic(client: FlyMQClient, args: argparse.Namespace) -> Iterator[tuple[str, bool]]:
    """``(topic, scratch)``: the given topic, or a new scratch topic deleted on exit (unless --keep)."""
    if args.topic is not None:
        yield args.topic, False
        return
    topic = f"pyflymq-bench-{os.urandom(4).hex()}"
    client.create_topic(topic, partitions=args.partitions)
    try:
        yield topic, True
    finally:
        if not args.keep:
            client.delete_topic(topic)


def _payload(size: int) -> bytes:
    return (os.urandom(min(size, 64)).hex().encode() * (size // 64 + 1))[:size]


def _progress_mode(args: argparse.Namespace) -> Any:
    return "off" if args.no_progress else "auto"


def run_produce(args: argparse.Namespace) -> int:
    """Produce ``--count`` records and print the summary."""
    from pyflymq.cli._client import open_client
    from pyflymq.cli.output import ProgressReporter
    from pyflymq_core.errors import FlyMQError

    payload = _payload(args.size)
    keys = [f"key-{i}".encode() for i in range(args.keys)]
    latencies: list[float] = []
    failures: list[BaseException] = []
    lock = threading.Lock()
    clock = time.perf_counter
    with (
        open_client(args) as client,
        _bench_topic(client, args) as (topic, _scratch),
        ProgressReporter(f"producing to {topic}", args.count, mode=_progress_mode(args)) as bar,
    ):

        def record(sent_at: float) -> Any:
            def on_success(_metadata: Any) -> None:
                elapsed = (clock() - sent_at) * 1000.0
                with lock:
                    latencies.append(elapsed)
                bar.advance()

            return on_success

        def on_error(error: BaseException) -> None:
            with lock:
                failures.append(error)
            bar.advance()

        started = clock()
        window = {} if args.max_in_flight is None else {"max_in_flight": args.max_in_flight}
        with client.producer(linger_ms=args.linger_ms, batch_size=args.batch_size, **window) as producer:
            for i in range(args.count):
                key = keys[i % len(keys)] if keys else None
                producer.send(topic, payload, key=key, on_success=record(clock()), on_error=on_error)
        elapsed = clock() - started
    if failures:
        first = failures[0]
        raise FlyMQError(
            f"{len(failures)} of {args.count} records failed; first error: {type(first).__name__}: {first}",
            hint=getattr(first, "hint", None),
        )
    acked = len(latencies)
    BenchResult("produce", topic, acked, acked * args.size, elapsed, latencies, "ack latency").print(
        args.format
    )
    return 0


def _fill(client: FlyMQClient, topic: str, count: int, payload: bytes, mode: Any) -> None:
    from pyflymq.cli.output import ProgressReporter

    with (
        ProgressReporter(f"filling {topic}", count, mode=mode) as bar,
        client.producer(linger_ms=5) as producer,
    ):
        for _ in range(count):
            producer.send(topic, payload, on_success=lambda _m: bar.advance())


def run_consume(args: argparse.Namespace) -> int:
    """Consume ``--count`` records (from the beginning) and print the summary."""
    from pyflymq.cli._client import open_client
    from pyflymq.cli.output import ProgressReporter
    from pyflymq_core.consumer import HighLevelConsumer

    mode = _progress_mode(args)
    latencies: list[float] = []
    received = 0
    size = 0
    clock = time.perf_counter
    idle_limit = 5.0  # a given topic may hold fewer records than --count
    with open_client(args) as client, _bench_topic(client, args) as (topic, scratch):
        if scratch:
            _fill(client, topic, args.count, _payload(args.size), mode)
        consumer = HighLevelConsumer(
            client, topic, None, auto_offset_reset="earliest", max_poll_records=args.max_poll_records
        )
        with consumer, ProgressReporter(f"consuming {topic}", args.count, mode=mode) as bar:
            started = last = clock()
            while received < args.count:
                before = clock()
                batch = consumer.poll(
                    timeout_ms=200, max_records=min(args.max_poll_records, args.count - received)
                )
                after = clock()
                if not batch:
                    if after - last >= idle_limit:
                        break
                    continue
                last = after
                latencies.append((after - before) * 1000.0)
                received += len(batch)
                size += sum(len(m.value) for m in batch)
                bar.advance(len(batch))
            elapsed = last - started
    if received < args.count:
        print(f"note: {topic} held only {received} record(s); stopped after {idle_limit:g} s without more")
    BenchResult("consume", topic, received, size, elapsed, latencies, "poll latency").print(args.format)
    return 0
