"""The producer's record encoder gives exactly the bytes of the core PRODUCE layout."""

from __future__ import annotations

import pytest

from pyflymq_core.client import calls
from pyflymq_core.errors import InvalidArgumentError, InvalidArgumentTypeError
from pyflymq_core.producer.encoding import RecordEncoder
from pyflymq_core.protocol import (
    FrameParser,
    OpCode,
    decode_request,
    decompress_payload,
    encode_request_frame,
)


def _core_frame(topic: str, value: bytes | str, key: bytes | str | None) -> bytes:
    call = calls.produce(topic, value, key)
    return encode_request_frame(call.op, call.payload)


@pytest.mark.parametrize(
    ("topic", "key", "value"),
    [
        ("orders", None, b"x" * 100),
        ("orders", "user-123", b'{"event": "click"}'),
        ("orders", b"\x00\xff", ""),
        ("tópico-ü", "ключ", "värde ✓"),
    ],
)
def test_fast_and_first_record_paths_match_the_core_layout(
    topic: str, key: bytes | str | None, value: bytes | str
) -> None:
    encoder = RecordEncoder()
    first = encoder.encode(topic, key, value)  # validates, caches the topic prefix
    second = encoder.encode(topic, key, value)  # fast path
    expected = _core_frame(topic, value, key)
    assert first[2] == expected
    assert second[2] == expected
    assert second[0] == topic
    assert second[1] == (b"" if key is None else key if isinstance(key, bytes) else key.encode())


def test_the_frame_decodes_as_a_produce_request() -> None:
    encoder = RecordEncoder()
    encoder.encode("t", "k", b"v")
    _, _, frame = encoder.encode("t", "k", b"value")
    (parsed,) = FrameParser().feed(frame)
    assert parsed.op == OpCode.PRODUCE
    fields = decode_request(parsed.op, parsed.payload)
    assert fields == {"topic": "t", "key": b"k", "value": b"value", "partition": -1}


def test_invalid_records_are_refused_like_client_produce() -> None:
    encoder = RecordEncoder()
    with pytest.raises(InvalidArgumentError):
        encoder.encode("a/b", None, b"v")
    with pytest.raises(InvalidArgumentError):
        encoder.encode("", None, b"v")
    encoder.encode("ok", None, b"v")
    with pytest.raises(InvalidArgumentTypeError):
        encoder.encode("ok", None, 42)  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentTypeError):
        encoder.encode("ok", 3.5, b"v")  # type: ignore[arg-type]


def test_value_encoder_and_gzip_go_through_the_client_call_builder() -> None:
    seen: list[tuple[str, bytes]] = []

    def encode_value(topic: str, value: bytes) -> bytes:
        seen.append((topic, value))
        return value[::-1]

    encoder = RecordEncoder(encode_value, compress=True)
    assert not encoder.fast
    topic, key, frame = encoder.encode("t", "k", b"abc")
    assert (topic, key) == ("t", b"k")
    assert seen == [("t", b"abc")]
    (parsed,) = FrameParser().feed(frame)
    assert parsed.flags & 0x02  # gzip
    fields = decode_request(parsed.op, decompress_payload(parsed.flags, parsed.payload))
    assert fields["value"] == b"cba"
