"""Frame header, parser limits, gzip rule and the FNV-1a partitioner (spec §2, §3, §14.11)."""

from __future__ import annotations

import pytest

from pyflymq_core.errors import ProtocolError
from pyflymq_core.protocol import (
    MAX_REQUEST_PAYLOAD,
    FrameParser,
    FramingError,
    OpCode,
    compress_payload,
    decode_request,
    decode_response,
    decompress_payload,
    encode_frame,
    encode_request,
    encode_request_frame,
    fnv1a_32,
    parse_header,
    partition_for_key,
)


def test_header_layout_matches_the_spec_example() -> None:
    payload = bytes.fromhex("000474657374000000000000000568656c6c6fffffffff")
    assert encode_frame(OpCode.PRODUCE, 0x01, payload)[:8] == bytes.fromhex("af01010100000017")


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("0001080100000000", "magic"),
        ("af02080100000000", "version"),
        ("af01010102000001", "exceeds"),
    ],
)
def test_parser_rejects_framing_violations(raw: str, reason: str) -> None:
    parser = FrameParser(max_payload=MAX_REQUEST_PAYLOAD)
    with pytest.raises(FramingError, match=reason):
        parser.feed(bytes.fromhex(raw))
    with pytest.raises(FramingError):
        parser.feed(b"")  # a broken stream stays broken


def test_exactly_32_mib_is_accepted_and_waits_for_the_payload() -> None:
    parser = FrameParser(max_payload=MAX_REQUEST_PAYLOAD)
    assert parser.feed(bytes.fromhex("af01080102000000")) == []
    assert parser.buffered == 8


def test_clients_accept_responses_above_32_mib_header() -> None:
    op, flags, length = parse_header(bytes.fromhex("af01070102000001"))
    assert (op, flags, length) == (7, 1, MAX_REQUEST_PAYLOAD + 1)


def test_request_frames_over_the_limit_are_refused_before_sending() -> None:
    with pytest.raises(ProtocolError, match="32 MiB"):
        encode_request_frame(OpCode.PRODUCE, b"x" * (MAX_REQUEST_PAYLOAD + 1))


def test_gzip_flag_rule() -> None:
    raw = encode_request(OpCode.LIST_TOPICS, {})
    assert decompress_payload(0x01, b"plain") == b"plain"
    assert decompress_payload(0x04, b"lz4-is-not-implemented") == b"lz4-is-not-implemented"
    assert decompress_payload(0x03, compress_payload(raw)) == raw
    frame = encode_request_frame(OpCode.PRODUCE, b"abc", compress=True)
    assert frame[3] == 0x03
    with pytest.raises(ProtocolError) as exc:
        decompress_payload(0x02, b"not gzip at all")
    assert exc.value.server_text == "gzip: invalid header"
    with pytest.raises(ProtocolError) as exc:
        decompress_payload(0x02, compress_payload(b"hello world")[:-6])
    assert exc.value.server_text == "unexpected EOF"


@pytest.mark.parametrize(
    ("key", "hash_", "partitions", "partition"),
    [
        (b"user-42", 0x026073AB, 3, 0),
        (b"order-1001", 0x916F3D8C, 6, 4),
        (b"a", 0xE40C292C, 4, 0),
        (b"hello", 0x4F9F2CAB, 10, 3),
        (b"customer:12345", 0xF971AAE4, 7, 4),
        (b"b", 0xE70C2DE5, 3, 1),
        (b"c", 0xE60C2C52, 3, 2),
    ],
)
def test_fnv1a_partitions_match_the_server(key: bytes, hash_: int, partitions: int, partition: int) -> None:
    assert fnv1a_32(key) == hash_
    assert partition_for_key(key, partitions) == partition


def test_keyless_partition_is_unpredictable_on_multi_partition_topics() -> None:
    assert partition_for_key(b"", 3) is None
    assert partition_for_key(b"", 1) == 0
    assert partition_for_key(b"anything", 1) == 0


def test_decode_errors_carry_the_server_texts() -> None:
    with pytest.raises(ProtocolError) as exc:
        decode_request(OpCode.PRODUCE, b"\x00" * 13)
    assert exc.value.server_text == "buffer too small"
    with pytest.raises(ProtocolError) as exc:
        decode_request(OpCode.PRODUCE, bytes.fromhex("00017400000000000003e8616263ffffffff"))
    assert exc.value.server_text == "invalid binary format"


def test_out_of_step_response_opcode_is_a_protocol_error() -> None:
    with pytest.raises(ProtocolError, match="out of step"):
        decode_response(OpCode.PRODUCE, OpCode.FETCH, 1, b"")


def test_encode_refuses_overlong_strings_and_missing_fields() -> None:
    with pytest.raises(ProtocolError, match="65535"):
        encode_request(OpCode.DELETE_TOPIC, {"topic": "x" * 70000})
    with pytest.raises(ProtocolError, match="missing field 'topic'"):
        encode_request(OpCode.DELETE_TOPIC, {})
    with pytest.raises(ProtocolError, match="255"):
        encode_request(OpCode.SUBSCRIBE, {"topic": "t", "group_id": "g", "partition": 0, "mode": "m" * 300})


def test_frames_before_a_bad_header_are_returned_then_the_stream_fails() -> None:
    parser = FrameParser(max_payload=1000)
    good = encode_frame(OpCode.LIST_TOPICS, 1, b"")
    frames = parser.feed(good + bytes.fromhex("0001080100000000"))
    assert [f.op for f in frames] == [OpCode.LIST_TOPICS]
    assert isinstance(parser.error, FramingError)
    with pytest.raises(FramingError):
        parser.feed(good)


def test_short_gzip_payloads_fail_with_the_go_texts() -> None:
    for payload, text in ((b"", "EOF"), (b"\x1f\x8b\x08", "unexpected EOF")):
        with pytest.raises(ProtocolError) as exc:
            decompress_payload(0x03, payload)
        assert exc.value.server_text == text
