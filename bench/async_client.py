"""asyncio client vs sync client: throughput and client CPU per message, in the same run.

With 100-byte values (``--value-size``) and ``--messages`` records per case:

produce (every record acknowledged before the clock stops)
- ``sync-producer``      the sync high-level producer: ``send()`` each record, then ``close()``;
- ``async-producer``     ``await producer.send()`` each record, then ``await producer.close()``;
- ``sync-threads`` / ``async-gather``  ``client.produce`` from ``--concurrency`` threads / tasks at
                         once (pipelined, one request per record on one connection, no batching);
- ``sync-produce-loop`` / ``async-produce-loop``  one awaited round trip per record (for scale).

fetch (every record read)
- ``sync-consumer``      the sync high-level consumer: ``poll()`` until every record was returned;
- ``async-consumer``     ``async for message in consumer`` over the same topic;
- ``sync-fetch-loop`` / ``async-fetch-loop``  ``client.fetch`` of ``--fetch-size`` records in a loop.

For each: msgs/s (wall clock) and client CPU µs per message (``time.process_time`` of this process,
every thread included; the server runs in another process), and for the async cases the ratio to
the matching sync case.  Each case runs ``--repeat`` times (fresh topics) and the run with the least
CPU is reported, so a busy machine disturbs the comparison less.  Target (issue 7): async CPU per
message within 1.3x of the sync path (``async-producer`` vs ``sync-producer``, ``async-consumer``
vs ``sync-consumer``).

By default the embedded broker runs in a child process (``python -m pyflymq broker --port 0``);
``--bootstrap host:port`` measures against any running server.  Topics are fresh and stay under the
87,381 records per partition the 1.26 server can hold.

Run: ``.venv/bin/python bench/async_client.py [--messages 30000] [--repeat 3] [--bootstrap host:port]``
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script: import bench.*

from bench.producer import MAX_PER_PARTITION, spawned_broker
from pyflymq import AsyncFlyMQClient, FlyMQClient


@dataclass(frozen=True)
class Setup:
    """What every case needs."""

    bootstrap: str
    value: bytes
    messages: int
    fetch_size: int
    concurrency: int


class Results:
    """Collects every run of every case; :meth:`print` shows the least-CPU run of each, and the async
    cases' CPU ratio to their sync baseline."""

    def __init__(self) -> None:
        self.runs: dict[str, list[tuple[int, float, float]]] = {}
        self.baselines: dict[str, str] = {}

    def record(self, name: str, count: int, wall: float, cpu: float, baseline: str | None) -> None:
        self.runs.setdefault(name, []).append((count, wall, cpu))
        if baseline is not None:
            self.baselines[name] = baseline

    def best(self, name: str) -> tuple[int, float, float]:
        return min(self.runs[name], key=lambda run: run[2] / run[0])

    def measure(self, name: str, count: int, body: Callable[[], None], baseline: str | None = None) -> None:
        wall0, cpu0 = time.perf_counter(), time.process_time()
        body()
        self.record(name, count, time.perf_counter() - wall0, time.process_time() - cpu0, baseline)

    async def ameasure(
        self, name: str, count: int, body: Callable[[], Awaitable[None]], baseline: str | None = None
    ) -> None:
        wall0, cpu0 = time.perf_counter(), time.process_time()
        await body()
        self.record(name, count, time.perf_counter() - wall0, time.process_time() - cpu0, baseline)

    def print(self) -> None:
        for name in self.runs:
            count, wall, cpu = self.best(name)
            per_msg = cpu * 1e6 / count
            ratio = ""
            baseline = self.baselines.get(name)
            if baseline is not None and baseline in self.runs:
                base_count, _, base_cpu = self.best(baseline)
                ratio = f"  {per_msg / (base_cpu * 1e6 / base_count):.2f}x {baseline}"
            print(
                f"{name:<20} {count:>8,d} msgs {count / wall:>10,.0f} msgs/s {per_msg:>7.2f} µs CPU/msg"
                f"  ({wall:.2f} s, best of {len(self.runs[name])}){ratio}"
            )


