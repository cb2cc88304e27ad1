"""Client CPU cost of the sync ``FlyMQClient``: a ``produce()`` loop and a ``fetch()`` loop.

Measures, with 100-byte values (``--value-size``):

- ``produce``: sequential ``client.produce(topic, value)`` calls (one round trip each);
- ``produce-keyed``: the same with a key (exercises key encoding and the routing check);
- ``produce-threads``: ``--threads`` threads sharing one client (pipelined on one connection);
- ``fetch``: ``client.fetch(topic, offset=..., max_messages=--fetch-size)`` until every record was read.

For each: messages/s (wall clock) and client CPU µs per message (``time.process_time`` of this
process, which runs only the client: the server is another process).  Targets (issue 4): produce
<= 40 µs CPU/msg, fetch <= 3 µs CPU per consumed message.

By default the embedded broker is started in a child process (``python -m pyflymq broker --port 0``);
``--bootstrap host:port`` measures against any running server (the real one included).

``--compare-raw`` also times the same produce round trip over a bare socket (protocol encoding and
frame parsing only): the floor the client's cost should be read against on a given machine.

``--repeat N`` runs every loop N times and prints the median run with the spread: CPU figures on a
shared 2-core machine vary by ±30 % between identical runs.

Run: ``.venv/bin/python bench/client.py [--messages 20000] [--bootstrap host:port] [--compare-raw]
[--repeat 3]``
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from pyflymq import FlyMQClient

ROOT = Path(__file__).resolve().parent.parent


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


#: How many times each loop runs (``--repeat``); the median run is reported.
REPEAT = 1


def measure(name: str, count: int, body: Callable[[], None]) -> dict[str, float]:
    """Run ``body`` ``REPEAT`` times; report msgs/s and CPU µs per message for ``count`` messages
    of the median run (by CPU), with the spread when there was more than one run."""
    runs: list[tuple[float, float]] = []
    for _ in range(REPEAT):
        wall0, cpu0 = time.perf_counter(), time.process_time()
        body()
        runs.append((time.process_time() - cpu0, time.perf_counter() - wall0))
    runs.sort()
    cpu, wall = runs[len(runs) // 2]
    result = {"msgs_per_s": count / wall, "cpu_us_per_msg": cpu * 1e6 / count, "wall_s": wall}
    spread = ""
    if len(runs) > 1:
        spread = f"  [{runs[0][0] * 1e6 / count:.2f}-{runs[-1][0] * 1e6 / count:.2f} over {len(runs)} runs]"
    print(
        f"{name:<16} {count:>9,d} msgs  {result['msgs_per_s']:>10,.0f} msgs/s  "
        f"{result['cpu_us_per_msg']:>7.2f} µs CPU/msg  ({wall:.2f} s){spread}"
    )
    return result


def raw_floor(bootstrap: str, messages: int, value: bytes, topic: str) -> None:
    """The same produce round trip over a bare socket (no client library): the floor to compare with."""
    from pyflymq_core.protocol import FrameParser, encode_request, encode_request_frame

    host, _, port = bootstrap.rpartition(":")
    sock = socket.create_connection((host.strip("[]"), int(port)))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    parser = FrameParser()
    frame = encode_request_frame(
        1, encode_request(1, {"topic": topic, "key": b"", "value": value, "partition": -1})
    )

    def loop() -> None:
        for _ in range(messages):
            sock.sendall(frame)
            while not parser.feed(sock.recv(65536)):
                pass

    measure("raw-socket", messages, loop)
    sock.close()


def run(
    bootstrap: str, messages: int, value_size: int, fetch_size: int, threads: int, compare_raw: bool
) -> None:
    value = os.urandom(value_size // 2).hex().encode()[:value_size].ljust(value_size, b"x")
    suffix = os.urandom(4).hex()
    if compare_raw:
        raw_floor(bootstrap, messages, value, f"bench-raw-{suffix}")
    with FlyMQClient(bootstrap, keepalive_interval_ms=0) as client:
        topic = f"bench-client-{suffix}"
        client.create_topic(topic, partitions=1)
        for _ in range(min(1000, messages)):  # warm-up (also compiles the layouts)
            client.produce(f"{topic}-warm", value)
        client.fetch(f"{topic}-warm", 0, 0, min(1000, messages))

        produce = client.produce

        def produce_loop() -> None:
            for _ in range(messages):
                produce(topic, value)

        measure("produce", messages, produce_loop)

        keyed_topic = f"{topic}-keyed"
        client.create_topic(keyed_topic, partitions=3)
        produce(keyed_topic, value, key="warm-up")  # the first keyed produce reads the cluster metadata

        def produce_keyed() -> None:
            for i in range(messages):
                produce(keyed_topic, value, key=f"key-{i % 64}")

        measure("produce-keyed", messages, produce_keyed)

        per_thread = messages // threads
        threaded_topic = f"{topic}-threads"

        def worker() -> None:
            for _ in range(per_thread):
                produce(threaded_topic, value)

        def produce_threads() -> None:
            pool = [threading.Thread(target=worker) for _ in range(threads)]
            for t in pool:
                t.start()
            for t in pool:
                t.join()

        measure(f"produce-{threads}thr", per_thread * threads, produce_threads)

        fetch = client.fetch
        received = 0

        def fetch_loop() -> None:
            nonlocal received
            received = 0
            offset = 0
            while offset < messages:
                result = fetch(topic, 0, offset, fetch_size)
                received += len(result.messages)
                offset = result.next_offset

        measure("fetch", messages, fetch_loop)
        if received != messages:
            raise SystemExit(f"fetched {received} messages, expected {messages}")
        client.delete_topic(topic)
        client.delete_topic(keyed_topic)
        client.delete_topic(threaded_topic)
        client.delete_topic(f"{topic}-warm")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--bootstrap", help="host:port of a running server (default: spawn the embedded broker)"
    )
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--value-size", type=int, default=100)
    parser.add_argument(
        "--fetch-size", type=int, default=1000, help="max_messages per fetch (server max 1000)"
    )
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument(
        "--compare-raw", action="store_true", help="also time the produce round trip over a bare socket"
    )
    parser.add_argument(
        "--repeat", type=int, default=1, help="run each loop N times, report the median run (noisy machines)"
    )
    args = parser.parse_args()
    global REPEAT
    REPEAT = max(1, args.repeat)
    print(f"python {sys.version.split()[0]}, {args.value_size}-byte values")
    if args.bootstrap:
        run(args.bootstrap, args.messages, args.value_size, args.fetch_size, args.threads, args.compare_raw)
    else:
        with spawned_broker() as address:
            print(f"embedded broker at {address} (separate process)")
            run(address, args.messages, args.value_size, args.fetch_size, args.threads, args.compare_raw)


if __name__ == "__main__":
    main()
