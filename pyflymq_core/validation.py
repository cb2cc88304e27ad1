"""Argument checks run by every client call before anything is encoded.

Why this exists: FlyMQ 1.26.11 trusts its input.  Some values crash the whole server process (a
negative partition in FETCH/FETCH_BINARY/SUBSCRIBE/GET_LAG/RESET_OFFSET, a negative partition count in
CREATE_TOPIC, a negative audit limit/offset — spec §6.5, SEMANTICS_NOTES #1), strings longer than
65 535 bytes are silently truncated by the u16 length, a request payload over 32 MiB makes the server
drop the connection, and a ``/`` in a topic or group name turns a COMMIT into an ``open <path>`` error
that leaks the server's data directory.  These helpers make such requests impossible to send and say
why, with a hint, as :class:`~pyflymq_core.errors.InvalidArgumentError` (a ``ValueError``; wrong types
raise :class:`~pyflymq_core.errors.InvalidArgumentTypeError`, also a ``TypeError``).

Decisions (documented for users in the API docs):

* ``create_topic`` partition counts must be >= 1 (the server would read 0 as 1; we reject it for clarity).
* Topic names must be non-empty and must not contain ``/`` or NUL, nor be ``.``/``..`` (they become
  directories on the server).  Group ids must not contain ``/`` or NUL.
* Modes and schema types are accepted case-insensitively and returned in the lower-case form the
  server understands (the server itself is case-sensitive: ``EARLIEST`` is an error).
* Audit export formats are ``json`` or ``csv`` only: the server silently falls back to JSON for
  anything else while echoing the requested name.

The helpers are plain functions with an inlined fast path for the common valid case (they run on
every produce): no regular expressions, no allocation when the value is fine.
"""

from __future__ import annotations

import operator
from collections.abc import Iterable
from typing import Any

from pyflymq_core.errors import InvalidArgumentError, InvalidArgumentTypeError
from pyflymq_core.protocol.constants import MAX_REQUEST_PAYLOAD, PRODUCE_OVERHEAD

__all__ = [
    "EXPORT_FORMATS",
    "I32_MAX",
    "I64_MAX",
    "MAX_REQUEST_PAYLOAD",
    "PRODUCE_OVERHEAD",
    "RESET_MODES",
    "SCHEMA_TYPES",
    "STR8_MAX",
    "STR16_MAX",
    "SUBSCRIBE_MODES",
    "U32_MAX",
    "U64_MAX",
    "check_audit_limit",
    "check_audit_offset",
    "check_duration_ms",
    "check_export_format",
    "check_group_id",
    "check_int",
    "check_max_messages",
    "check_offset",
    "check_partition",
    "check_partition_count",
    "check_payload_size",
    "check_produce",
    "check_reset_mode",
    "check_schema_type",
    "check_schema_version",
    "check_str8",
    "check_str16",
    "check_str_list",
    "check_subscribe_mode",
    "check_timestamp_s",
    "check_topic",
    "encoded_len",
    "optional_bytes",
    "to_bytes",
]

I32_MAX = 2**31 - 1
U32_MAX = 2**32 - 1
I64_MAX = 2**63 - 1
U64_MAX = 2**64 - 1
STR16_MAX = 0xFFFF
STR8_MAX = 0xFF


SUBSCRIBE_MODES = ("earliest", "latest", "commit")
RESET_MODES = ("earliest", "latest", "offset")
SCHEMA_TYPES = ("json", "avro", "protobuf", "proto")
EXPORT_FORMATS = ("json", "csv")

# Fast paths: an ASCII str (``str.isascii`` is O(1) in CPython) has as many UTF-8 bytes as characters;
# anything else is encoded once to measure it and to reject lone surrogates the codec cannot encode.

_PARTITION_HINT = "Partitions are numbered from 0; client.get_metadata(topic) shows the partition count."
_OFFSET_HINT = "Offsets are unsigned 64-bit integers starting at 0."
_SLASH_HINT = (
    "The FlyMQ server stores topics and consumer offsets in files named after the topic and group; "
    "a '/' (or NUL) makes it fail and reveal its data path. Use another separator such as '.', '-' or '_'."
)


# --------------------------------------------------------------------------- integers


