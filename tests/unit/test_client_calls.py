"""The operation layer (pyflymq_core.client.calls) against the real server's transcripts.

For every captured exchange whose request a public call can express, the call built from the same
arguments must encode the same fields, and completing it with the captured response must give a
typed result or a typed FlyMQError.  Requests that crashed the real server must be refused by the
call's validation before anything is encoded.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from pyflymq_core.client import calls
from pyflymq_core.client.calls import Call, OutOfStepError, complete, unwrap_zero_copy
from pyflymq_core.errors import (
    AuthenticationError,
    FeatureDisabledError,
    FlyMQError,
    InvalidArgumentError,
    InvalidArgumentTypeError,
    NotFoundError,
    NotLeaderError,
    OffsetOutOfRangeError,
    TopicNotFoundError,
    TransactionError,
)
from pyflymq_core.models import ConsumedMessage, FetchResult, RecordMetadata
from pyflymq_core.protocol import (
    MAX_REQUEST_PAYLOAD,
    Frame,
    OpCode,
    ProduceTemplate,
    decode_request,
    encode_request,
    encode_request_frame,
    encode_response,
    response_layout,
)
from tests.support.transcripts import Exchange, iter_exchanges, request_fields_to_codec

OP = OpCode


def _audit(f: dict[str, Any]) -> dict[str, Any]:
    return calls.audit_fields(
        f["start_time"],
        f["end_time"],
        f["event_types"],
        f["user"],
        f["resource"],
        f["result"],
        f["search"],
        f["limit"],
        f["offset"],
    )


#: opcode -> how the public API would build that request from the transcript's fields.
BUILDERS: dict[int, Callable[[dict[str, Any]], Call[Any]]] = {
    OP.PRODUCE: lambda f: calls.produce(f["topic"], f["value"], f["key"] or None),
    OP.CONSUME: lambda f: calls.consume(f["topic"], f["offset"], f["partition"]),
    OP.CONSUME_ZERO_COPY: lambda f: calls.consume(f["topic"], f["offset"], f["partition"], zero_copy=True),
    OP.CREATE_TOPIC: lambda f: calls.create_topic(f["topic"], f["partitions"]),
    OP.SUBSCRIBE: lambda f: calls.subscribe(f["topic"], f["group_id"], f["partition"], f["mode"]),
    OP.COMMIT: lambda f: calls.commit_offset(f["topic"], f["group_id"], f["partition"], f["offset"]),
    OP.FETCH: lambda f: calls.fetch(
        f["topic"], f["partition"], f["offset"], f["max_messages"], f.get("filter")
    ),
    OP.FETCH_BINARY: lambda f: calls.fetch(
        f["topic"], f["partition"], f["offset"], f["max_messages"], f.get("filter"), binary=True
    ),
    OP.LIST_TOPICS: lambda f: calls.list_topics(),
    OP.DELETE_TOPIC: lambda f: calls.delete_topic(f["topic"]),
    OP.REGISTER_SCHEMA: lambda f: calls.register_schema(f["name"], f["type"], f["schema"]),
    OP.GET_SCHEMA: lambda f: calls.get_schema(f["topic"], f["version"]),
    OP.LIST_SCHEMAS: lambda f: calls.list_schemas(f.get("topic", "")),
    OP.VALIDATE_SCHEMA: lambda f: calls.validate_schema(f["name"], f["message"]),
    OP.PRODUCE_WITH_SCHEMA: lambda f: calls.produce_with_schema(f["topic"], f["data"], f["schema_name"]),
    OP.DELETE_SCHEMA: lambda f: calls.delete_schema(f["topic"], f["version"]),
    OP.FETCH_DLQ: lambda f: calls.fetch_dlq(f["topic"], f["max_messages"]),
    OP.REPLAY_DLQ: lambda f: calls.replay_dlq(f["topic"], f["message_id"]),
    OP.PURGE_DLQ: lambda f: calls.purge_dlq(f["topic"]),
    OP.PRODUCE_DELAYED: lambda f: calls.produce_delayed(f["topic"], f["data"], f["delay_ms"]),
    OP.PRODUCE_WITH_TTL: lambda f: calls.produce_with_ttl(f["topic"], f["data"], f["ttl_ms"]),
    OP.BEGIN_TX: lambda f: calls.begin_tx(),
    OP.COMMIT_TX: lambda f: calls.commit_tx(f["txn_id"]),
    OP.ABORT_TX: lambda f: calls.abort_tx(f["txn_id"]),
    OP.PRODUCE_TX: lambda f: calls.produce_tx(f["txn_id"], f["topic"], f["data"]),
    OP.CLUSTER_METADATA: lambda f: calls.cluster_metadata(f.get("topic") or None),
    OP.GET_OFFSET: lambda f: calls.get_committed_offset(f["topic"], f["group_id"], f["partition"]),
    OP.RESET_OFFSET: lambda f: calls.reset_offset(
        f["topic"], f["group_id"], f["partition"], f["mode"], f.get("offset")
    ),
    OP.LIST_GROUPS: lambda f: calls.list_groups(),
    OP.DESCRIBE_GROUP: lambda f: calls.describe_group(f["topic"], f["group_id"]),
    OP.GET_LAG: lambda f: calls.get_lag(f["topic"], f["group_id"], f["partition"]),
    OP.DELETE_GROUP: lambda f: calls.delete_group(f["topic"], f["group_id"]),
    OP.AUTH: lambda f: calls.authenticate(f["username"], f["password"]),
    OP.WHOAMI: lambda f: calls.whoami(),
    OP.USER_CREATE: lambda f: calls.create_user(f["username"], f["password"], f["roles"]),
    OP.USER_DELETE: lambda f: calls.delete_user(f["username"]),
    OP.USER_UPDATE: lambda f: calls.update_user(f["username"], f["roles"], bool(f.get("enabled", False))),
    OP.USER_LIST: lambda f: calls.list_users(),
    OP.USER_GET: lambda f: calls.get_user(f["username"]),
    OP.ACL_SET: lambda f: calls.set_acl(
        f["topic"], public=f["public"], allowed_users=f["allowed_users"], allowed_roles=f["allowed_roles"]
    ),
    OP.ACL_GET: lambda f: calls.get_acl(f["topic"]),
    OP.ACL_DELETE: lambda f: calls.delete_acl(f["topic"]),
    OP.ACL_LIST: lambda f: calls.list_acls(),
    OP.PASSWORD_CHANGE: lambda f: calls.change_password(f["username"], f["password"], f["old_password"]),
    OP.ROLE_LIST: lambda f: calls.list_roles(),
    OP.AUDIT_QUERY: lambda f: calls.audit_query(_audit(f)),
    OP.AUDIT_EXPORT: lambda f: calls.audit_export(_audit(f["query"]), f["format"]),
}

#: Fields a call deliberately sends differently from what the capture sent (same server effect).
_NORMALISE: dict[int, Callable[[dict[str, Any]], None]] = {
    OP.PRODUCE: lambda f: f.update(partition=-1),  # ignored by the server; always -1
    OP.USER_CREATE: lambda f: f.update(enabled=True),  # ignored by the server on create
    OP.PASSWORD_CHANGE: lambda f: f.pop("enabled", None),  # ignored by the server
    OP.FETCH: lambda f: f.pop("filter", None) if f.get("filter") == "" else None,
    OP.FETCH_BINARY: lambda f: f.pop("filter", None) if f.get("filter") == "" else None,
    OP.LIST_SCHEMAS: lambda f: f.pop("topic", None) if f.get("topic") == "" else None,
    OP.CLUSTER_METADATA: lambda f: f.pop("topic", None) if f.get("topic") == "" else None,
    # modes and schema types are accepted case-insensitively and sent in the server's lower case
    OP.REGISTER_SCHEMA: lambda f: f.update(type=f["type"].lower()),
    OP.SUBSCRIBE: lambda f: f.update(mode=f["mode"].lower()),
    OP.RESET_OFFSET: lambda f: f.update(mode=f["mode"].lower()),
}


def _unchanged(fields: dict[str, Any]) -> None:
    """Fields sent exactly as captured."""


def _usable(ex: Exchange) -> bool:
    req = ex.request
    op = req.get("op")
    return (
        op in BUILDERS
        and not any(
            k in req for k in ("raw_hex", "uncompressed_payload_hex", "from_previous", "client_action")
        )
        and not any(k.startswith("_") for k in req["fields"])
    )


EXCHANGES = [ex for ex in iter_exchanges() if _usable(ex)]


def _crashed(ex: Exchange) -> bool:
    """This very request took the server down (not: the server was already down)."""
    response = ex.response
    return bool(response.get("server_exited")) and response.get("close_kind") != "already_closed"


@pytest.mark.parametrize("ex", EXCHANGES, ids=lambda ex: ex.id)
def test_calls_match_the_real_server_transcripts(ex: Exchange) -> None:
    op = ex.request["op"]
    fields = request_fields_to_codec(op, ex.request["fields"])
    try:
        call = BUILDERS[op](fields)
    except InvalidArgumentError:
        # Refused before encoding: fine for values the SDK forbids on purpose (empty topics, mode "",
        # partitions=0, ...); mandatory for the requests that crashed the real server.
        return
    if _crashed(ex):
        # Only AUTH/user/ACL crashes depend on server state; the client guards those (probe).
        assert op in (OP.AUTH, *range(OP.USER_CREATE, OP.ROLE_LIST + 1)), (
            f"{ex.id}: a request that crashed the real server was accepted by the call builder"
        )
        return
    expected = dict(fields)
    _NORMALISE.get(op, _unchanged)(expected)
    assert decode_request(op, call.payload) == expected
    response = ex.response
    if "op" not in response:  # no answer (closed / nothing within the wait)
        return
    frame = Frame(response["op"], response["flags"], bytes.fromhex(response["payload_hex"]))
    try:
        result = complete(call, frame)
    except FlyMQError as exc:
        assert response["op"] == OP.ERROR or isinstance(
            exc, (AuthenticationError, TransactionError, FeatureDisabledError, NotFoundError)
        ), f"{ex.id}: a normal response raised {exc!r}"
        return
    assert response["op"] != OP.ERROR, f"{ex.id}: an error frame produced a result"
    if op in (OP.PRODUCE, OP.PRODUCE_WITH_SCHEMA, OP.PRODUCE_DELAYED, OP.PRODUCE_WITH_TTL, OP.PRODUCE_TX):
        assert isinstance(result, RecordMetadata)
        assert result.offset == ex.response["fields"]["offset"]
    if op in (OP.FETCH, OP.FETCH_BINARY):
        assert isinstance(result, FetchResult)
        assert [m.offset for m in result] == [m["offset"] for m in ex.response["fields"]["messages"]]
        assert result.next_offset == ex.response["fields"]["next_offset"]


def test_the_transcripts_exercise_most_operations() -> None:
    covered = {ex.request["op"] for ex in EXCHANGES}
    assert len(covered) >= 40, sorted(covered)


# --------------------------------------------------------------------------- crash inputs


@pytest.mark.parametrize(
    "build",
    [
        lambda: calls.fetch("t", -1),
        lambda: calls.fetch("t", 0, 0, 10, binary=True) and calls.fetch("t", -5, binary=True),
        lambda: calls.subscribe("t", "g", -1, "earliest"),
        lambda: calls.get_lag("t", "g", -1),
        lambda: calls.reset_offset("t", "g", -1, "earliest"),
        lambda: calls.reset_offset("t", "g", -1, "latest"),
        lambda: calls.create_topic("t", -1),
        lambda: calls.audit_fields(limit=-1),
        lambda: calls.audit_fields(offset=-1),
        lambda: calls.produce("a/b", b"x"),
        lambda: calls.commit_offset("t", "g/h", 0, 1),
        lambda: calls.consume("t", -1),
        lambda: calls.delete_schema("s", 0),
        lambda: calls.produce("t" * 70_000, b"x"),
        lambda: calls.produce("t", b"x" * (32 * 1024 * 1024)),
        lambda: calls.produce_delayed("t", b"x", -5),
        lambda: calls.reset_offset("t", "g", 0, "offset"),
        lambda: calls.reset_offset("t", "g", 0, "earliest", 5),
        lambda: calls.fetch("t", 0, 0, 0),
    ],
)
def test_dangerous_arguments_are_refused_before_encoding(build: Callable[[], object]) -> None:
    with pytest.raises(InvalidArgumentError):
        build()


@pytest.mark.parametrize(
    "build",
    [
        lambda: calls.produce("t", 123),  # type: ignore[arg-type]
        lambda: calls.fetch("t", 0.5),  # type: ignore[arg-type]
        lambda: calls.update_user("u", [], "yes"),  # type: ignore[arg-type]
        lambda: calls.set_acl("t", public=1),  # type: ignore[arg-type]
        lambda: calls.create_user("u", "p", "admin"),
    ],
)
def test_wrong_types_are_type_errors(build: Callable[[], object]) -> None:
    with pytest.raises(InvalidArgumentTypeError):
        build()


# --------------------------------------------------------------------------- completing responses


def _frame(op: int, fields: dict[str, Any]) -> Frame:
    return Frame(*encode_response(op, fields))


def test_consume_eof_is_offset_out_of_range_with_context() -> None:
    call = calls.consume("orders", 9, 0)
    with pytest.raises(OffsetOutOfRangeError) as info:
        complete(call, _frame(OP.CONSUME, {"error_encoding": "raw_unflagged", "message": "EOF"}))
    assert info.value.offset == 9


def test_topic_not_found_names_the_topic() -> None:
    call = calls.consume("nonexistent-topic", 0)
    with pytest.raises(TopicNotFoundError) as info:
        complete(call, _frame(OP.CONSUME, {"error_encoding": "raw_unflagged", "message": "topic not found"}))
    assert "nonexistent-topic" in (info.value.hint or "")


def test_not_partition_leader_parses_the_address() -> None:
    call = calls.produce("ct", b"v", key="k")
    text = "not partition leader: partition=1 leader_addr=127.0.0.1:19161"
    with pytest.raises(NotLeaderError) as info:
        complete(call, _frame(OP.PRODUCE, {"error_encoding": "raw_unflagged", "message": text}))
    assert info.value.leader_addr == "127.0.0.1:19161" and info.value.partition == 1


def test_unexpected_response_opcode_is_out_of_step() -> None:
    call = calls.list_topics()
    with pytest.raises(OutOfStepError):
        complete(
            call,
            _frame(
                OP.PRODUCE,
                {"topic": "t", "partition": 0, "offset": 0, "timestamp": 0, "key_size": -1, "value_size": 0},
            ),
        )


def test_in_band_failures_raise() -> None:
    with pytest.raises(FeatureDisabledError):
        complete(calls.purge_dlq("t"), _frame(OP.PURGE_DLQ, {"success": False, "message": "DLQ not enabled"}))
    with pytest.raises(TransactionError):
        complete(calls.commit_tx("txn-1"), _frame(OP.COMMIT_TX, {"txn_id": "txn-1", "success": False}))
    with pytest.raises(AuthenticationError, match="invalid username or password"):
        complete(
            calls.authenticate("a", "b"),
            Frame(
                *encode_response(
                    OP.AUTH,
                    {"success": False, "username": "", "roles": [], "error": "invalid username or password"},
                )
            ),
        )


def test_fetch_builds_messages_with_topic_partition_and_no_key_as_none() -> None:
    call = calls.fetch("orders", 2, 5, 10)
    frame = _frame(
        OP.FETCH,
        {
            "message_count": 2,
            "next_offset": 7,
            "messages": [
                {"offset": 5, "key": b"", "value": b"a"},
                {"offset": 6, "key": b"k", "value": b"b"},
            ],
        },
    )
    result = complete(call, frame)
    assert result == FetchResult(
        topic="orders",
        partition=2,
        next_offset=7,
        messages=[
            ConsumedMessage(topic="orders", partition=2, offset=5, key=None, value=b"a"),
            ConsumedMessage(topic="orders", partition=2, offset=6, key=b"k", value=b"b"),
        ],
    )


def test_value_decoder_seam_is_applied_on_fetch_and_consume() -> None:
    seen: list[tuple[str, int, int]] = []

    def decode(topic: str, partition: int, offset: int, value: bytes) -> bytes:
        seen.append((topic, partition, offset))
        return value.upper()

    fetched = complete(
        calls.fetch("t", 0, 0, 10, decode_value=decode),
        _frame(
            OP.FETCH,
            {"message_count": 1, "next_offset": 1, "messages": [{"offset": 0, "key": b"", "value": b"x"}]},
        ),
    )
    consumed = complete(
        calls.consume("t", 3, 1, decode_value=decode), _frame(OP.CONSUME, {"key": b"", "value": b"y"})
    )
    assert fetched.messages[0].value == b"X" and consumed.value == b"Y"
    assert seen == [("t", 0, 0), ("t", 1, 3)]


def test_value_encoder_seam_is_applied_on_every_produce_variant() -> None:
    def encode(topic: str, value: bytes) -> bytes:
        return b"enc:" + value

    built = [
        calls.produce("t", b"v", encode_value=encode),
        calls.produce_with_schema("t", b"v", "s", encode_value=encode),
        calls.produce_delayed("t", b"v", 10, encode_value=encode),
        calls.produce_with_ttl("t", b"v", 10, encode_value=encode),
    ]
    for call in built:
        decoded = decode_request(call.op, call.payload)
        assert decoded.get("value", decoded.get("data")) == b"enc:v"


def test_zero_copy_unwraps_large_values_only() -> None:
    small = b"v" * 100
    assert unwrap_zero_copy(b"k", small) == small
    value = b"x" * 70_000
    key = b"key"
    wrapped = len(key).to_bytes(4, "big") + key + len(value).to_bytes(4, "big") + value
    assert unwrap_zero_copy(key, wrapped) == value
    with pytest.raises(FlyMQError):
        unwrap_zero_copy(b"other", wrapped)


def test_zero_copy_call_unwraps_through_complete() -> None:
    value = b"z" * 65_536
    wrapped = (0).to_bytes(4, "big") + len(value).to_bytes(4, "big") + value
    message = complete(
        calls.consume("t", 0, zero_copy=True), _frame(OP.CONSUME_ZERO_COPY, {"key": b"", "value": wrapped})
    )
    assert message.value == value and message.key is None


def test_produce_checks_every_record_even_for_a_topic_already_used() -> None:
    first = calls.produce("checked", b"v")  # "checked" is now a known-good topic name
    assert decode_request(OpCode.PRODUCE, first.payload)["topic"] == "checked"
    with pytest.raises(InvalidArgumentTypeError):
        calls.produce("checked", 12345)  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError, match="32 MiB"):
        calls.produce("checked", b"\x00" * (32 * 1024 * 1024))
    keyed = calls.produce("checked", "text", key="k")
    assert decode_request(OpCode.PRODUCE, keyed.payload) == {
        "topic": "checked",
        "key": b"k",
        "value": b"text",
        "partition": -1,
    }
    for _ in range(2):  # a refused name is never remembered
        with pytest.raises(InvalidArgumentError):
            calls.produce("a/b", b"v")


# --------------------------------------------------------------------------- hot-path encodings (issue 4)


@pytest.mark.parametrize("topic", ["t", "orders.v1", "ünïcode-tøpic", "x" * 300])
@pytest.mark.parametrize("value", [b"", b"v", b"x" * 511, b"x" * 512, bytes(range(256)) * 5])
def test_produce_template_frames_are_the_generic_encoding(topic: str, value: bytes) -> None:
    template = ProduceTemplate(topic)
    payload = encode_request(OpCode.PRODUCE, {"topic": topic, "key": b"", "value": value, "partition": -1})
    assert template.frame(value) == encode_request_frame(OpCode.PRODUCE, payload)
    assert template.max_value == MAX_REQUEST_PAYLOAD - (len(payload) - len(value))


@pytest.mark.parametrize("topic", ["t", "ünïcode-tøpic"])
@pytest.mark.parametrize("key", [b"k", b"\x00\xff" * 300, "user-123", "ключ-\u2603", "esc-\udcff", "", b""])
@pytest.mark.parametrize("value", [b"", b"v", b"x" * 511, b"x" * 512, bytes(range(256)) * 5])
def test_produce_template_keyed_frames_are_the_generic_encoding(
    topic: str, key: bytes | str, value: bytes
) -> None:
    template = ProduceTemplate(topic)
    key_bytes = key if isinstance(key, bytes) else key.encode("utf-8", "surrogateescape")
    generic = calls.produce(topic, value, key)  # what the general path sends
    assert generic.key == key_bytes
    assert template.frame_keyed(key_bytes, value) == encode_request_frame(OpCode.PRODUCE, generic.payload)
    # key + value share the size limit: the rest of the payload is the same overhead as without a key
    assert template.max_value == MAX_REQUEST_PAYLOAD - (len(generic.payload) - len(key_bytes) - len(value))


@pytest.mark.parametrize("value", [b"", b"v"])
def test_an_empty_key_is_the_keyless_frame(value: bytes) -> None:
    template = ProduceTemplate("t")
    keyless = encode_request_frame(OpCode.PRODUCE, calls.produce("t", value).payload)
    assert template.frame_keyed(b"", value) == template.frame(value) == keyless
    assert calls.produce("t", value, "").payload == calls.produce("t", value, b"").payload == keyless[8:]


@pytest.mark.parametrize("key_size", [5, -1])  # a keyed reply, a keyless one
def test_produce_template_decodes_keyed_and_keyless_replies_alike(key_size: int) -> None:
    template = ProduceTemplate("t")
    fields = {
        "topic": "t",
        "partition": 2,
        "offset": 7,
        "timestamp": 1,
        "key_size": key_size,
        "value_size": 3,
    }
    reply = encode_response(OpCode.PRODUCE, fields)[2]
    assert template.decode_reply(reply) == fields


@pytest.mark.parametrize("topic", ["t", "ünïcode-tøpic"])
def test_produce_template_decodes_replies_like_the_layout(topic: str) -> None:
    template = ProduceTemplate(topic)
    fields = {
        "topic": topic,
        "partition": 3,
        "offset": 2**64 - 1,
        "timestamp": -5,
        "key_size": -1,
        "value_size": 2**31 - 1,
    }
    _, _, reply = encode_response(OpCode.PRODUCE, fields)
    decoded = template.decode_reply(reply)
    assert decoded == response_layout(OpCode.PRODUCE).decode(reply) == fields
    assert decoded is not None and list(decoded) == list(response_layout(OpCode.PRODUCE).decode(reply))
    assert decoded["topic"] is topic
    other = encode_response(OpCode.PRODUCE, {**fields, "topic": topic[:-1] + "!"})[2]
    assert template.decode_reply(other) is None  # same length, another topic
    assert template.decode_reply(reply + b"\x00") is None
    assert template.decode_reply(reply[:-1]) is None
    # The bulk decoder (producer callbacks) gives the very same dicts, key order included; one
    # reply of another shape sends the whole run to the one-by-one path.
    second = encode_response(OpCode.PRODUCE, {**fields, "offset": 0, "key_size": 4})[2]
    bulk = template.decode_replies([reply, second])
    assert bulk == [template.decode_reply(reply), template.decode_reply(second)]
    assert bulk is not None and [list(d) for d in bulk] == [list(decoded)] * 2
    assert template.decode_replies([reply, other]) is None
    assert template.decode_replies([]) == []


def test_produce_template_refuses_topics_that_do_not_fit_a_u16_string() -> None:
    with pytest.raises(ValueError):
        ProduceTemplate("x" * 65536)
    with pytest.raises(ValueError):
        ProduceTemplate("")


def test_produce_template_is_cached_only_for_validated_topics() -> None:
    assert calls.produce_template("never-produced-to-\u2603") is None
    calls.produce("cached-topic-\u2603", b"v")
    template = calls.produce_template("cached-topic-\u2603")
    assert template is not None and template.topic == "cached-topic-\u2603"
    with pytest.raises(InvalidArgumentError):
        calls.produce("a/b", b"v")
    assert calls.produce_template("a/b") is None


def _fetch_payload(messages: list[dict[str, Any]], next_offset: int = 99) -> bytes:
    fields = {"message_count": len(messages), "next_offset": next_offset, "messages": messages}
    return encode_response(OpCode.FETCH, fields)[2]


@pytest.mark.parametrize("binary", [False, True])
def test_fetch_reader_builds_what_the_layout_decoder_builds(binary: bool) -> None:
    messages = [{"offset": i, "key": b"" if i % 3 else b"k%d" % i, "value": b"v" * i} for i in range(50)]
    payload = _fetch_payload(messages)
    call = calls.fetch("orders", 4, 0, 1000, binary=binary)
    spec = calls.FETCH_BINARY if binary else calls.FETCH
    result = complete(call, Frame(spec.resp_op, 0x01, payload))
    reference = calls._fetched(spec.decode(payload), call)
    assert result == reference
    assert [m.model_dump() for m in result] == [m.model_dump() for m in reference]
    assert [repr(m) for m in result] == [repr(m) for m in reference]
    assert result.messages[1].key is None and result.messages[3].key == b"k3"
    assert list(result.messages[0].__dict__) == ["topic", "partition", "offset", "key", "value"]
    assert complete(call, Frame(spec.resp_op, 0x01, _fetch_payload([], 7))).next_offset == 7


@pytest.mark.parametrize(
    "payload",
    [
        b"",
        b"\x00\x00\x00",
        _fetch_payload([{"offset": 1, "key": b"k", "value": b"v"}])[:-1],  # value cut short
        _fetch_payload([{"offset": 1, "key": b"k", "value": b"v"}])[:-2],  # into the value length
        b"\x00\x00\x00\x02" + b"\x00" * 8 + b"\x00" * 20,  # count bigger than what follows
        b"\x00\x00\x00\x01" + b"\x00" * 8 + b"\x00" * 8 + b"\xff\xff\xff\xf0" + b"\x00" * 8,  # key overrun
    ],
)
def test_fetch_reader_raises_the_layout_errors_for_malformed_replies(payload: bytes) -> None:
    call = calls.fetch("orders", 0, 0, 10)
    with pytest.raises(FlyMQError) as expected:
        calls._fetched(calls.FETCH.decode(payload), call)
    with pytest.raises(type(expected.value), match=str(expected.value)):
        complete(call, Frame(OpCode.FETCH, 0x01, payload))


def test_passwords_over_bcrypts_72_bytes_are_refused_before_sending() -> None:
    from pyflymq_core.errors import InvalidArgumentError

    for build in (
        lambda password: calls.create_user("ann", password),
        lambda password: calls.change_password("ann", password, "old"),
    ):
        assert build("é" * 36).op in (OpCode.USER_CREATE, OpCode.PASSWORD_CHANGE)  # 72 bytes: fine
        with pytest.raises(InvalidArgumentError, match="73 bytes long in UTF-8") as caught:
            build("é" * 36 + "x")
        assert caught.value.hint is not None and "72 UTF-8 bytes" in caught.value.hint
