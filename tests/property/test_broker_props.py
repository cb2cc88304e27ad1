"""Hypothesis properties of the embedded broker.

- ``handle()`` and ``feed()`` never raise, whatever the opcode, flags, payload or chunking, and
  every answer is either the opcode's normal response or an error frame;
- after arbitrary traffic the state stays consistent: LIST_TOPICS decodes, every partition's
  offsets are contiguous from 0, and what was produced reads back unchanged;
- responses to a pipelined stream do not depend on how the stream is chunked.
"""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pyflymq_broker import AuthSettings, Broker, BrokerConfig
from pyflymq_broker.direct import DirectClient
from pyflymq_core.protocol import (
    FrameParser,
    OpCode,
    decode_response,
    encode_frame,
    encode_request,
    response_opcode,
)

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
TOPICS = st.sampled_from(["a", "b", "", "__x", "t\u00e9"])
small_bytes = st.binary(max_size=24)


def _request(draw: Any) -> tuple[int, int, bytes]:
    """A random request: well-formed for a few ops, otherwise random bytes for any opcode."""
    kind = draw(st.integers(0, 3))
    if kind == 0:
        op = draw(st.integers(0, 255))
        return op, draw(st.sampled_from([0, 1, 2, 3, 5, 7])), draw(st.binary(max_size=40))
    topic = draw(TOPICS)
    choices: list[tuple[int, dict[str, Any]]] = [
        (
            OpCode.PRODUCE,
            {"topic": topic, "key": draw(small_bytes), "value": draw(small_bytes), "partition": -1},
        ),
        (OpCode.CREATE_TOPIC, {"topic": topic, "partitions": draw(st.integers(-2, 5))}),
        (OpCode.DELETE_TOPIC, {"topic": topic}),
        (
            OpCode.FETCH,
            {
                "topic": topic,
                "partition": draw(st.integers(-1, 5)),
                "offset": draw(st.integers(0, 10)),
                "max_messages": draw(st.integers(-1, 5)),
                "filter": draw(st.sampled_from(["", "a", "$.a", "[", "(?=x)", ".*"])),
            },
        ),
        (
            OpCode.SUBSCRIBE,
            {
                "topic": topic,
                "group_id": draw(st.sampled_from(["", "g"])),
                "partition": draw(st.integers(-1, 3)),
                "mode": draw(st.sampled_from(["", "earliest", "latest", "commit", "x"])),
            },
        ),
        (
            OpCode.COMMIT,
            {
                "topic": topic,
                "group_id": "g",
                "partition": draw(st.integers(-1, 3)),
                "offset": draw(st.integers(0, 9)),
            },
        ),
        (
            OpCode.PRODUCE_DELAYED,
            {"topic": topic, "data": draw(small_bytes), "delay_ms": draw(st.integers(-5, 5))},
        ),
        (
            OpCode.REGISTER_SCHEMA,
            {
                "name": "s",
                "type": draw(st.sampled_from(["json", "avro", "proto"])),
                "schema": draw(small_bytes),
            },
        ),
        (OpCode.VALIDATE_SCHEMA, {"name": "s", "message": draw(small_bytes)}),
        (OpCode.PRODUCE_WITH_SCHEMA, {"topic": topic, "schema_name": "s", "data": draw(small_bytes)}),
        (
            OpCode.AUTH,
            {
                "username": draw(st.sampled_from(["admin", "x", ""])),
                "password": draw(st.sampled_from(["pw", ""])),
            },
        ),
    ]
    op, fields = draw(st.sampled_from(choices))
    payload = encode_request(op, fields)
    if kind == 3 and payload:
        payload = payload[: draw(st.integers(0, len(payload) - 1))]  # truncated
    return op, 1, payload


requests = st.lists(st.composite(lambda draw: _request(draw))(), min_size=1, max_size=25)
configs = st.sampled_from(
    [
        BrokerConfig(),
        BrokerConfig.upstream_defaults(),
        BrokerConfig(auth=AuthSettings(enabled=True, admin_username="admin", admin_password="pw")),
    ]
)


