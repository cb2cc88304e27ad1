"""Codec benchmark: the declarative layouts against a hand-written ``struct`` codec of the same frames.

Measures, in one run and on the same inputs:
- PRODUCE requests encoded per second (topic, 16-byte key, 100-byte value);
- FETCH-response messages decoded per second (a response of 1,000 messages with 100-byte values).

Target (issue 2): the layout codec costs at most 1.5x the hand-written baseline.
Run: ``.venv/bin/python bench/codec.py [--seconds 1.0]``
"""

from __future__ import annotations

import argparse
import struct
import time
from collections.abc import Callable
from typing import Any

from pyflymq_core.protocol import OpCode, request_layout, response_layout

_H = struct.Struct(">H")
_I = struct.Struct(">I")
_i = struct.Struct(">i")
_QI = struct.Struct(">QI")
_IQ = struct.Struct(">IQ")


def handwritten_encode_produce(topic: str, key: bytes, value: bytes, partition: int) -> bytes:
    t = topic.encode("utf-8")
    return b"".join(
        (_H.pack(len(t)), t, _I.pack(len(key)), key, _I.pack(len(value)), value, _i.pack(partition))
    )


def handwritten_decode_fetch(buf: bytes) -> dict[str, Any]:
    count, next_offset = _IQ.unpack_from(buf, 0)
    pos = 12
    messages = []
    for _ in range(count):
        offset, klen = _QI.unpack_from(buf, pos)
        pos += 12
        key = buf[pos : pos + klen]
        pos += klen
        (vlen,) = _I.unpack_from(buf, pos)
        pos += 4
        value = buf[pos : pos + vlen]
        pos += vlen
        messages.append({"offset": offset, "key": key, "value": value})
    return {"message_count": count, "next_offset": next_offset, "messages": messages}


def _rate(fn: Callable[[], object], units_per_call: int, seconds: float) -> float:
    calls = 0
    start = time.perf_counter()
    deadline = start + seconds
    while True:
        for _ in range(50):
            fn()
        calls += 50
        now = time.perf_counter()
        if now >= deadline:
            return calls * units_per_call / (now - start)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=1.0, help="time per measurement")
    args = parser.parse_args()

    value = bytes(range(100))
    key = b"user-0000000001"
    fields = {"topic": "bench-topic", "key": key, "value": value, "partition": -1}
    encode = request_layout(OpCode.PRODUCE).encode
    assert encode(fields) == handwritten_encode_produce("bench-topic", key, value, -1)

    messages = [{"offset": i, "key": b"k%06d" % i, "value": value} for i in range(1000)]
    fetch_fields = {"message_count": 1000, "next_offset": 1000, "messages": messages}
    fetch_payload = response_layout(OpCode.FETCH).encode(fetch_fields)
    decode = response_layout(OpCode.FETCH).decode
    assert decode(fetch_payload) == handwritten_decode_fetch(fetch_payload)

    rows = []
    for name, layout_fn, hand_fn, units in (
        (
            "PRODUCE requests encoded/s",
            lambda: encode(fields),
            lambda: handwritten_encode_produce("bench-topic", key, value, -1),
            1,
        ),
        (
            "FETCH messages decoded/s",
            lambda: decode(fetch_payload),
            lambda: handwritten_decode_fetch(fetch_payload),
            1000,
        ),
    ):
        # interleave to share machine noise, keep the best of three
        layout_rate = max(_rate(layout_fn, units, args.seconds / 3) for _ in range(3))
        hand_rate = max(_rate(hand_fn, units, args.seconds / 3) for _ in range(3))
        rows.append((name, layout_rate, hand_rate, hand_rate / layout_rate))

    print(f"{'measure':<30} {'layouts':>14} {'hand-written':>14} {'cost ratio':>11}")
    for name, layout_rate, hand_rate, ratio in rows:
        print(f"{name:<30} {layout_rate:>14,.0f} {hand_rate:>14,.0f} {ratio:>10.2f}x")
    worst = max(r[3] for r in rows)
    print(f"target: cost ratio <= 1.50x -> {'met' if worst <= 1.5 else 'NOT met'} (worst {worst:.2f}x)")


if __name__ == "__main__":
    main()
