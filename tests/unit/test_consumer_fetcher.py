"""The consumer's FETCH decoding and record buffering (no server needed)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pyflymq_core.client import calls
from pyflymq_core.client.calls import complete, decode_fetch
from pyflymq_core.consumer import buffer
from pyflymq_core.consumer.assignment import TopicPartition
from pyflymq_core.consumer.buffer import FETCH_TARGET_BYTES, fetch_size_for, records_cap
from pyflymq_core.consumer.fetcher import Fetcher, PartitionState
from pyflymq_core.models import ConsumedMessage
from pyflymq_core.protocol import Frame, encode_response

records = st.lists(
    st.tuples(st.integers(min_value=0, max_value=2**64 - 1), st.binary(max_size=20), st.binary(max_size=50)),
    max_size=30,
)


def _payload(items: list[tuple[int, bytes, bytes]], next_offset: int = 7) -> bytes:
    messages = [{"offset": o, "key": k, "value": v} for o, k, v in items]
    return encode_response(
        7, {"message_count": len(messages), "next_offset": next_offset, "messages": messages}
    )[2]


@given(items=records, next_offset=st.integers(min_value=0, max_value=2**64 - 1))
def test_fast_decode_equals_the_clients_generic_decode(
    items: list[tuple[int, bytes, bytes]], next_offset: int
) -> None:
    payload = _payload(items, next_offset)
    generic = complete(calls.fetch("orders", 2, 0, 10), Frame(0x07, 0x01, payload))
    decoded = decode_fetch(payload, "orders", 2)
    assert decoded is not None
    messages, got_next = decoded
    assert got_next == generic.next_offset == next_offset
    assert messages == generic.messages
    assert all(m.key is None for m, (_, k, _) in zip(messages, items, strict=True) if not k)


def test_malformed_answers_are_left_to_the_generic_decoder() -> None:
    payload = _payload([(0, b"k", b"value")])
    assert decode_fetch(payload[:-1], "t", 0) is None  # truncated value
    assert decode_fetch(payload + b"x", "t", 0) is None  # trailing bytes
    assert decode_fetch(b"\x00\x00\x00\x05" + b"\x00" * 8, "t", 0) is None  # count larger than the data
    assert decode_fetch(b"\x00", "t", 0) is None


def _message(offset: int) -> ConsumedMessage:
    return ConsumedMessage(topic="t", partition=0, offset=offset, value=b"v")


class _NoClient:
    _value_decoder = None


def test_collect_takes_partitions_in_turn_and_push_back_restores() -> None:
    fetcher = Fetcher(_NoClient(), fetch_max_messages=10, request_timeout=1.0)  # type: ignore[arg-type]
    fetcher.add(TopicPartition("t", 0), 0, None)
    fetcher.add(TopicPartition("t", 1), 0, None)
    first, second = fetcher.order
    first.records = [_message(i) for i in range(5)]
    second.records = [_message(i) for i in range(3)]
    chunks = fetcher.collect(4)
    assert [(s.partition, [m.offset for m in r]) for s, r in chunks] == [(0, [0, 1, 2, 3])]
    chunks = fetcher.collect(10)  # partition 1 goes first this time
    assert [(s.partition, len(r)) for s, r in chunks] == [(1, 3), (0, 1)]
    assert first.buffered == 0 and second.buffered == 0
    first.push_back(chunks[1][1], first.epoch)
    assert [m.offset for m in first.records] == [4]
    first.reset(100)  # a seek: buffered records are dropped, stale push-backs ignored
    first.push_back([_message(4)], first.epoch - 1)
    assert first.buffered == 0 and first.position == first.fetch_offset == 100


def test_paused_partitions_hand_out_nothing() -> None:
    fetcher = Fetcher(_NoClient(), fetch_max_messages=10, request_timeout=1.0)  # type: ignore[arg-type]
    fetcher.add(TopicPartition("t", 0), 0, None)
    state: PartitionState = fetcher.order[0]
    state.records = [_message(0)]
    state.paused = True
    assert fetcher.collect(10) == []
    state.paused = False
    assert len(fetcher.collect(10)) == 1


def test_fetch_size_aims_at_answers_of_a_bounded_size(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(buffer, "_gc_threshold", lambda: (700, 10, 10))
    monkeypatch.setattr(buffer, "_gc_enabled", lambda: True)
    assert fetch_size_for(0, 0, 500) == 500  # nothing known yet: the configured maximum
    # Small records: capped so two answers' worth stay under the collector's first threshold.
    assert records_cap() == 280
    assert fetch_size_for(500 * 116, 500, 500) == 280
    assert fetch_size_for(500 * 116, 500, 200) == 200  # ... or by fetch_max_messages
    one_kib = fetch_size_for(100 * 1040, 100, 500)
    assert one_kib == FETCH_TARGET_BYTES // 1040 and 50 < one_kib < 280
    assert fetch_size_for(4 << 20, 1, 500) == 1  # huge records: one at a time, never 0


@pytest.mark.parametrize(
    ("threshold", "enabled", "cap"),
    [
        ((2000, 10, 10), True, 800),
        ((100, 10, 10), True, 100),
        ((0, 10, 10), True, 1000),
        ((700, 10, 10), False, 1000),
    ],
)
def test_the_record_cap_follows_the_garbage_collector(
    monkeypatch: pytest.MonkeyPatch, threshold: tuple[int, int, int], enabled: bool, cap: int
) -> None:
    monkeypatch.setattr(buffer, "_gc_threshold", lambda: threshold)
    monkeypatch.setattr(buffer, "_gc_enabled", lambda: enabled)
    assert records_cap() == cap
    assert fetch_size_for(1000 * 116, 1000, 1000) == cap


def test_a_partition_adapts_its_fetch_size_and_prefetches_only_with_records() -> None:
    state = PartitionState(TopicPartition("t", 0), 0, None, 500)
    assert state.take_in([_message(0)], 1, None, now=0.0, size=(1040 * 2, 2, 500)) is True
    assert state.fetch_size == FETCH_TARGET_BYTES // 1040 and state.fetch_offset == 1
    assert state.take_in([], 1, None, now=5.0) is False  # nothing new: idle back-off
    # An empty answer (the partition caught up) says nothing about record sizes: the size stays.
    assert state.take_in([], 1, None, now=5.0, size=(12, 0, 500)) is False
    assert state.fetch_size == FETCH_TARGET_BYTES // 1040
    assert not state.wants_fetch(now=5.0) and state.wants_fetch(now=6.0)
    state.records = [_message(i) for i in range(1, 1 + state.fetch_size)]
    assert not state.wants_fetch(now=6.0)  # a whole FETCH's worth buffered: no more for now
