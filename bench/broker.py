"""Throughput of the embedded broker on TCP: pipelined PRODUCE and FETCH with 100-byte values.

Starts ``python -m pyflymq broker --port 0`` in a separate process (one event loop = one core),
reads the address it prints, and drives it from this process over a raw socket with nothing but
:mod:`pyflymq_core.protocol` (no client library in the measurement):

- PRODUCE: windows of ``--window`` frames are written in one go, then their replies are read;
- FETCH: ``max_messages`` 1000, ``--fetch-pipeline`` requests in flight, until every message is read.

Target (issue 3): >= 20,000 produced and >= 100,000 fetched messages per second.
``--bootstrap host:port`` measures any running server instead (the real one included).

Run: ``.venv/bin/python bench/broker.py [--messages 200000] [--window 1000]``
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from pyflymq_core.protocol import (
    Frame,
    FrameParser,
    OpCode,
    decode_response,
    encode_request,
    encode_request_frame,
)

ROOT = Path(__file__).resolve().parent.parent


@contextmanager
def spawned_broker(extra_args: list[str]) -> Iterator[tuple[str, int]]:
    """Run the broker in a child process; yield (``host:port``, pid); SIGTERM it afterwards."""
    cmd = [sys.executable, "-m", "pyflymq", "broker", "--port", "0", *extra_args]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        if not line:
            raise SystemExit(f"the broker exited without printing its address (exit code {proc.wait()})")
        yield line, proc.pid
    finally:
        proc.terminate()
        try:
            code = proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise SystemExit("the broker did not stop within 10 s of SIGTERM") from None
        if code != 0:
            print(f"warning: the broker exited with code {code}", file=sys.stderr)


def cpu_seconds(pid: int | None) -> float | None:
    """User+system CPU time of ``pid`` from /proc (Linux); ``None`` elsewhere."""
    if pid is None:
        return None
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


class Connection:
    """A raw socket plus a frame parser: write frames, read exactly N replies."""

    def __init__(self, address: str) -> None:
        host, _, port = address.rpartition(":")
        self.sock = socket.create_connection((host.strip("[]") or "127.0.0.1", int(port)))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.parser = FrameParser()
        self.pending: list[Frame] = []

    def request(self, op: int, fields: dict[str, object]) -> dict[str, object]:
        self.sock.sendall(encode_request_frame(op, encode_request(op, fields)))
        frame = self.read_frames(1)[0]
        return decode_response(op, frame.op, frame.flags, frame.payload)

    def read_frames(self, count: int) -> list[Frame]:
        """Exactly ``count`` reply frames (frames read beyond them wait for the next call)."""
        frames = self.pending
        while len(frames) < count:
            chunk = self.sock.recv(4 * 1024 * 1024)
            if not chunk:
                raise SystemExit("the server closed the connection")
            frames += self.parser.feed(chunk)
        self.pending = frames[count:]
        return frames[:count]

    def close(self) -> None:
        self.sock.close()


def fail_on_error(op: int, frame: Frame) -> None:
    if frame.op == OpCode.ERROR:
        raise SystemExit(f"server error: {decode_response(op, frame.op, frame.flags, frame.payload)}")


def bench_produce(conn: Connection, topic: str, messages: int, window: int, value_size: int) -> float:
    value = bytes(range(256)) * (value_size // 256 + 1)
    frame = encode_request_frame(
        OpCode.PRODUCE,
        encode_request(
            OpCode.PRODUCE, {"topic": topic, "key": b"", "value": value[:value_size], "partition": 0}
        ),
    )
    full_window = frame * window
    start = time.perf_counter()
    sent = 0
    while sent < messages:
        n = min(window, messages - sent)
        conn.sock.sendall(full_window if n == window else frame * n)
        replies = conn.read_frames(n)
        fail_on_error(OpCode.PRODUCE, replies[0])
        fail_on_error(OpCode.PRODUCE, replies[-1])
        sent += n
    return time.perf_counter() - start


def bench_fetch(conn: Connection, topic: str, messages: int, batch: int, pipeline: int) -> tuple[float, int]:
    def fetch_frame(offset: int) -> bytes:
        fields = {"topic": topic, "partition": 0, "offset": offset, "max_messages": batch, "filter": ""}
        return encode_request_frame(OpCode.FETCH, encode_request(OpCode.FETCH, fields))

    received = 0
    next_to_send = 0
    in_flight = 0
    start = time.perf_counter()
    while received < messages:
        while in_flight < pipeline and next_to_send < messages:
            conn.sock.sendall(fetch_frame(next_to_send))
            next_to_send += batch
            in_flight += 1
        frame = conn.read_frames(1)[0]
        in_flight -= 1
        fail_on_error(OpCode.FETCH, frame)
        reply = decode_response(OpCode.FETCH, frame.op, frame.flags, frame.payload)
        count = int(reply["message_count"])
        if count == 0:
            raise SystemExit(f"fetch returned no messages after {received}")
        received += count
    elapsed = time.perf_counter() - start
    return elapsed, received


def report(name: str, count: int, seconds: float, value_size: int, cpu: float | None) -> None:
    rate = count / seconds
    line = f"{name:<8} {count:>8,} msgs in {seconds:6.3f} s = {rate:>10,.0f} msgs/s"
    line += f"  {rate * value_size / 1e6:7.2f} MB/s"
    if cpu is not None:
        line += f"  broker CPU {cpu * 1e6 / count:6.2f} us/msg ({cpu / seconds:4.0%} of a core)"
    print(line, flush=True)


def run(address: str, pid: int | None, args: argparse.Namespace) -> None:
    conn = Connection(address)
    topic = f"bench-{os.urandom(4).hex()}"
    created = conn.request(OpCode.CREATE_TOPIC, {"topic": topic, "partitions": 1})
    if "error_encoding" in created:
        raise SystemExit(f"create_topic failed: {created}")
    print(
        f"server {address}; topic {topic}; {args.messages:,} messages of {args.value_size} B; "
        f"produce window {args.window}; fetch {args.fetch_max}/request, {args.fetch_pipeline} in flight",
        flush=True,
    )
    cpu0 = cpu_seconds(pid)
    produce_s = bench_produce(conn, topic, args.messages, args.window, args.value_size)
    cpu1 = cpu_seconds(pid)
    report("produce", args.messages, produce_s, args.value_size, None if cpu0 is None else cpu1 - cpu0)  # type: ignore[operator]
    for _ in range(args.fetch_rounds):
        cpu0 = cpu_seconds(pid)
        fetch_s, fetched = bench_fetch(conn, topic, args.messages, args.fetch_max, args.fetch_pipeline)
        cpu1 = cpu_seconds(pid)
        report("fetch", fetched, fetch_s, args.value_size, None if cpu0 is None else cpu1 - cpu0)  # type: ignore[operator]
    conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--bootstrap", help="measure this running server instead of spawning the embedded one"
    )
    parser.add_argument("--messages", type=int, default=200_000)
    parser.add_argument("--window", type=int, default=1000, help="PRODUCE frames written before reading")
    parser.add_argument("--value-size", type=int, default=100)
    parser.add_argument("--fetch-max", type=int, default=1000, help="max_messages per FETCH")
    parser.add_argument("--fetch-pipeline", type=int, default=4, help="FETCH requests in flight")
    parser.add_argument("--fetch-rounds", type=int, default=2, help="read everything this many times")
    parser.add_argument("--broker-arg", action="append", default=[], help="extra argument for the broker")
    args = parser.parse_args()
    if args.bootstrap:
        run(args.bootstrap, None, args)
        return
    with spawned_broker(args.broker_arg) as (address, pid):
        run(address, pid, args)


if __name__ == "__main__":
    main()