def _check_consistent(broker: Broker, written: dict[tuple[str, int], list[bytes]]) -> None:
    client = DirectClient(broker)
    if broker.security is not None:
        assert client.call(OpCode.AUTH, username="admin", password="pw")["success"]
    topics = client.call(OpCode.LIST_TOPICS)["topics"]
    assert topics == sorted(topics, key=lambda t: t.encode("utf-8", "surrogateescape"))
    for name in broker.topics.names():
        topic = broker.topics.get(name)
        assert topic is not None and len(topic.partitions) >= 1
        for index, part in enumerate(topic.partitions):
            reply = client.call(OpCode.FETCH, topic=name, partition=index, offset=0, max_messages=1000)
            assert [m["offset"] for m in reply["messages"]] == list(range(len(part.records)))
            if (name, index) in written:
                values = [m["value"] for m in reply["messages"]]
                assert values[: len(written[(name, index)])] == written[(name, index)]


@SETTINGS
@given(config=configs, traffic=requests)
def test_handle_never_raises_and_state_stays_consistent(
    config: BrokerConfig, traffic: list[tuple[int, int, bytes]]
) -> None:
    broker = Broker(config)
    session = broker.open_session("10.0.0.1:1")
    for op, flags, payload in traffic:
        resp_op, resp_flags, resp_payload = session.handle(op, flags, payload)
        assert resp_op in (0xFF, response_opcode(op))
        if resp_op == 0xFF:
            assert resp_flags in (0x00, 0x01)
        decode_response(op, resp_op, resp_flags, resp_payload)  # every answer decodes
    _check_consistent(broker, {})
    session.close()


@SETTINGS
@given(traffic=requests, cuts=st.lists(st.integers(1, 64), max_size=30), tail=st.binary(max_size=16))
def test_feed_is_chunking_independent(
    traffic: list[tuple[int, int, bytes]], cuts: list[int], tail: bytes
) -> None:
    stream = b"".join(encode_frame(op, flags, payload) for op, flags, payload in traffic) + tail
    answers = []
    for chunked in (False, True):
        broker = Broker(BrokerConfig(delayed_enabled=False, transaction_enabled=False, audit_enabled=False))
        session = broker.open_session("10.0.0.2:2")
        out = bytearray()
        closed = False
        if chunked:
            pos = 0
            for size in [*cuts, len(stream)]:
                result = session.feed(stream[pos : pos + size])
                out += result.output
                closed = closed or result.close
                pos += size
                if pos >= len(stream):
                    break
        else:
            result = session.feed(stream)
            out += result.output
            closed = result.close
        frames = FrameParser().feed(bytes(out))
        assert sum(8 + len(f.payload) for f in frames) == len(out)  # only whole frames
        answers.append(([(f.op, f.flags) for f in frames], closed))
    assert answers[0] == answers[1]


@SETTINGS
@given(
    partitions=st.integers(1, 4),
    records=st.lists(st.tuples(st.binary(max_size=4), st.binary(max_size=16)), min_size=1, max_size=40),
)
def test_produced_records_read_back_in_order(partitions: int, records: list[tuple[bytes, bytes]]) -> None:
    client = DirectClient(Broker())
    client.call(OpCode.CREATE_TOPIC, topic="t", partitions=partitions)
    written: dict[tuple[str, int], list[bytes]] = {}
    for key, value in records:
        meta = client.call(OpCode.PRODUCE, topic="t", key=key, value=value, partition=-1)
        part = written.setdefault(("t", meta["partition"]), [])
        assert meta["offset"] == len(part)
        part.append(value)
        assert meta["key_size"] == (len(key) if key else -1)
    _check_consistent(client.broker, written)
    for (_, index), values in written.items():
        for offset, value in enumerate(values):
            assert client.call(OpCode.CONSUME, topic="t", partition=index, offset=offset)["value"] == value
