"""RecordFuture: lazy metadata decoding (same result as the core layout), states, waiting."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pyflymq_core.client import calls
from pyflymq_core.errors import ProtocolError, TimeoutError
from pyflymq_core.models import RecordMetadata, fast_model
from pyflymq_core.producer.accumulator import RecordAccumulator, run_callbacks
from pyflymq_core.producer.future import RecordFuture, decode_metadata, decode_metadata_of
from pyflymq_core.protocol import encode_response


def _payload(**fields: object) -> bytes:
    values = {
        "topic": "orders",
        "partition": 3,
        "offset": 42,
        "timestamp": 1_700_000_000_123,
        "key_size": 8,
        "value_size": 100,
    }
    values.update(fields)
    return encode_response(1, values)[2]


@given(
    topic=st.text(max_size=40),
    partition=st.integers(min_value=-(2**31), max_value=2**31 - 1),
    offset=st.integers(min_value=0, max_value=2**64 - 1),
    timestamp=st.integers(min_value=-(2**63), max_value=2**63 - 1),
    key_size=st.integers(min_value=-1, max_value=2**31 - 1),
)
def test_fast_decode_equals_the_core_layout(
    topic: str, partition: int, offset: int, timestamp: int, key_size: int
) -> None:
    payload = _payload(
        topic=topic, partition=partition, offset=offset, timestamp=timestamp, key_size=key_size
    )
    expected = fast_model(RecordMetadata)(calls.PRODUCE.decode(payload))
    assert decode_metadata(payload) == expected
    # With the topic sent to: through its ProduceTemplate (the sync client's decoder); a reply
    # naming another topic than expected still decodes, through the layout.
    assert decode_metadata(payload, topic) == expected
    assert decode_metadata(payload, topic + "-other") == expected


def test_malformed_answers_raise_protocol_errors() -> None:
    with pytest.raises(ProtocolError):
        decode_metadata(b"\x00")
    with pytest.raises(ProtocolError):
        decode_metadata(_payload()[:-3])


def _future() -> RecordFuture:
    acc = RecordAccumulator(
        buffer_memory=1000, max_block_ms=0, batch_size=100, max_batch_messages=10, linger_ms=0
    )
    fut = RecordFuture(acc, "orders", b"", b"frame", None, None)
    acc.append(fut, 5)
    return fut


def test_states_and_lazy_metadata() -> None:
    fut = _future()
    assert not fut.done() and not fut.succeeded() and not fut.failed() and fut.metadata is None
    assert "pending" in repr(fut)
    with pytest.raises(TimeoutError, match="not acknowledged within 10 ms"):
        fut.get(timeout_ms=10)
    fut._payload = _payload()
    fut._acc.complete([fut], [], [])
    assert fut.done() and fut.succeeded() and fut.exception() is None
    meta = fut.get(timeout_ms=0)
    assert (meta.topic, meta.partition, meta.offset) == ("orders", 3, 42)
    assert fut.result() is meta and fut.metadata is meta  # decoded once
    assert "orders[3]@42" in repr(fut)


def _acknowledged(topic: str, payload: bytes, on_success: Any = None) -> RecordFuture:
    fut = RecordFuture(
        RecordAccumulator(
            buffer_memory=1000, max_block_ms=0, batch_size=100, max_batch_messages=10, linger_ms=0
        ),
        topic,
        b"",
        b"",
        on_success,
        None,
    )
    fut._state = 1  # SUCCEEDED
    fut._payload = payload
    return fut


@given(
    st.lists(
        st.tuples(
            st.sampled_from(["orders", "payments", "é-topic"]),
            st.integers(min_value=0, max_value=2**64 - 1),
            st.booleans(),  # a reply naming another topic than the one sent to
        ),
        max_size=30,
    )
)
def test_bulk_decode_equals_one_by_one(records: list[tuple[str, int, bool]]) -> None:
    futures = [
        _acknowledged(topic, _payload(topic=topic + "-x" if other else topic, offset=offset))
        for topic, offset, other in records
    ]
    decode_metadata_of(futures)
    for fut in futures:
        assert fut._payload is not None
        # Replies of the template's shape are decoded in bulk; the others are left for on-access
        # decoding, which gives the same model either way.
        assert fut.metadata == decode_metadata(fut._payload, fut.topic)


def test_bulk_decode_leaves_decoded_pending_and_malformed_futures_alone() -> None:
    decoded = _acknowledged("orders", _payload())
    first = decoded.metadata
    pending = _future()
    malformed = _acknowledged("orders", b"\x00")
    decode_metadata_of([decoded, pending, malformed])
    assert decoded.metadata is first and pending.metadata is None
    assert malformed._metadata is None
    with pytest.raises(ProtocolError):
        malformed.metadata  # noqa: B018 - the access decodes (and fails) on demand


def test_run_callbacks_hands_each_callback_its_own_metadata() -> None:
    seen: list[RecordMetadata] = []
    futures = [_acknowledged("orders", _payload(offset=i), seen.append) for i in range(3)]
    futures.append(_acknowledged("orders", b"\x00", seen.append))  # its callback is skipped, logged
    run_callbacks(futures)
    assert [m.offset for m in seen] == [0, 1, 2]
    assert [f.metadata for f in futures[:3]] == seen
