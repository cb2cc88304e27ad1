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
import sys
import threading
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script: import bench.*

from bench.producer import measure, spawned_broker
from pyflymq import FlyMQClient


def raw_floor(bootstrap: str, messages: int, value: bytes, topic: str, repeat: int) -> None:
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

    measure("raw-socket", messages, len(value), loop, repeat)
    sock.close()


def run(
    bootstrap: str,
    messages: int,
    value_size: int,
    fetch_size: int,
    threads: int,
    compare_raw: bool,
    repeat: int,
) -> None:
    value = os.urandom(value_size // 2).hex().encode()[:value_size].ljust(value_size, b"x")
    suffix = os.urandom(4).hex()
    if compare_raw:
        raw_floor(bootstrap, messages, value, f"bench-raw-{suffix}", repeat)
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

        measure("produce", messages, value_size, produce_loop, repeat)

        keyed_topic = f"{topic}-keyed"
        client.create_topic(keyed_topic, partitions=3)
        produce(keyed_topic, value, key="warm-up")  # the first keyed produce reads the cluster metadata

        def produce_keyed() -> None:
            for i in range(messages):
                produce(keyed_topic, value, key=f"key-{i % 64}")

        measure("produce-keyed", messages, value_size, produce_keyed, repeat)

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

        measure(f"produce-{threads}thr", per_thread * threads, value_size, produce_threads, repeat)

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

        measure("fetch", messages, value_size, fetch_loop, repeat)
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
    repeat = max(1, args.repeat)
    print(f"python {sys.version.split()[0]}, {args.value_size}-byte values")
    options = (args.messages, args.value_size, args.fetch_size, args.threads, args.compare_raw, repeat)
    if args.bootstrap:
        run(args.bootstrap, *options)
    else:
        with spawned_broker() as address:
            print(f"embedded broker at {address} (separate process)")
            run(address, *options)


if __name__ == "__main__":
    main()