def check_int(value: Any, what: str, lo: int, hi: int, *, hint: str | None = None) -> int:
    """Return ``value`` as an int in ``[lo, hi]`` or raise.

    Accepts ints and integer-like objects (``__index__``, e.g. numpy integers); rejects bools,
    floats and strings with :class:`InvalidArgumentTypeError`.
    """
    if type(value) is int and lo <= value <= hi:
        return value
    if isinstance(value, bool):
        raise InvalidArgumentTypeError(f"{what} must be an int, got a bool ({value!r})", hint=hint)
    try:
        number = operator.index(value)
    except TypeError:
        raise InvalidArgumentTypeError(
            f"{what} must be an int, got {type(value).__name__} ({value!r})", hint=hint
        ) from None
    if not lo <= number <= hi:
        raise InvalidArgumentError(f"{what} must be between {lo} and {hi}, got {number}", hint=hint)
    return number


def check_partition_count(partitions: Any) -> int:
    """CREATE_TOPIC partition count: 1..2**31-1 (a negative count crashes the server)."""
    if type(partitions) is int and 1 <= partitions <= I32_MAX:
        return partitions
    return check_int(
        partitions,
        "partitions",
        1,
        I32_MAX,
        hint="A topic needs at least 1 partition (partitions is an i32 on the wire).",
    )


def check_partition(partition: Any, what: str = "partition") -> int:
    """A partition number for fetch/consume/subscribe/commit/get_lag/reset_offset: 0..2**31-1."""
    if type(partition) is int and 0 <= partition <= I32_MAX:
        return partition
    return check_int(partition, what, 0, I32_MAX, hint=_PARTITION_HINT)


def check_offset(offset: Any, what: str = "offset") -> int:
    """A record offset (u64): 0..2**64-1."""
    if type(offset) is int and 0 <= offset <= U64_MAX:
        return offset
    return check_int(offset, what, 0, U64_MAX, hint=_OFFSET_HINT)


def check_max_messages(max_messages: Any) -> int:
    """FETCH / FETCH_DLQ batch size: 1..2**31-1 (the server reads <= 0 as 10 or as 'nothing')."""
    if type(max_messages) is int and 1 <= max_messages <= I32_MAX:
        return max_messages
    return check_int(
        max_messages,
        "max_messages",
        1,
        I32_MAX,
        hint="Ask for at least 1 message (the server scans at most 1,000 records per fetch).",
    )


def check_audit_limit(limit: Any) -> int:
    """AUDIT_QUERY limit: 0..2**31-1 (0 = the server's default of 100; negative crashes the server)."""
    return check_int(limit, "limit", 0, I32_MAX, hint="Use a limit >= 0 (0 means the server default, 100).")


def check_audit_offset(offset: Any) -> int:
    """AUDIT_QUERY offset (paging): 0..2**31-1 (negative crashes the server)."""
    return check_int(offset, "offset", 0, I32_MAX, hint="Use an audit page offset >= 0.")


#: Audit times at or above this many Unix seconds (the year 5138) are milliseconds (or finer)
#: by mistake: the server compares in seconds, so such a ``start_time`` silently matches nothing.
TIMESTAMP_S_LIMIT = 10**11


def check_timestamp_s(value: Any, what: str) -> int:
    """A Unix time in seconds (audit start/end; 0 = unbounded): 0 .. 10**11 - 1.

    The wire field is an i64, but a value from 10**11 on is almost surely ``time.time() * 1000``
    (now about 1.8e12): refused with a hint rather than sent as a filter that matches nothing.
    """
    number = check_int(value, what, 0, I64_MAX, hint="Use Unix seconds (int), or 0 for no bound.")
    if number >= TIMESTAMP_S_LIMIT:
        raise InvalidArgumentError(
            f"{what}={number} looks like milliseconds (or finer), not Unix seconds",
            hint=f"FlyMQ's audit filter takes Unix seconds: pass {what}={number // 1000} for "
            "milliseconds, or 0 for no bound.",
        )
    return number


def check_duration_ms(value: Any, what: str) -> int:
    """``delay_ms`` / ``ttl_ms`` (i64 milliseconds): 0..2**63-1."""
    if type(value) is int and 0 <= value <= I64_MAX:
        return value
    return check_int(value, what, 0, I64_MAX, hint=f"{what} is a non-negative number of milliseconds.")


def check_schema_version(version: Any, *, allow_latest: bool) -> int:
    """Schema version (u32).

    ``allow_latest=True`` (GET_SCHEMA): 0 means "latest", so 0..2**32-1.  ``allow_latest=False``
    (DELETE_SCHEMA): the server has no "all versions" form and answers 0 with "not found", so 1..2**32-1.
    """
    if allow_latest:
        return check_int(version, "version", 0, U32_MAX, hint="Use 0 for the latest version, or 1, 2, ...")
    return check_int(
        version,
        "version",
        1,
        U32_MAX,
        hint="Delete one version at a time (versions start at 1); list_schemas(name) shows them.",
    )


