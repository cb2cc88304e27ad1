"""Throughput and client CPU cost of the high-level consumer (``client.consumer()``).

For each value size (``--value-sizes``, default 100 bytes and 1 KiB) a topic is filled with
``--messages`` records (not measured), then read back completely:

- ``consumer-poll``: ``poll(max_records=...)`` until every record was returned;
- ``consumer-iter``: ``for message in consumer`` (position advanced per record);

and, with ``--compare-raw``, ``raw-fetch``: the floor — a bare socket sending FETCH (1,000 records)
and unpacking each answer with ``struct`` into tuples, no message objects.

Reported: msgs/s and MB/s (wall clock, value bytes) and client CPU µs per message
(``time.process_time``, kernel time included; the server is another process), the median of
``--repeat`` runs (the best CPU figure is shown too).  Creating the consumer (metadata, SUBSCRIBE)
happens before the timed part.  ``--deserializer bytes`` (or any codec name) measures the
per-record pipeline on top.  Target (issue 5): <= 2 µs CPU per consumed message.

The figures are noisy on a shared 2-core machine (anything else running inflates them): run the
bench two or three times and compare with the ``raw-fetch`` floor of the same run.

Run: ``.venv/bin/python bench/consumer.py [--messages 50000] [--bootstrap host:port] [--compare-raw]``
"""

from __future__ import annotations

import argparse
import os
import socket
import struct
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script: import bench.*

from bench.producer import MAX_PER_PARTITION, measure, spawned_broker
from pyflymq import FlyMQClient
from pyflymq_core.protocol import FrameParser, encode_request, encode_request_frame


def fill(client: FlyMQClient, topic: str, value: bytes, messages: int) -> None:
    client.create_topic(topic, partitions=1)
    with client.producer(batch_size=1 << 20) as producer:
        for _ in range(messages):
            producer.send(topic, value)


def raw_fetch(address: str, topic: str, messages: int) -> None:
    """The floor: FETCH 1,000 at a time over a bare socket, unpack records into tuples."""
    host, _, port = address.rpartition(":")
    sock = socket.create_connection((host.strip("[]"), int(port)))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    parser = FrameParser()
    head = struct.Struct(">IQ").unpack_from
    record = struct.Struct(">QI").unpack_from
    length = struct.Struct(">I").unpack_from
    offset = received = 0
    try:
        while received < messages:
            fields = {"topic": topic, "partition": 0, "offset": offset, "max_messages": 1000}
            sock.sendall(encode_request_frame(7, encode_request(7, fields)))
            frames: list[Any] = []
            while not frames:
                data = sock.recv(1 << 20)
                if not data:
                    raise SystemExit("the server closed the raw connection")
                frames = parser.feed(data)
            payload = frames[0].payload
            count, offset = head(payload, 0)
            pos = 12
            out = []
            for _ in range(count):
                at, key_len = record(payload, pos)
                pos += 12
                key = payload[pos : pos + key_len]
                pos += key_len
                (value_len,) = length(payload, pos)
                pos += 4
                out.append((at, key, payload[pos : pos + value_len]))
                pos += value_len
            received += len(out)
    finally:
        sock.close()


def run_size(
    client: FlyMQClient,
    bootstrap: str,
    size: int,
    messages: int,
    compare_raw: bool,
    repeat: int,
    options: dict[str, Any],
    suffix: str,
) -> None:
    value = os.urandom(size // 2 + 1).hex().encode()[:size]
    topic = f"bench-consumer-{size}-{suffix}"
    fill(client, topic, value, messages)
    runs = 0

    def new_consumer() -> Any:
        nonlocal runs
        runs += 1
        return client.consumer(
            topic, f"bench-{suffix}-{size}-{runs}", auto_offset_reset="earliest", **options
        )

    # Consumers are created (metadata, SUBSCRIBE) before the timed runs: a one-time cost.
    for_poll = iter([new_consumer() for _ in range(repeat)])
    for_iter = iter([new_consumer() for _ in range(repeat)])

    def poll_all() -> None:
        consumer = next(for_poll)
        got = 0
        while got < messages:
            batch = consumer.poll(timeout_ms=5000)
            if not batch:
                raise SystemExit(f"poll returned nothing after {got} of {messages} records")
            got += len(batch)
        consumer.close()

    def iterate_all() -> None:
        consumer = next(for_iter)
        for got, _ in enumerate(consumer, 1):
            if got == messages:
                break
        consumer.close()

    scenarios: list[tuple[str, Callable[[], None]]] = [
        ("consumer-poll", poll_all),
        ("consumer-iter", iterate_all),
    ]
    if compare_raw:
        scenarios.append(("raw-fetch", lambda: raw_fetch(bootstrap, topic, messages)))
    for name, body in scenarios:
        measure(name, messages, size, body, repeat)
    client.delete_topic(topic)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--bootstrap", help="host:port of a running server (default: spawn the embedded broker)"
    )
    parser.add_argument("--messages", type=int, default=50_000)
    parser.add_argument("--value-sizes", default="100,1024", help="comma-separated value sizes in bytes")
    parser.add_argument("--compare-raw", action="store_true", help="also time a bare FETCH loop")
    parser.add_argument(
        "--repeat", type=int, default=3, help="runs per scenario; the median is reported (with the best)"
    )
    parser.add_argument("--max-poll-records", type=int, default=None)
    parser.add_argument("--fetch-max-messages", type=int, default=None, help="records per FETCH (<= 1000)")
    parser.add_argument("--deserializer", default=None, help="a codec name for deserializer= (default: none)")
    args = parser.parse_args()
    if args.messages > MAX_PER_PARTITION:
        raise SystemExit(f"--messages must be <= {MAX_PER_PARTITION} (one partition per run)")
    sizes = [int(s) for s in args.value_sizes.split(",") if s]
    options = {
        name: value
        for name, value in (
            ("max_poll_records", args.max_poll_records),
            ("fetch_max_messages", args.fetch_max_messages),
        )
        if value is not None
    }
    if args.deserializer:
        options["deserializer"] = args.deserializer
    print(f"python {sys.version.split()[0]}, consumer options {options or 'default'}")

    def run(address: str) -> None:
        suffix = os.urandom(4).hex()
        with FlyMQClient(address, keepalive_interval_ms=0) as client:
            for size in sizes:
                run_size(client, address, size, args.messages, args.compare_raw, args.repeat, options, suffix)

    if args.bootstrap:
        run(args.bootstrap)
    else:
        with spawned_broker() as address:
            print(f"embedded broker at {address} (separate process)")
            run(address)


if __name__ == "__main__":
    main()
