"""Server error text → exception, in one table.

FlyMQ 1.26.11 reports every failure as free text (spec §6.4; three frame encodings, §6.1) and the same
text can mean different things depending on the request (``EOF``).  :data:`ERROR_TABLE` lists every
text the server is known to produce, written like the spec (``<x>`` marks a substituted part), with the
exception type and hint it maps to.  :func:`error_from_server` turns a text plus what the caller knows
about the request (opcode, topic, partition, offset) into a :class:`~pyflymq_core.errors.FlyMQError`;
texts nobody has seen before become :class:`~pyflymq_core.errors.ServerError` with the text intact.

Every error built here keeps the raw text in ``server_message``.  Mapping is off the hot path, but the
module loads on the fast import path, so it compiles no regular expressions at import time.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

from pyflymq_core.errors import (
    AlreadyExistsError,
    AuthenticationError,
    AuthorizationError,
    FeatureDisabledError,
    FlyMQError,
    GroupNotFoundError,
    InvalidArgumentError,
    NotFoundError,
    NotLeaderError,
    OffsetOutOfRangeError,
    PartitionFullError,
    PartitionNotFoundError,
    ProtocolError,
    SchemaCompatibilityError,
    SchemaError,
    SchemaNotFoundError,
    SchemaValidationError,
    ServerError,
    TopicNotFoundError,
    TransactionError,
    UnsupportedOperationError,
    UserNotFoundError,
)
from pyflymq_core.protocol.constants import PRODUCE_OPCODES, OpCode
from pyflymq_core.protocol.types import BUFFER_TOO_SMALL, INVALID_BINARY_FORMAT

__all__ = [
    "ERROR_TABLE",
    "ErrorContext",
    "ErrorRule",
    "error_from_auth_response",
    "error_from_server",
    "find_rule",
    "parse_not_leader",
    "parse_schema_validation_errors",
]

_DECODE_TEXTS = frozenset({BUFFER_TOO_SMALL, INVALID_BINARY_FORMAT})

_CONSUME_OPCODES = frozenset({int(OpCode.CONSUME), int(OpCode.CONSUME_ZERO_COPY)})
_REPLAY_DLQ = int(OpCode.REPLAY_DLQ)
_PRODUCE_OPCODES = frozenset(int(op) for op in PRODUCE_OPCODES)


class ErrorContext(NamedTuple):
    """What the caller knew about the failed request; used to pick the type and fill attributes."""

    op: int | None = None
    topic: str | None = None
    partition: int | None = None
    offset: int | None = None


#: Builds the keyword arguments of the exception from the placeholder values and the context.
#: May also return ``message`` (replacement for the raw text) and ``hint`` (computed hint).
Extract = Callable[[list[str], ErrorContext], dict[str, Any]]
#: Either an exception type, or a function choosing one from the context (``EOF``).
TypeSelector = type[FlyMQError] | Callable[[ErrorContext], type[FlyMQError]]


class ErrorRule(NamedTuple):
    """One row of :data:`ERROR_TABLE`.

    ``pattern`` is the server text with ``<name>`` marking substituted parts; ``hint`` ``None`` keeps
    the exception type's own (possibly context-dependent) default hint.
    """

    pattern: str
    exc_type: TypeSelector
    hint: str | None = None
    extract: Extract | None = None


# --------------------------------------------------------------------------- extractors


def _ctx_topic(_vals: list[str], ctx: ErrorContext) -> dict[str, Any]:
    topic = ctx.topic
    message = f"topic not found: {topic}" if topic is not None else "topic not found"
    return {"topic": topic, "message": message}


def _named_topic(vals: list[str], _ctx: ErrorContext) -> dict[str, Any]:
    return {"topic": vals[0]}


def _partition(vals: list[str], ctx: ErrorContext) -> dict[str, Any]:
    return {"topic": ctx.topic, "partition": _int_or(vals[0], ctx.partition)}


def _group(vals: list[str], ctx: ErrorContext) -> dict[str, Any]:
    both = ":".join(vals)
    # Go formats "<topic>:<group>"; either may contain ':', so prefer the topic the caller sent.
    if ctx.topic is not None and both.startswith(ctx.topic + ":"):
        topic, group = ctx.topic, both[len(ctx.topic) + 1 :]
    else:
        topic, _, group = both.partition(":")
    return {
        "topic": topic,
        "group": group,
        "hint": (
            f"No offsets stored for group {group!r} on topic {topic!r}. Consumer groups are keyed by "
            "topic + group id: pass the topic the group consumed, and commit at least once."
        ),
    }


def _eof_type(ctx: ErrorContext) -> type[FlyMQError]:
    if ctx.op in _CONSUME_OPCODES:
        return OffsetOutOfRangeError
    if ctx.op in _PRODUCE_OPCODES:
        return PartitionFullError
    return ServerError


def _eof(_vals: list[str], ctx: ErrorContext) -> dict[str, Any]:
    where = _where(ctx)
    if ctx.op in _CONSUME_OPCODES:
        return {
            "topic": ctx.topic,
            "partition": ctx.partition,
            "offset": ctx.offset,
            "message": f"offset out of range{where} (server: EOF)",
        }
    if ctx.op in _PRODUCE_OPCODES:
        return {
            "topic": ctx.topic,
            "partition": ctx.partition,
            "message": f"partition is full{where} (server: EOF)",
        }
    return {
        "hint": (
            "The server hit the end of its input while handling the request (e.g. an empty gzip-"
            "compressed payload). Check the request payload and compression settings."
        )
    }


def _decode_text(vals: list[str], _ctx: ErrorContext) -> dict[str, Any]:
    inner = vals[0] if vals else ""
    return {"server_text": inner if inner in _DECODE_TEXTS else None}


def _exact_decode_text(text: str) -> Extract:
    def extract(_vals: list[str], _ctx: ErrorContext) -> dict[str, Any]:
        return {"server_text": text}

    return extract


_UNDISPATCHED_ADVICE: dict[int, str] = {
    0x04: "Use client.get_metadata() / list_topics() instead (CLUSTER_METADATA, LIST_TOPICS).",
    0x31: "Delayed messages cannot be cancelled on this server version.",
    0x50: "Cluster membership is configured on the servers, not through the client protocol.",
    0x51: "Cluster membership is configured on the servers, not through the client protocol.",
    0x52: "Use client.get_metadata() (CLUSTER_METADATA) to inspect the cluster.",
    0x66: "Records carry no stored timestamp on this server; seek by offset instead.",
}


def _unknown_opcode(vals: list[str], ctx: ErrorContext) -> dict[str, Any]:
    opcode = _int_or(vals[0], ctx.op)
    hint = (
        f"The server has no handler for opcode {_hex(opcode)}: this operation "
        "cannot be used against FlyMQ 1.26.x."
    )
    advice = _UNDISPATCHED_ADVICE.get(opcode) if opcode is not None else None
    if advice:
        hint = f"{hint} {advice}"
    return {"opcode": opcode, "hint": hint}


def _txn_state(vals: list[str], _ctx: ErrorContext) -> dict[str, Any]:
    return {"hint": f"The transaction is already {vals[0]}; begin a new transaction."}


def _open_path(vals: list[str], _ctx: ErrorContext) -> dict[str, Any]:
    if "/__consumer_offsets/" not in vals[0]:
        return {"hint": "The server could not open one of its files; check its data directory and log."}
    return {
        "hint": (
            "The server could not write its offsets file. This happens when a topic or group name "
            "contains '/', which the server does not support: use names without '/'."
        )
    }


def _name_too_long(vals: list[str], _ctx: ErrorContext) -> dict[str, Any]:
    offsets = "/__consumer_offsets/" in vals[0]
    what = "topic and group names together" if offsets else "the topic name"
    return {
        "hint": (
            f"The server keeps each topic in a directory (and each group's offsets in a file named "
            f"after topic and group): {what} must fit the file system's 255-byte name limit. "
            "Use shorter names."
        )
    }


def _dlq_topic(vals: list[str], ctx: ErrorContext) -> dict[str, Any]:
    if ctx.op != _REPLAY_DLQ:
        return _named_topic(vals, ctx)
    return {
        "hint": (
            f"There are no dead-letter records for {ctx.topic or 'this topic'!r} (none was ever "
            "dead-lettered, or the DLQ was purged); client.fetch_dlq(topic) lists them."
        )
    }


def _topic_not_found_type(ctx: ErrorContext) -> type[FlyMQError]:
    # REPLAY_DLQ reads "<topic>.dlq": its absence means no dead letters, not a topic to create.
    return NotFoundError if ctx.op == _REPLAY_DLQ else TopicNotFoundError


# --------------------------------------------------------------------------- the table

_PROTO_HINT = (
    "The server could not decode the request: a client/server protocol mismatch or a client bug. "
    "Check that the server is FlyMQ 1.26.x and report the problem."
)
_GZIP_HINT = "The server could not decompress the request payload: send valid gzip or disable compression."
_AUTH_REQUIRED_HINT = (
    "The server requires authentication: connect with connect(..., username=..., password=...)."
)
_UNAUTHORIZED_HINT = (
    "The connected user is not allowed to do this. Ask an administrator for the needed role or ACL."
)
_ADMIN_HINT = "This operation needs a user with the admin role."
_SCHEMA_TYPES_HINT = "Use one of the schema types 'json', 'avro' or 'protobuf' (lower case)."
_LEADERSHIP_MOVED_HINT = (
    "Leadership moved while the server handled the request; retry once the cluster has a leader "
    "(client.get_metadata() shows it)."
)

#: Every known server error text (spec §6.4 plus the captured transcripts), most specific first.
ERROR_TABLE: tuple[ErrorRule, ...] = (
    # --- request decoding (T; C with a prefix for user/ACL/auth ops)
    ErrorRule(BUFFER_TOO_SMALL, ProtocolError, _PROTO_HINT, _exact_decode_text(BUFFER_TOO_SMALL)),
    ErrorRule(INVALID_BINARY_FORMAT, ProtocolError, _PROTO_HINT, _exact_decode_text(INVALID_BINARY_FORMAT)),
    ErrorRule("invalid request: <detail>", ProtocolError, _PROTO_HINT, _decode_text),
    ErrorRule("invalid auth request: <detail>", ProtocolError, _PROTO_HINT, _decode_text),
    ErrorRule("invalid audit query request: <detail>", ProtocolError, _PROTO_HINT),
    ErrorRule("invalid audit export request: <detail>", ProtocolError, _PROTO_HINT),
    ErrorRule("gzip: <detail>", ProtocolError, _GZIP_HINT),
    ErrorRule("flate: <detail>", ProtocolError, _GZIP_HINT),
    ErrorRule("unexpected EOF", ProtocolError, _GZIP_HINT),
    ErrorRule("unknown opcode: <n>", UnsupportedOperationError, None, _unknown_opcode),
    # --- reads
    ErrorRule("EOF", _eof_type, None, _eof),
    ErrorRule("topic not found", TopicNotFoundError, None, _ctx_topic),
    ErrorRule("topic not found: <topic>", _topic_not_found_type, None, _dlq_topic),
    ErrorRule("partition <n> out of range", PartitionNotFoundError, None, _partition),
    ErrorRule("partition <n> not found", PartitionNotFoundError, None, _partition),
    ErrorRule(
        "unknown subscribe mode: <mode>",
        InvalidArgumentError,
        "Use subscribe mode 'earliest', 'latest' or 'commit' (lower case).",
    ),
    ErrorRule(
        "unknown reset mode: <mode>",
        InvalidArgumentError,
        "Use reset mode 'earliest', 'latest' or 'offset' (lower case).",
    ),
    ErrorRule("consumer group not found: <topic>:<group>", GroupNotFoundError, None, _group),
    # --- security
    ErrorRule("authentication required", AuthenticationError, _AUTH_REQUIRED_HINT),
    ErrorRule("unauthorized", AuthorizationError, _UNAUTHORIZED_HINT),
    ErrorRule(
        "user account is disabled",
        AuthenticationError,
        "The account exists but is disabled; ask an administrator to enable it.",
    ),
    ErrorRule(
        "invalid username or password",
        AuthenticationError,
        "Check the username and password (an unknown user gives the same answer).",
    ),
    ErrorRule("admin access required for audit queries", AuthorizationError, _ADMIN_HINT),
    ErrorRule("admin access required for audit export", AuthorizationError, _ADMIN_HINT),
    ErrorRule(
        "audit trail is not enabled",
        FeatureDisabledError,
        "Enable the audit trail in the server configuration (audit.enabled).",
    ),
    ErrorRule('user "<name>" already exists', AlreadyExistsError, "Choose another username, or update it."),
    ErrorRule('user "<name>" not found', UserNotFoundError),
    ErrorRule(
        "username and password are required",
        InvalidArgumentError,
        "Pass a non-empty username and password.",
    ),
    ErrorRule(
        "cannot delete your own account",
        InvalidArgumentError,
        "Delete the account from another admin connection.",
    ),
    ErrorRule(
        "failed to hash password: <detail>",
        InvalidArgumentError,
        "FlyMQ hashes passwords with bcrypt, which takes at most 72 bytes: use a shorter password "
        "(72 UTF-8 bytes or fewer).",
    ),
    ErrorRule(
        "invalid current password",
        AuthenticationError,
        "The old password is wrong; pass the current password to change it.",
    ),
    ErrorRule(
        "cannot make topic public because anonymous access is disabled in server configuration",
        InvalidArgumentError,
        "Enable anonymous access (auth.allow_anonymous) on the server, or grant users access instead.",
    ),
    # --- schema registry (T1)
    ErrorRule(
        "schema registry not initialized",
        FeatureDisabledError,
        "The server's schema registry failed to start; check the server log and data directory.",
    ),
    ErrorRule(
        "schema validator not initialized",
        FeatureDisabledError,
        "The server's schema validator failed to start; check the server log.",
    ),
    ErrorRule("unsupported schema type: <type>", InvalidArgumentError, _SCHEMA_TYPES_HINT),
    ErrorRule(
        "failed to register schema: schema compatibility check failed: <detail>",
        SchemaCompatibilityError,
    ),
    ErrorRule(
        "failed to register schema: invalid schema definition: <detail>",
        SchemaError,
        "The schema definition is not valid for its type (a JSON schema must be a JSON object; "
        "avro/protobuf definitions must not be empty).",
    ),
    ErrorRule("failed to register schema: <detail>", SchemaError),
    ErrorRule("failed to delete schema: schema not found: <name> v<n>", SchemaNotFoundError),
    ErrorRule("failed to delete schema: <detail>", SchemaError),
    ErrorRule("schema not found: <name> v<n>", SchemaNotFoundError),
    ErrorRule("no schema found for topic: <name>", SchemaNotFoundError),
    ErrorRule("schema validation failed: <errors>", SchemaValidationError),
    # --- transactions
    ErrorRule(
        "transaction not found: <id>",
        TransactionError,
        "The server does not know this transaction id: a wrong id, a server restart (transactions "
        "live in memory), or another cluster node (each node has its own coordinator). A transaction "
        "that timed out answers 'not active: aborted' instead. Begin a new transaction.",
    ),
    ErrorRule("transaction is not active: <state>", TransactionError, None, _txn_state),
    # --- delayed messages
    ErrorRule(
        "delay <delay> exceeds maximum allowed delay <max>",
        InvalidArgumentError,
        "Use a shorter delay: the server caps delays at its configured maximum (delayed.max_delay).",
    ),
    # --- DLQ (SuccessMsg.success = false texts)
    ErrorRule(
        "DLQ not enabled",
        FeatureDisabledError,
        "Enable the dead-letter queue in the server configuration (dlq.enabled).",
    ),
    ErrorRule(
        "message not found",
        NotFoundError,
        "No dead-letter message with that id; list them with client.fetch_dlq(topic).",
    ),
    # --- cluster: leadership lost between the server's own checks (a rare race; retriable)
    ErrorRule("not the leader", NotLeaderError, _LEADERSHIP_MOVED_HINT),
    ErrorRule("failed to create topic: not the leader", NotLeaderError, _LEADERSHIP_MOVED_HINT),
    # --- DLQ replay of a record to a full partition
    ErrorRule("failed to replay message: EOF", PartitionFullError),
    # --- storage: names beyond the file system's limit (a topic directory, an offsets file)
    ErrorRule("<path>: file name too long", InvalidArgumentError, None, _name_too_long),
    # --- cluster auto-create on produce
    ErrorRule(
        "topic <topic> not ready after create (timeout)",
        ServerError,
        "The cluster created the topic but it was not ready in time; retry the request.",
    ),
    ErrorRule("failed to create topic: <detail>", ServerError),
    # --- storage
    ErrorRule("open <path>", ServerError, None, _open_path),
)


# --------------------------------------------------------------------------- matching


class _Compiled(NamedTuple):
    literals: tuple[str, ...]  # pattern split at the placeholders; len = placeholders + 1
    rule: ErrorRule


def _compile(rule: ErrorRule) -> _Compiled:
    literals: list[str] = []
    rest = rule.pattern
    while True:
        start = rest.find("<")
        end = rest.find(">", start + 1) if start >= 0 else -1
        if start < 0 or end < 0:
            literals.append(rest)
            break
        literals.append(rest[:start])
        rest = rest[end + 1 :]
    return _Compiled(tuple(literals), rule)


def _match(literals: tuple[str, ...], text: str) -> list[str] | None:
    """Match ``text`` against literal parts around placeholders; return the placeholder values."""
    first, last = literals[0], literals[-1]
    if len(literals) == 1:
        return [] if text == first else None
    if not text.startswith(first) or not text.endswith(last):
        return None
    stop = len(text) - len(last)
    pos = len(first)
    if stop < pos:
        return None
    values: list[str] = []
    for middle in literals[1:-1]:
        found = text.find(middle, pos, stop)
        if found < 0:
            return None
        values.append(text[pos:found])
        pos = found + len(middle)
    values.append(text[pos:stop])
    return values


_EXACT: dict[str, ErrorRule] = {}
_PATTERNS: list[_Compiled] = []
for _rule in ERROR_TABLE:
    _compiled = _compile(_rule)
    if len(_compiled.literals) == 1:
        _EXACT[_rule.pattern] = _rule
    else:
        _PATTERNS.append(_compiled)
del _rule, _compiled


def _find_rule(text: str) -> tuple[ErrorRule, list[str]] | None:
    rule = _EXACT.get(text)
    if rule is not None:
        return rule, []
    for compiled in _PATTERNS:
        values = _match(compiled.literals, text)
        if values is not None:
            return compiled.rule, values
    return None


# --------------------------------------------------------------------------- public API


def find_rule(message: str) -> ErrorRule | None:
    """The :data:`ERROR_TABLE` row matching ``message`` (``None`` for unknown texts)."""
    found = _find_rule(message)
    return found[0] if found is not None else None


_NOT_LEADER = "not leader: "
_NOT_PARTITION_LEADER = "not partition leader: "


def parse_not_leader(message: str) -> NotLeaderError | None:
    """Parse the cluster ``not leader`` / ``not partition leader`` texts; ``None`` if not one.

    Shapes: ``not leader: leader_id=<id> leader_addr=<addr>``, ``not leader: leader_id=<id>``,
    ``not leader: leader_addr=<addr>``, ``not leader: no leader elected``,
    ``not partition leader: partition=<p> leader_addr=<addr>`` and ``... leader=<node-id>``.
    The text may be wrapped by a handler prefix (``failed to ...: not leader: ...``).  Values run up
    to the next space.
    """
    start = _find_marker(message, _NOT_PARTITION_LEADER)
    marker = _NOT_PARTITION_LEADER
    if start < 0:
        start = _find_marker(message, _NOT_LEADER)
        marker = _NOT_LEADER
    if start < 0:
        return None
    leader_id: str | None = None
    leader_addr: str | None = None
    partition: int | None = None
    for token in message[start + len(marker) :].split(" "):
        key, sep, value = token.partition("=")
        if not sep or not value:
            continue
        if key == "leader_addr":
            leader_addr = value
        elif key in ("leader_id", "leader"):
            leader_id = value
        elif key == "partition":
            partition = _int_or(value, None)
    partition_leader = marker == _NOT_PARTITION_LEADER
    if partition_leader and leader_addr:
        # FlyMQ 1.26 names a partition's leader by its cluster (Raft) address here, not a client port.
        where = "this partition" if partition is None else f"partition {partition}"
        hint = (
            f"This node does not lead {where} and FlyMQ does not forward requests. FlyMQ 1.26 names "
            f"another node here by its cluster (Raft) address ({leader_addr}), which is not a "
            "client endpoint. pyflymq re-sends keyless records to the same node (its round-robin "
            "moves on) and routes keyed records from CLUSTER_METADATA; it never dials an address "
            "the metadata lists as a cluster address."
        )
    elif leader_addr:
        hint = f"This node is not the leader; retry the request on the leader at {leader_addr}."
    elif leader_id:
        hint = f"This node is not the leader; retry on node {leader_id!r} (see client.get_metadata())."
    else:
        hint = "No leader is elected yet; wait for the cluster election to finish and retry."
    return NotLeaderError(
        message,
        hint=hint,
        server_message=message,
        leader_addr=leader_addr,
        leader_id=leader_id,
        partition=partition,
        partition_leader=partition_leader,
    )


def _find_marker(message: str, marker: str) -> int:
    """Index of ``marker`` at the start of ``message`` or after a ``": "`` wrapper, else -1."""
    if message.startswith(marker):
        return 0
    found = message.find(": " + marker)
    return found + 2 if found >= 0 else -1


_MULTI_ERROR_PREFIXES = ("missing required field: ", "unexpected field: ", "type mismatch at ")


def parse_schema_validation_errors(message: str) -> list[str]:
    """Split ``schema validation failed: [e1 e2 ...]`` (Go slice formatting) into its errors.

    Go joins the errors with single spaces and the errors themselves contain spaces, so the text is
    split only before the JSON validator's error prefixes (the only validator producing several
    errors); other contents stay one error.
    """
    body = message
    prefix = "schema validation failed: "
    if body.startswith(prefix):
        body = body[len(prefix) :]
    if body.startswith("[") and body.endswith("]"):
        body = body[1:-1]
    if not body:
        return []
    errors: list[str] = []
    start = 0
    pos = 0
    while True:
        cut = -1
        for marker in _MULTI_ERROR_PREFIXES:
            found = body.find(" " + marker, pos)
            if found >= 0 and (cut < 0 or found < cut):
                cut = found
        if cut < 0:
            break
        if body.startswith(_MULTI_ERROR_PREFIXES, start):
            errors.append(body[start:cut])
            start = cut + 1
        pos = cut + 1
    errors.append(body[start:])
    return errors


def error_from_server(
    message: str,
    *,
    op: int | None = None,
    topic: str | None = None,
    partition: int | None = None,
    offset: int | None = None,
) -> FlyMQError:
    """Map a server error text to the matching exception (never raises).

    ``op`` is the request opcode (``EOF`` means "offset out of range" on CONSUME/CONSUME_ZERO_COPY,
    "partition full" on produce-type ops); ``topic``/``partition``/``offset`` fill in what the text
    leaves out.  Unknown texts give :class:`ServerError` with the text intact.
    """
    ctx = ErrorContext(op, topic, partition, offset)
    found = _find_rule(message)
    if found is None or found[0].exc_type is ServerError or found[0].pattern.startswith("failed to "):
        # Cluster leadership texts may be wrapped by a handler prefix ("failed to ...: not leader: ...").
        not_leader = parse_not_leader(message)
        if not_leader is not None:
            return not_leader
    if found is None:
        return ServerError(message, server_message=message)
    rule, values = found
    selector = rule.exc_type
    exc_type: type[FlyMQError] = selector if isinstance(selector, type) else selector(ctx)
    kwargs: dict[str, Any] = rule.extract(values, ctx) if rule.extract is not None else {}
    text = kwargs.pop("message", message)
    kwargs.setdefault("hint", rule.hint)
    if exc_type is SchemaValidationError:
        kwargs["errors"] = parse_schema_validation_errors(message)
    return exc_type(text, server_message=message, **kwargs)


def error_from_auth_response(error: str) -> AuthenticationError:
    """Map the ``error`` of an AUTH response (0x71) with ``success = false``."""
    text = error or "authentication failed"
    found = _find_rule(error) if error else None
    hint = found[0].hint if found is not None else None
    if hint is None:
        hint = "Check the username and password, and that the account is enabled."
    return AuthenticationError(text, hint=hint, server_message=error)


# --------------------------------------------------------------------------- helpers


def _int_or(text: str, default: int | None) -> int | None:
    try:
        return int(text)
    except ValueError:
        return default


def _where(ctx: ErrorContext) -> str:
    parts: list[str] = []
    if ctx.topic is not None:
        parts.append(f"topic {ctx.topic!r}")
    if ctx.partition is not None:
        parts.append(f"partition {ctx.partition}")
    if ctx.offset is not None:
        parts.append(f"offset {ctx.offset}")
    return ": " + ", ".join(parts) if parts else ""


def _hex(opcode: int | None) -> str:
    return "?" if opcode is None else f"0x{opcode:02X}"