# --------------------------------------------------------------------------- strings


def encoded_len(value: str, what: str = "string") -> int:
    """UTF-8 byte length of ``value`` as the codec encodes it (``surrogateescape``)."""
    if value.isascii():
        return len(value)
    try:
        return len(value.encode("utf-8", "surrogateescape"))
    except UnicodeEncodeError as exc:
        raise InvalidArgumentError(
            f"{what} cannot be encoded as UTF-8: {exc.reason} at index {exc.start}",
            hint="Remove lone surrogate characters from the string.",
        ) from None


def _require_str(value: Any, what: str) -> str:
    if isinstance(value, str):
        return value
    raise InvalidArgumentTypeError(f"{what} must be a str, got {type(value).__name__} ({value!r})")


def check_str16(value: Any, what: str, *, allow_empty: bool = True) -> str:
    """A u16-length string (topic, group, names, usernames, passwords, ids): <= 65,535 UTF-8 bytes."""
    if isinstance(value, str) and 0 < len(value) <= STR16_MAX and value.isascii():
        return value
    text = _require_str(value, what)
    if not text and not allow_empty:
        raise InvalidArgumentError(f"{what} must not be empty")
    size = encoded_len(text, what)
    if size > STR16_MAX:
        raise InvalidArgumentError(
            f"{what} is {size} bytes long in UTF-8; the protocol allows at most {STR16_MAX}",
            hint="Strings are sent with a 16-bit length; the server would silently truncate it.",
        )
    return text


#: bcrypt, which the server hashes passwords with, refuses longer ones (Go's x/crypto).
PASSWORD_MAX_BYTES = 72


def check_new_password(value: Any, what: str) -> str:
    """A password the server will hash: not empty, at most 72 UTF-8 bytes (bcrypt's limit).

    Checked before sending: the server would answer "failed to hash password: bcrypt: password
    length exceeds 72 bytes" (and nothing would change).
    """
    text = check_str16(value, what, allow_empty=False)
    size = len(text.encode("utf-8", "surrogateescape"))
    if size > PASSWORD_MAX_BYTES:
        raise InvalidArgumentError(
            f"{what} is {size} bytes long in UTF-8; FlyMQ hashes passwords with bcrypt, which takes at "
            f"most {PASSWORD_MAX_BYTES}",
            hint=f"Use a password of {PASSWORD_MAX_BYTES} UTF-8 bytes or fewer.",
        )
    return text


def check_str8(value: Any, what: str) -> str:
    """A u8-length string (subscribe/reset mode, schema type): <= 255 UTF-8 bytes."""
    if isinstance(value, str) and len(value) <= STR8_MAX and value.isascii():
        return value
    text = _require_str(value, what)
    size = encoded_len(text, what)
    if size > STR8_MAX:
        raise InvalidArgumentError(
            f"{what} is {size} bytes long in UTF-8; the protocol allows at most {STR8_MAX}",
            hint="This field is sent with an 8-bit length.",
        )
    return text


def check_str_list(values: Iterable[Any], what: str) -> list[str]:
    """A ``list<str>`` (roles, allowed users, audit event types): each a u16 string."""
    if isinstance(values, (str, bytes)):
        raise InvalidArgumentTypeError(
            f"{what} must be a list of str, got a single {type(values).__name__}",
            hint=f"Wrap a single value in a list: [{values!r}]",
        )
    try:
        items = list(values)
    except TypeError:
        raise InvalidArgumentTypeError(f"{what} must be a list of str, got {type(values).__name__}") from None
    for index, item in enumerate(items):
        check_str16(item, f"{what}[{index}]")
    if len(items) > U32_MAX:
        raise InvalidArgumentError(f"{what} has too many entries ({len(items)})")
    return items


def check_topic(topic: Any, what: str = "topic") -> str:
    """A topic name: non-empty u16 string without ``/`` or NUL, not ``.``/``..``."""
    if (
        isinstance(topic, str)
        and 0 < len(topic) <= STR16_MAX
        and topic.isascii()
        and "/" not in topic
        and "\x00" not in topic
        and topic != "."
        and topic != ".."
    ):
        return topic
    name = check_str16(topic, what, allow_empty=False)
    if "/" in name or "\x00" in name:
        raise InvalidArgumentError(
            f"{what} {name!r} contains '/' or NUL, which FlyMQ cannot store", hint=_SLASH_HINT
        )
    if name in (".", ".."):
        raise InvalidArgumentError(
            f"{what} {name!r} is not a valid topic name",
            hint="The server stores each topic in a directory of that name; choose another name.",
        )
    return name


