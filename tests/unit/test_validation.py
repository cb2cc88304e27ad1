"""Argument validation: edge-valid values pass, every server-crashing input is rejected with a hint."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pyflymq_core import validation as v
from pyflymq_core.errors import InvalidArgumentError, InvalidArgumentTypeError

I32_MAX = 2**31 - 1
U32_MAX = 2**32 - 1
I64_MAX = 2**63 - 1
U64_MAX = 2**64 - 1
MiB32 = 32 * 1024 * 1024


class _Index:
    """Integer-like object (as numpy integers are)."""

    def __init__(self, value: int) -> None:
        self.value = value

    def __index__(self) -> int:
        return self.value


def _rejects(exc_type: type[Exception], func: Any, *args: Any, **kwargs: Any) -> InvalidArgumentError:
    with pytest.raises(exc_type) as info:
        func(*args, **kwargs)
    exc = info.value
    assert isinstance(exc, InvalidArgumentError)
    assert isinstance(exc, ValueError)
    assert exc.hint
    return exc


# ------------------------------------------------------------------ integers


@pytest.mark.parametrize("value", [1, 2, 6, I32_MAX])
def test_partition_count_valid(value: int) -> None:
    assert v.check_partition_count(value) == value


@pytest.mark.parametrize("value", [0, -1, -(2**31), I32_MAX + 1])
def test_partition_count_rejected(value: int) -> None:
    # Negative counts crash the server (makeslice panic); 0 is rejected for clarity.
    exc = _rejects(InvalidArgumentError, v.check_partition_count, value)
    assert "partitions" in str(exc)


@pytest.mark.parametrize("value", [0, 1, 5, I32_MAX])
def test_partition_valid(value: int) -> None:
    assert v.check_partition(value) == value


@pytest.mark.parametrize("value", [-1, -(2**31), I32_MAX + 1])
def test_partition_rejected(value: int) -> None:
    # A negative partition in FETCH/FETCH_BINARY/SUBSCRIBE/GET_LAG/RESET_OFFSET crashes the server.
    exc = _rejects(InvalidArgumentError, v.check_partition, value)
    assert str(value) in str(exc)


@pytest.mark.parametrize("value", [1.0, "1", None, True, False, b"1"])
def test_partition_wrong_types(value: Any) -> None:
    exc = _rejects(InvalidArgumentTypeError, v.check_partition, value)
    assert isinstance(exc, TypeError)


def test_integer_like_objects_are_accepted() -> None:
    assert v.check_partition(_Index(3)) == 3
    assert type(v.check_partition(_Index(3))) is int
    _rejects(InvalidArgumentError, v.check_partition, _Index(-1))


@pytest.mark.parametrize("value", [0, 1, U64_MAX])
def test_offset_valid(value: int) -> None:
    assert v.check_offset(value) == value


@pytest.mark.parametrize("value", [-1, U64_MAX + 1])
def test_offset_rejected(value: int) -> None:
    _rejects(InvalidArgumentError, v.check_offset, value)


@pytest.mark.parametrize("value", [1, 1000, I32_MAX])
def test_max_messages_valid(value: int) -> None:
    assert v.check_max_messages(value) == value


@pytest.mark.parametrize("value", [0, -5, I32_MAX + 1])
def test_max_messages_rejected(value: int) -> None:
    _rejects(InvalidArgumentError, v.check_max_messages, value)


@pytest.mark.parametrize("func", [v.check_audit_limit, v.check_audit_offset])
def test_audit_limit_and_offset(func: Any) -> None:
    assert func(0) == 0
    assert func(I32_MAX) == I32_MAX
    # Negative values crash the server (slice bounds panic).
    _rejects(InvalidArgumentError, func, -1)
    _rejects(InvalidArgumentError, func, I32_MAX + 1)


def test_audit_timestamps() -> None:
    assert v.check_timestamp_s(0, "start_time") == 0
    assert v.check_timestamp_s(1_795_843_527, "end_time") == 1_795_843_527
    assert v.check_timestamp_s(10**11 - 1, "end_time") == 10**11 - 1
    _rejects(InvalidArgumentError, v.check_timestamp_s, -1, "start_time")
    _rejects(InvalidArgumentError, v.check_timestamp_s, I64_MAX + 1, "end_time")
    # time.time() * 1000 by mistake: the server would compare it as seconds and match nothing
    exc = _rejects(InvalidArgumentError, v.check_timestamp_s, 1_795_843_527_124, "start_time")
    assert "milliseconds" in str(exc) and exc.hint is not None and "start_time=1795843527" in exc.hint
    _rejects(InvalidArgumentError, v.check_timestamp_s, I64_MAX, "end_time")


@pytest.mark.parametrize("what", ["delay_ms", "ttl_ms"])
def test_duration_ms(what: str) -> None:
    assert v.check_duration_ms(0, what) == 0
    assert v.check_duration_ms(I64_MAX, what) == I64_MAX
    exc = _rejects(InvalidArgumentError, v.check_duration_ms, -1, what)
    assert what in str(exc)
    _rejects(InvalidArgumentError, v.check_duration_ms, I64_MAX + 1, what)
    _rejects(InvalidArgumentTypeError, v.check_duration_ms, 1.5, what)


def test_schema_versions() -> None:
    assert v.check_schema_version(0, allow_latest=True) == 0
    assert v.check_schema_version(U32_MAX, allow_latest=True) == U32_MAX
    assert v.check_schema_version(1, allow_latest=False) == 1
    # DELETE_SCHEMA version 0 always fails on the server ("schema not found: <name> v0").
    _rejects(InvalidArgumentError, v.check_schema_version, 0, allow_latest=False)
    _rejects(InvalidArgumentError, v.check_schema_version, -1, allow_latest=True)
    _rejects(InvalidArgumentError, v.check_schema_version, U32_MAX + 1, allow_latest=True)


def test_check_int_generic() -> None:
    assert v.check_int(5, "x", 0, 10) == 5
    exc = _rejects(InvalidArgumentError, v.check_int, 11, "x", 0, 10, hint="custom")
    assert exc.hint == "custom"


# ------------------------------------------------------------------ strings


def test_str16_limits() -> None:
    assert v.check_str16("", "name") == ""
    assert v.check_str16("a" * 65535, "name") == "a" * 65535
    exc = _rejects(InvalidArgumentError, v.check_str16, "a" * 65536, "name")
    assert "65535" in str(exc)
    # The limit is in UTF-8 bytes, not characters: 'é' is 2 bytes, '😀' is 4.
    assert v.check_str16("\u00e9" * 32767, "name")
    _rejects(InvalidArgumentError, v.check_str16, "\u00e9" * 32768, "name")
    assert v.check_str16("\U0001f600" * 16383, "name")
    _rejects(InvalidArgumentError, v.check_str16, "\U0001f600" * 16384, "name")
    _rejects(InvalidArgumentError, v.check_str16, "", "username", allow_empty=False)
    _rejects(InvalidArgumentTypeError, v.check_str16, b"bytes", "name")
    _rejects(InvalidArgumentTypeError, v.check_str16, None, "name")


def test_str16_unencodable_surrogate() -> None:
    # Lone surrogates outside the surrogateescape range cannot be encoded at all.
    _rejects(InvalidArgumentError, v.check_str16, "a\ud800b", "name")
    # surrogateescape'd bytes (as decoded by the codec) round-trip.
    assert v.check_str16("a\udcffb", "name") == "a\udcffb"


def test_str8_limits() -> None:
    assert v.check_str8("", "mode") == ""
    assert v.check_str8("m" * 255, "mode") == "m" * 255
    _rejects(InvalidArgumentError, v.check_str8, "m" * 256, "mode")
    _rejects(InvalidArgumentError, v.check_str8, "\u00e9" * 128, "mode")
    _rejects(InvalidArgumentTypeError, v.check_str8, 3, "mode")


def test_str_list() -> None:
    assert v.check_str_list(["admin", "producer"], "roles") == ["admin", "producer"]
    assert v.check_str_list(iter(("a",)), "roles") == ["a"]
    assert v.check_str_list([], "roles") == []
    _rejects(InvalidArgumentTypeError, v.check_str_list, "admin", "roles")
    _rejects(InvalidArgumentTypeError, v.check_str_list, ["ok", 3], "roles")
    _rejects(InvalidArgumentError, v.check_str_list, ["x" * 70000], "roles")
    _rejects(InvalidArgumentTypeError, v.check_str_list, 5, "roles")


@pytest.mark.parametrize(
    "topic", ["orders", "a", "a.b-c_d", "x" * 65535, "t\u00e9l\u00e9", "__internal", "..."]
)
def test_topic_valid(topic: str) -> None:
    assert v.check_topic(topic) == topic


@pytest.mark.parametrize("topic", ["a/b", "/", "/etc", "a\x00b", "", ".", "..", "x" * 65536])
def test_topic_rejected(topic: str) -> None:
    exc = _rejects(InvalidArgumentError, v.check_topic, topic)
    if "/" in topic:
        assert "'/'" in (exc.hint or "")


def test_topic_wrong_type() -> None:
    _rejects(InvalidArgumentTypeError, v.check_topic, b"orders")
    _rejects(InvalidArgumentTypeError, v.check_topic, None)


def test_group_id() -> None:
    assert v.check_group_id("billing") == "billing"
    assert v.check_group_id("", allow_empty=True) == ""
    _rejects(InvalidArgumentError, v.check_group_id, "")
    exc = _rejects(InvalidArgumentError, v.check_group_id, "team/billing")
    assert "'/'" in (exc.hint or "")
    _rejects(InvalidArgumentError, v.check_group_id, "a\x00")
    _rejects(InvalidArgumentTypeError, v.check_group_id, 7)


@pytest.mark.parametrize(
    ("func", "valid", "invalid"),
    [
        (v.check_subscribe_mode, ["earliest", "latest", "commit"], ["", "bogus", "offset", "first"]),
        (v.check_reset_mode, ["earliest", "latest", "offset"], ["", "commit", "middle"]),
        (v.check_schema_type, ["json", "avro", "protobuf", "proto"], ["", "xml", "jsonschema"]),
    ],
)
def test_modes_and_schema_types(func: Any, valid: list[str], invalid: list[str]) -> None:
    for value in valid:
        assert func(value) == value
        assert func(value.upper()) == value  # case-insensitive, normalised to what the server accepts
    for value in invalid:
        exc = _rejects(InvalidArgumentError, func, value)
        assert repr(valid[0]) in (exc.hint or "")
    _rejects(InvalidArgumentTypeError, func, None)


# ------------------------------------------------------------------ bytes and sizes


def test_to_bytes() -> None:
    assert v.to_bytes(b"abc") == b"abc"
    assert v.to_bytes("h\u00e9") == "h\u00e9".encode()
    assert v.to_bytes(bytearray(b"xy")) == b"xy"
    assert v.to_bytes(memoryview(b"mv")) == b"mv"
    assert v.to_bytes("") == b""
    for bad in (1, 1.5, None, {"a": 1}, ["x"]):
        exc = _rejects(InvalidArgumentTypeError, v.to_bytes, bad, "value")
        assert isinstance(exc, TypeError)
        assert "value must be bytes or str" in str(exc)
    _rejects(InvalidArgumentError, v.to_bytes, "\ud800", "value")


def test_optional_bytes() -> None:
    assert v.optional_bytes(None) == b""
    assert v.optional_bytes("user-123") == b"user-123"
    _rejects(InvalidArgumentTypeError, v.optional_bytes, 123, "key")


def test_payload_size() -> None:
    v.check_payload_size(MiB32)
    exc = _rejects(InvalidArgumentError, v.check_payload_size, MiB32 + 1, "produce request")
    assert "32 MiB" in str(exc)


def test_check_produce_valid_and_conversions() -> None:
    assert v.check_produce("events", "user-123", b'{"event": "click"}') == (
        "events",
        b"user-123",
        b'{"event": "click"}',
    )
    assert v.check_produce("events", None, "text") == ("events", b"", b"text")


def test_check_produce_size_boundary() -> None:
    topic = "t"
    fits = MiB32 - v.PRODUCE_OVERHEAD - len(topic)
    _, _, value = v.check_produce(topic, None, b"\x00" * fits)
    assert len(value) == fits
    _rejects(InvalidArgumentError, v.check_produce, topic, None, b"\x00" * (fits + 1))
    # The key counts too, as does the UTF-8 length of the topic.
    _rejects(InvalidArgumentError, v.check_produce, topic, b"k", b"\x00" * fits)
    wide = "\u00e9"  # 2 bytes in UTF-8
    _rejects(InvalidArgumentError, v.check_produce, wide, None, b"\x00" * (fits - 1 + 1))
    v.check_produce(wide, None, b"\x00" * (fits - 1))


def test_check_produce_rejects_bad_inputs() -> None:
    _rejects(InvalidArgumentError, v.check_produce, "a/b", None, b"x")
    _rejects(InvalidArgumentTypeError, v.check_produce, "t", 5, b"x")
    _rejects(InvalidArgumentTypeError, v.check_produce, "t", None, 5)


# ------------------------------------------------------------------ properties


@given(st.integers())
def test_partition_accepts_exactly_the_i32_non_negative_range(value: int) -> None:
    if 0 <= value <= I32_MAX:
        assert v.check_partition(value) == value
    else:
        with pytest.raises(InvalidArgumentError):
            v.check_partition(value)


@given(st.text(max_size=70))
def test_str8_agrees_with_encoded_length(text: str) -> None:
    try:
        size = len(text.encode("utf-8", "surrogateescape"))
    except UnicodeEncodeError:
        with pytest.raises(InvalidArgumentError):
            v.check_str8(text, "mode")
        return
    if size <= 255:
        assert v.check_str8(text, "mode") == text
    else:
        with pytest.raises(InvalidArgumentError):
            v.check_str8(text, "mode")


@given(st.text(min_size=1, max_size=30))
def test_topic_never_accepts_slash_or_nul(topic: str) -> None:
    try:
        v.check_topic(topic)
    except InvalidArgumentError:
        return
    assert "/" not in topic and "\x00" not in topic and topic not in (".", "..")


def test_callback_gate_checks_a_new_pair_and_lets_a_checked_one_through(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from pyflymq_core import validation
    from pyflymq_core.errors import InvalidArgumentTypeError

    checked: list[tuple[object, object]] = []
    real = validation.check_callbacks

    def counting(runs_on: str, **callbacks: object) -> None:
        checked.append((callbacks["on_success"], callbacks["on_error"]))
        real(runs_on, **callbacks)

    monkeypatch.setattr(validation, "check_callbacks", counting)
    gate = validation.CallbackGate("a test")

    def ok(_: object) -> None:
        return None

    for _ in range(3):
        gate.check(ok, None)
    assert checked == [(ok, None)]  # once for the repeated pair
    with pytest.raises(InvalidArgumentTypeError, match="on_error must be callable"):
        gate.check(ok, "nope")
    gate.check(ok, None)  # the refused pair was not remembered, the good one still is
    assert len(checked) == 2
