"""Throughput and client CPU cost of the high-level producer (``client.producer()``).

For each value size (``--value-sizes``, default 100 bytes and 1 KiB) it sends ``--messages`` records
and waits for every acknowledgement (``flush()``), in three ways:

- ``producer``: fire-and-forget ``send(topic, value)`` then ``flush()`` (the common pattern);
- ``producer-keyed``: the same with 64 distinct keys (hashing, per-key ordering);
- ``producer-callback``: with an ``on_success`` callback (decodes every RecordMetadata);

and, with ``--compare-raw``, ``raw-pipelined``: the floor — a bare socket writing the same PRODUCE
frames in pipelined batches of 500 and only parsing the answers' frames (no futures, no threads).

Reported: msgs/s and MB/s (wall clock, value bytes) and client CPU µs per message
(``time.process_time`` of this process, all its threads, kernel time included; the server is another
process), for the median of ``--repeat`` runs (default 3: the figures are noisy on shared machines).
Targets (issue 5): <= 15 µs CPU/msg, >= 30,000 msgs/s on one connection against a fast server.

By default the embedded broker runs in a child process (``python -m pyflymq broker --port 0``);
``--bootstrap host:port`` measures against any running server.  Each run uses fresh topics and stays
below the 87,381 records per partition the 1.26 server can hold (SEMANTICS_NOTES #41).

Run: ``.venv/bin/python bench/producer.py [--messages 50000] [--bootstrap host:port] [--compare-raw]``
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pyflymq import FlyMQClient
from pyflymq_core.protocol import FrameParser, encode_request, encode_request_frame

ROOT = Path(__file__).resolve().parent.parent
MAX_PER_PARTITION = 87_000


@contextmanager
def spawned_broker() -> Iterator[str]:
    """Run the embedded broker in a child process and yield its ``host:port``."""
    cmd = [sys.executable, "-m", "pyflymq", "broker", "--port", "0"]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        if not line:
            raise SystemExit(f"the broker exited without printing its address (exit code {proc.wait()})")
        yield line
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise SystemExit("the broker did not stop within 10 s of SIGTERM") from None


def measure(
    name: str, count: int, value_size: int, body: Callable[[], None], repeat: int = 1
) -> dict[str, float]:
    """Run ``body`` ``repeat`` times; print and return the median run's msgs/s, MB/s, CPU µs/msg.

    The median run (by CPU per message) because the figures are noisy on shared machines; the best
    run's CPU figure is shown too.  ``--repeat 1`` gives a single run.
    """
    runs: list[dict[str, float]] = []
    for _ in range(repeat):
        wall0, cpu0 = time.perf_counter(), time.process_time()
        body()
        wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
        runs.append(
            {
                "msgs_per_s": count / wall,
                "mb_per_s": count * value_size / wall / 1e6,
                "cpu_us_per_msg": cpu * 1e6 / count,
                "wall_s": wall,
            }
        )
    runs.sort(key=lambda run: run["cpu_us_per_msg"])
    median = runs[(len(runs) - 1) // 2]
    best = runs[0]["cpu_us_per_msg"]
    print(
        f"{name:<18} {value_size:>5} B {count:>8,d} msgs  {median['msgs_per_s']:>9,.0f} msgs/s  "
        f"{median['mb_per_s']:>7.1f} MB/s  {median['cpu_us_per_msg']:>6.2f} µs CPU/msg  "
        f"(median of {len(runs)}; best {best:.2f})  ({median['wall_s']:.2f} s)"
    )
    return median


def raw_pipelined(address: str, topic: str, value: bytes, messages: int, window: int = 500) -> None:
    """The floor: encode each record, write ``window`` frames at once, read their answers."""
    host, _, port = address.rpartition(":")
    sock = socket.create_connection((host.strip("[]"), int(port)))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    parser = FrameParser()
    try:
        sent = 0
        while sent < messages:
            n = min(window, messages - sent)
            frames = [
                encode_request_frame(
                    1, encode_request(1, {"topic": topic, "key": b"", "value": value, "partition": -1})
                )
                for _ in range(n)
            ]
            sock.sendall(b"".join(frames))
            answered = 0
            while answered < n:
                data = sock.recv(1 << 20)
                if not data:
                    raise SystemExit("the server closed the raw connection")
                for frame in parser.feed(data):
                    if frame.op != 1:
                        raise SystemExit(f"raw produce failed: opcode 0x{frame.op:02x}")
                    answered += 1
            sent += n
    finally:
        sock.close()


def run_size(
    client: FlyMQClient,
    bootstrap: str,
    size: int,
    messages: int,
    compare_raw: bool,
    options: dict[str, Any],
    suffix: str,
    repeat: int,
) -> None:
    """Every scenario for one value size, each run on a fresh single-partition topic."""
    value = os.urandom(size // 2 + 1).hex().encode()[:size]
    topics = {name: f"bench-producer-{name}-{size}-{suffix}" for name in ("plain", "keyed", "cb", "raw")}
    keys = [f"key-{i}" for i in range(64)]
    acknowledged = 0

    def on_success(metadata: Any) -> None:
        nonlocal acknowledged
        acknowledged += 1

    runs = 0
    used: list[str] = []

    def scenario(base: str, keyed: bool = False, callback: bool = False) -> Callable[[], None]:
        def body() -> None:
            nonlocal runs
            runs += 1
            topic = f"{base}-{runs}"
            used.append(topic)
            client.create_topic(topic, partitions=1)
            with client.producer(**options) as producer:
                send = producer.send
                if keyed:
                    for i in range(messages):
                        send(topic, value, keys[i & 63])
                elif callback:
                    for _ in range(messages):
                        send(topic, value, on_success=on_success)
                else:
                    for _ in range(messages):
                        send(topic, value)

        return body

    measure("producer", messages, size, scenario(topics["plain"]), repeat)
    measure("producer-keyed", messages, size, scenario(topics["keyed"], keyed=True), repeat)
    measure("producer-callback", messages, size, scenario(topics["cb"], callback=True), repeat)
    if acknowledged != messages * repeat:
        raise SystemExit(f"{acknowledged} callbacks for {messages * repeat} records")
    if compare_raw:

        def raw() -> None:
            nonlocal runs
            runs += 1
            topic = f"{topics['raw']}-{runs}"
            used.append(topic)
            client.create_topic(topic, partitions=1)
            raw_pipelined(bootstrap, topic, value, messages)

        measure("raw-pipelined", messages, size, raw, repeat)
    for topic in used:
        last = client.fetch(topic, 0, messages - 1, 10)
        if [m.offset for m in last.messages] != [messages - 1]:
            raise SystemExit(f"{topic}: expected exactly {messages} records, got {last.next_offset}")
        client.delete_topic(topic)


def run(
    bootstrap: str,
    messages: int,
    value_sizes: list[int],
    compare_raw: bool,
    options: dict[str, Any],
    repeat: int,
) -> None:
    if messages > MAX_PER_PARTITION:
        raise SystemExit(f"--messages must be <= {MAX_PER_PARTITION} (one partition per run)")
    suffix = os.urandom(4).hex()
    with FlyMQClient(bootstrap, keepalive_interval_ms=0) as client:
        warm = f"bench-producer-warm-{suffix}"
        with client.producer(**options) as producer:  # warm-up: layouts, threads, connection
            for _ in range(2000):
                producer.send(warm, b"w" * 100)
        for size in value_sizes:
            run_size(client, bootstrap, size, messages, compare_raw, options, suffix, repeat)
        client.delete_topic(warm)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--bootstrap", help="host:port of a running server (default: spawn the embedded broker)"
    )
    parser.add_argument("--messages", type=int, default=50_000)
    parser.add_argument("--value-sizes", default="100,1024", help="comma-separated value sizes in bytes")
    parser.add_argument("--compare-raw", action="store_true", help="also time a bare pipelined socket loop")
    parser.add_argument("--repeat", type=int, default=3, help="runs per scenario; the median is reported")
    parser.add_argument("--linger-ms", type=int, default=None)
    parser.add_argument("--max-in-flight", type=int, default=None)
    parser.add_argument("--batch-size", type=int, default=None, help="bytes per batch")
    args = parser.parse_args()
    sizes = [int(s) for s in args.value_sizes.split(",") if s]
    options = {
        name: value
        for name, value in (
            ("linger_ms", args.linger_ms),
            ("max_in_flight", args.max_in_flight),
            ("batch_size", args.batch_size),
        )
        if value is not None
    }
    print(f"python {sys.version.split()[0]}, producer options {options or 'default'}")
    if args.bootstrap:
        run(args.bootstrap, args.messages, sizes, args.compare_raw, options, args.repeat)
    else:
        with spawned_broker() as address:
            print(f"embedded broker at {address} (separate process)")
            run(address, args.messages, sizes, args.compare_raw, options, args.repeat)


if __name__ == "__main__":
    main()