def check_group_id(group_id: Any, *, allow_empty: bool = False, what: str = "group_id") -> str:
    """A consumer group id: u16 string without ``/`` or NUL (empty only where the op allows it)."""
    if (
        isinstance(group_id, str)
        and 0 < len(group_id) <= STR16_MAX
        and group_id.isascii()
        and "/" not in group_id
        and "\x00" not in group_id
    ):
        return group_id
    name = check_str16(group_id, what, allow_empty=allow_empty)
    if "/" in name or "\x00" in name:
        raise InvalidArgumentError(
            f"{what} {name!r} contains '/' or NUL, which FlyMQ cannot store", hint=_SLASH_HINT
        )
    return name


def _check_choice(value: Any, what: str, choices: tuple[str, ...]) -> str:
    if value in choices:
        return str(value)
    text = _require_str(value, what)
    lowered = text.lower()
    if lowered in choices:
        return lowered
    options = ", ".join(repr(c) for c in choices)
    raise InvalidArgumentError(f"unknown {what} {text!r}", hint=f"Use one of: {options}.")


def check_subscribe_mode(mode: Any) -> str:
    """SUBSCRIBE mode: ``earliest`` | ``latest`` | ``commit`` (case-insensitive, returned lower-case)."""
    return _check_choice(mode, "subscribe mode", SUBSCRIBE_MODES)


def check_reset_mode(mode: Any) -> str:
    """RESET_OFFSET mode: ``earliest`` | ``latest`` | ``offset`` (case-insensitive, returned lower-case)."""
    return _check_choice(mode, "reset mode", RESET_MODES)


def check_schema_type(schema_type: Any) -> str:
    """Schema type: ``json`` | ``avro`` | ``protobuf`` | ``proto`` (case-insensitive, returned lower-case)."""
    return _check_choice(schema_type, "schema type", SCHEMA_TYPES)


def partition_refused(what: str) -> InvalidArgumentError:
    """The error for ``partition=`` on a produce (``what``: the call, e.g. ``"produce"``): the server
    ignores PRODUCE's partition field and picks the partition itself (SEMANTICS_NOTES #2), so
    honouring it is impossible and ignoring it silently would mislead."""
    return InvalidArgumentError(
        f"{what}(partition=...) cannot be honoured: the FlyMQ server ignores the partition field "
        "and picks the partition itself",
        hint="Use a key: records with the same key always go to the same partition.",
    )


def open_client(client: Any, what: str) -> None:
    """The first argument of a producer, consumer or consumer group: a client that is not closed.

    Users of other Kafka clients pass a configuration (``Producer({"bootstrap.servers": ...})``)
    or an address here; say what is expected instead of failing on a missing attribute.
    """
    check = getattr(client, "_check_open", None)
    if check is None:
        raise InvalidArgumentTypeError(
            f"{what} needs a FlyMQ client as its first argument, "
            f"got {type(client).__name__} ({client!r:.80})",
            hint="Connect first, then build it from the client: client = connect('localhost:9092'); "
            "client.producer(...) / client.consumer('topic', 'group').",
        )
    check()


#: ``inspect.CO_COROUTINE``: the code flag of an ``async def`` function.
_CO_COROUTINE = 0x80


def _is_async(callback: Any) -> bool:
    """Whether calling ``callback`` gives a coroutine: an ``async def`` function or method (read
    off its code flags, the cheap common case), else a ``functools.partial`` of one or an object
    with an ``async def __call__`` (``inspect``, slower)."""
    code = getattr(getattr(callback, "__func__", callback), "__code__", None)
    if code is not None:
        return bool(code.co_flags & _CO_COROUTINE)
    import inspect

    call = type(callback).__dict__.get("__call__")  # an instance's own __call__, if its class has one
    return inspect.iscoroutinefunction(callback) or inspect.iscoroutinefunction(call)


