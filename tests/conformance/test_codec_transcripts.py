"""Every exchange of the golden transcripts through the codec, in both directions.

For each request: ``decode_request(payload) == fields`` and ``encode_request(fields)`` reproduces
``payload_hex`` byte for byte. For each response: ``decode_response`` equals ``fields`` and
``encode_response(fields)`` reproduces op, flags and payload. Volatile fields need no masking here:
the codec is checked against the captured values themselves.

Skipped, with reasons (each is counted by the test ids, none is silent):
- requests with ``raw_hex`` or no opcode (framing violations, client actions): they are not request
  payloads; framing is covered by the frame-parser tests below;
- requests marked ``_explicit_payload`` (deliberately malformed): not re-encodable from fields by
  definition; their decode is checked to fail or to match the server's reading instead;
- requests to opcodes with no layout at all (0x00, 0x0C, 0x71, 0x99, 0xA0, 0xFE, 0xFF): undefined by
  the protocol, the server answers `unknown opcode`;
- responses that are not frames (closed / no_response / client_closed).
"""

from __future__ import annotations

import pytest

from pyflymq_core.errors import ProtocolError
from pyflymq_core.protocol import (
    FrameParser,
    FramingError,
    compress_payload,
    decode_request,
    decode_response,
    decompress_payload,
    encode_frame,
    encode_request,
    encode_response,
    request_ops,
    response_ops,
)
from tests.support.transcripts import (
    Exchange,
    iter_exchanges,
    request_fields_to_codec,
    response_fields_to_codec,
)

EXCHANGES = list(iter_exchanges())


def _request_cases() -> list[Exchange]:
    return [
        e
        for e in EXCHANGES
        if e.request.get("op") is not None and "raw_hex" not in e.request and e.request["op"] in request_ops()
    ]


def _response_cases() -> list[Exchange]:
    return [e for e in EXCHANGES if "payload_hex" in e.response and e.request.get("op") is not None]


def _payload(e: Exchange) -> bytes:
    r = e.request
    return bytes.fromhex(r.get("uncompressed_payload_hex", r["payload_hex"]))


@pytest.mark.parametrize("e", _request_cases(), ids=lambda e: e.id)
def test_request_round_trip(e: Exchange) -> None:
    op = e.request["op"]
    fields = e.request["fields"]
    payload = _payload(e)
    if fields.get("_explicit_payload"):
        # Deliberately malformed: the codec must either refuse it like the server, or read what the
        # server read (the server's reply tells which).
        server_ok = e.response.get("op") not in (None, 0xFF)
        decode_text = None
        try:
            decoded = decode_request(op, payload)
        except ProtocolError as exc:
            decode_text = exc.server_text
        if server_ok:
            assert decode_text is None, "the server accepted this payload"
        else:
            message = e.response.get("fields", {}).get("message", "")
            if decode_text is not None:
                # The audit decoders word "buffer too small" as "<x> request too short".
                audit_wording = decode_text == "buffer too small" and "request too short" in message
                assert decode_text in message or audit_wording
            else:
                # The server decoded it too and failed later (e.g. a semantic error); nothing to compare.
                assert decoded is not None
        return
    expected = request_fields_to_codec(op, fields)
    assert decode_request(op, payload) == expected
    if "_trailing_hex" in fields:
        trailing = bytes.fromhex(fields["_trailing_hex"])
        assert encode_request(op, expected) + trailing == payload
    else:
        assert encode_request(op, expected) == payload


def test_compressed_requests_reproduce_the_gzip_stream() -> None:
    cases = [e for e in EXCHANGES if "uncompressed_payload_hex" in e.request]
    assert cases
    for e in cases:
        raw = bytes.fromhex(e.request["uncompressed_payload_hex"])
        wire = bytes.fromhex(e.request["payload_hex"])
        assert compress_payload(raw) == wire
        assert decompress_payload(e.request["flags"], wire) == raw


@pytest.mark.parametrize("e", _response_cases(), ids=lambda e: e.id)
def test_response_round_trip(e: Exchange) -> None:
    op = e.request["op"]
    resp = e.response
    payload = bytes.fromhex(resp["payload_hex"])
    expected = response_fields_to_codec(op, resp["fields"])
    assert decode_response(op, resp["op"], resp["flags"], payload) == expected
    assert encode_response(op, expected) == (resp["op"], resp["flags"], payload)


def test_every_dispatched_opcode_is_exercised() -> None:
    seen_ok = {e.request["op"] for e in _response_cases() if e.response["op"] != 0xFF}
    assert set(response_ops()) - seen_ok == set()


def test_framing_violations_are_refused_by_the_parser() -> None:
    cases = [
        e
        for e in EXCHANGES
        if "raw_hex" in e.request and e.response.get("closed") and not e.profile.startswith("tls")
    ]
    refused = 0
    for e in cases:
        raw = bytes.fromhex(e.request["raw_hex"])
        parser = FrameParser(max_payload=32 * 1024 * 1024)
        try:
            frames = parser.feed(raw)
        except FramingError:
            refused += 1
            continue
        # Otherwise it is an incomplete frame the server waited on until EOF.
        assert frames == []
    assert refused >= 6


def test_pipelined_raw_stream_splits_into_frames() -> None:
    e = next(x for x in EXCHANGES if x.scenario == "pipelined_requests" and x.step == 1)
    raw = bytes.fromhex(e.request["raw_hex"])
    frames = FrameParser().feed(raw)
    assert [f.op for f in frames] == [3, 1, 1, 8]
    assert b"".join(encode_frame(f.op, f.flags, f.payload) for f in frames) == raw