def sync_cases(results: Results, setup: Setup, topics: dict[str, str]) -> None:
    n, value, fetch_size, concurrency = setup.messages, setup.value, setup.fetch_size, setup.concurrency
    with FlyMQClient(setup.bootstrap, keepalive_interval_ms=0) as client:
        for topic in topics.values():
            client.create_topic(topic, partitions=1)

        def producer_case() -> None:
            producer = client.producer()
            send, topic = producer.send, topics["producer-sync"]
            for _ in range(n):
                send(topic, value)
            producer.close()
            assert producer.metrics()["acknowledged"] == n

        results.measure("sync-producer", n, producer_case)

        per_thread = n // concurrency

        def threads_case() -> None:
            produce, topic = client.produce, topics["threads"]

            def worker() -> None:
                for _ in range(per_thread):
                    produce(topic, value)

            pool = [threading.Thread(target=worker) for _ in range(concurrency)]
            for thread in pool:
                thread.start()
            for thread in pool:
                thread.join()

        results.measure("sync-threads", per_thread * concurrency, threads_case)

        def produce_loop() -> None:
            produce, topic = client.produce, topics["loop-sync"]
            for _ in range(n // 4):
                produce(topic, value)

        results.measure("sync-produce-loop", n // 4, produce_loop)

        def consumer_case() -> None:
            seen = 0
            with client.consumer(topics["producer-sync"], auto_offset_reset="earliest") as consumer:
                while seen < n:
                    seen += len(consumer.poll(timeout_ms=5000, max_records=fetch_size))

        results.measure("sync-consumer", n, consumer_case)

        def fetch_loop() -> None:
            fetch, topic, offset = client.fetch, topics["producer-sync"], 0
            while offset < n:
                offset = fetch(topic, 0, offset, fetch_size).next_offset

        results.measure("sync-fetch-loop", n, fetch_loop)


async def async_cases(results: Results, setup: Setup, topics: dict[str, str]) -> None:
    n, value, fetch_size, concurrency = setup.messages, setup.value, setup.fetch_size, setup.concurrency
    async with AsyncFlyMQClient(setup.bootstrap, keepalive_interval_ms=0) as client:
        for topic in topics.values():
            await client.create_topic(topic, partitions=1)

        async def producer_case() -> None:
            producer = client.producer()
            send, topic = producer.send, topics["producer-async"]
            for _ in range(n):
                await send(topic, value)
            await producer.close()
            assert producer.metrics()["acknowledged"] == n

        await results.ameasure("async-producer", n, producer_case, "sync-producer")

        per_task = n // concurrency

        async def gather_case() -> None:
            produce, topic = client.produce, topics["gather"]

            async def worker() -> None:
                for _ in range(per_task):
                    await produce(topic, value)

            await asyncio.gather(*(worker() for _ in range(concurrency)))

        await results.ameasure("async-gather", per_task * concurrency, gather_case, "sync-threads")

        async def produce_loop() -> None:
            produce, topic = client.produce, topics["loop-async"]
            for _ in range(n // 4):
                await produce(topic, value)

        await results.ameasure("async-produce-loop", n // 4, produce_loop, "sync-produce-loop")

        async def consumer_case() -> None:
            seen = 0
            async with client.consumer(topics["producer-async"], auto_offset_reset="earliest") as consumer:
                async for _message in consumer:
                    seen += 1
                    if seen == n:
                        break

        await results.ameasure("async-consumer", n, consumer_case, "sync-consumer")

        async def fetch_loop() -> None:
            fetch, topic, offset = client.fetch, topics["producer-async"], 0
            while offset < n:
                offset = (await fetch(topic, 0, offset, fetch_size)).next_offset

        await results.ameasure("async-fetch-loop", n, fetch_loop, "sync-fetch-loop")


def warm_up(setup: Setup, topic: str) -> None:
    """Compile the protocol layouts and open the code paths once, outside the clocks."""
    with FlyMQClient(setup.bootstrap, keepalive_interval_ms=0) as client, client.producer() as producer:
        for _ in range(2000):
            producer.send(topic, setup.value)

    async def main() -> None:
        async with AsyncFlyMQClient(setup.bootstrap, keepalive_interval_ms=0) as client:
            async with client.producer() as producer:
                for _ in range(2000):
                    await producer.send(topic, setup.value)
            await client.fetch(topic, 0, 0, 1000)

    asyncio.run(main())


def run(setup: Setup, repeat: int) -> None:
    if setup.messages > MAX_PER_PARTITION:
        raise SystemExit(f"--messages must stay below {MAX_PER_PARTITION} (one partition per case)")
    warm = f"bench-aio-warm-{os.urandom(4).hex()}"
    warm_up(setup, warm)
    results = Results()
    used = [warm]
    for _ in range(repeat):
        suffix = os.urandom(4).hex()
        names = ("producer-sync", "producer-async", "threads", "gather", "loop-sync", "loop-async")
        topics = {name: f"bench-aio-{name}-{suffix}" for name in names}
        used.extend(topics.values())
        sync_cases(results, setup, topics)
        asyncio.run(async_cases(results, setup, topics))
    results.print()
    with FlyMQClient(setup.bootstrap, keepalive_interval_ms=0) as client:
        for topic in used:
            client.delete_topic(topic)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--bootstrap", help="host:port of a running server (default: spawn the embedded broker)"
    )
    parser.add_argument("--messages", type=int, default=30_000)
    parser.add_argument("--value-size", type=int, default=100)
    parser.add_argument(
        "--fetch-size", type=int, default=1000, help="records per FETCH / poll (server max 1000)"
    )
    parser.add_argument(
        "--concurrency", type=int, default=8, help="threads / tasks of sync-threads, async-gather"
    )
    parser.add_argument("--repeat", type=int, default=3, help="runs per case (the least-CPU one is reported)")
    args = parser.parse_args()
    value = os.urandom(args.value_size // 2).hex().encode()[: args.value_size].ljust(args.value_size, b"x")
    print(f"python {sys.version.split()[0]}, {args.value_size}-byte values, {os.cpu_count()} CPUs")
    if args.bootstrap:
        run(Setup(args.bootstrap, value, args.messages, args.fetch_size, args.concurrency), args.repeat)
    else:
        with spawned_broker() as address:
            print(f"embedded broker at {address} (separate process)")
            run(Setup(address, value, args.messages, args.fetch_size, args.concurrency), args.repeat)


if __name__ == "__main__":
    main()