def check_callbacks(runs_on: str, **callbacks: Any) -> None:
    """Callbacks (a producer's ``on_success`` / ``on_error``, ``commit_async``'s ``callback``):
    each ``None`` or a plain callable.

    Checked when they are passed because a bad one would otherwise fail only later, on the
    producer's or committer's I/O, where all it can do is log.  ``async def`` functions are
    refused: called there they would only create a coroutine that nobody awaits.
    """
    for what, callback in callbacks.items():
        if callback is None:
            continue
        if not callable(callback):
            raise InvalidArgumentTypeError(
                f"{what} must be callable, got {type(callback).__name__} ({callback!r})",
                hint=f"Pass a function that takes one argument (it runs on {runs_on}), or None.",
            )
        if _is_async(callback):
            raise InvalidArgumentTypeError(
                f"{what} is an async function ({callback!r}); callbacks are called, not awaited",
                hint=f"Pass a plain function (it runs on {runs_on}); for async work, await the "
                "returned future instead.",
            )


class CallbackGate:
    """:func:`check_callbacks` for one producer's ``send()``: an application passes the same
    callbacks with every record, so a pair already checked is let through with two comparisons
    (the full check costs about 0.3 µs, a few percent of a record's CPU)."""

    __slots__ = ("_error", "_runs_on", "_success")

    def __init__(self, runs_on: str) -> None:
        self._runs_on = runs_on
        self._success: Any = None
        self._error: Any = None

    def check(self, on_success: Any, on_error: Any) -> None:
        """Raise as :func:`check_callbacks` does; remember the pair once it passed."""
        if on_success == self._success and on_error == self._error:
            return
        check_callbacks(self._runs_on, on_success=on_success, on_error=on_error)
        self._success = on_success  # both checked: a race between threads only mixes checked ones
        self._error = on_error


def check_export_format(export_format: Any) -> str:
    """AUDIT_EXPORT format: ``json`` | ``csv`` (case-insensitive, returned lower-case).

    The server answers any other string (``"xml"``, ``"CSV"``) with JSON but echoes the string it was
    sent as the reply's format (SEMANTICS_NOTES #39), so an unknown format is refused here.
    """
    return _check_choice(export_format, "audit export format", EXPORT_FORMATS)


# --------------------------------------------------------------------------- bytes and sizes


def to_bytes(value: Any, what: str = "value") -> bytes:
    """``bytes`` as is; ``str`` encoded as UTF-8; ``bytearray``/``memoryview`` copied; else raise."""
    if type(value) is bytes:
        return value
    if isinstance(value, str):
        try:
            return value.encode("utf-8", "surrogateescape")
        except UnicodeEncodeError as exc:
            raise InvalidArgumentError(
                f"{what} cannot be encoded as UTF-8: {exc.reason} at index {exc.start}",
                hint="Pass bytes, or a str without lone surrogate characters.",
            ) from None
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    raise InvalidArgumentTypeError(
        f"{what} must be bytes or str, got {type(value).__name__}",
        hint=(
            f"Encode the {what} yourself (e.g. json.dumps(obj).encode() or str(number)) or configure "
            "a serializer (see pyflymq_serde)."
        ),
    )


def optional_bytes(value: Any, what: str = "key") -> bytes:
    """Like :func:`to_bytes`, but ``None`` means "no key" (``b""``; the wire has no null)."""
    if value is None:
        return b""
    return to_bytes(value, what)


def check_payload_size(size: int, what: str = "request") -> None:
    """Raise unless an (uncompressed) request payload of ``size`` bytes fits the server's 32 MiB."""
    if size > MAX_REQUEST_PAYLOAD:
        raise InvalidArgumentError(
            f"{what} would be {size} bytes; the server accepts at most {MAX_REQUEST_PAYLOAD} bytes "
            "(32 MiB) per request",
            hint="Split large payloads, store them elsewhere and send a reference, or compress them.",
        )


def check_produce(
    topic: Any,
    key: Any,
    value: Any,
    *,
    overhead: int = PRODUCE_OVERHEAD,
) -> tuple[str, bytes, bytes]:
    """Validate one record for a produce-type request; return ``(topic, key_bytes, value_bytes)``.

    ``key`` may be ``None`` (no key).  ``overhead`` is the payload size besides the topic, key and
    value bytes (PRODUCE: 14; give the matching figure for the other produce layouts, including
    extra string contents such as a schema name or transaction id).
    """
    name = check_topic(topic)
    key_bytes = b"" if key is None else (key if type(key) is bytes else to_bytes(key, "key"))
    value_bytes = value if type(value) is bytes else to_bytes(value, "value")
    size = overhead + len(key_bytes) + len(value_bytes) + len(name)
    if size > MAX_REQUEST_PAYLOAD - STR16_MAX:
        # Only near the limit does the exact UTF-8 topic length (at most 65,535 bytes) matter.
        size += encoded_len(name, "topic") - len(name)
        check_payload_size(size, "produce request")
    return name, key_bytes, value_bytes
