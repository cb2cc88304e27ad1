"""Every client operation in one place, as data: opcode, validated+encoded payload, result parser.

A builder here validates the arguments (:mod:`pyflymq_core.validation`, *before* anything is
encoded, so no public call can send a request that crashes the server — SEMANTICS_NOTES #1),
encodes the payload through :mod:`pyflymq_core.protocol` and returns a :class:`Call`.
:func:`complete` turns the response frame into the typed result, or raises the mapped error
(:func:`pyflymq_core.error_mapping.error_from_server`).  The sync client (and the asyncio client) are
thin shells: ``complete(call, connection.request(call.op, call.payload))``.

Nothing here does I/O, holds state or knows about threads.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Generic, TypeVar

from pyflymq_core import validation as v
from pyflymq_core.error_mapping import error_from_auth_response, error_from_server
from pyflymq_core.errors import (
    FlyMQError,
    InvalidArgumentError,
    InvalidArgumentTypeError,
    ProtocolError,
    TransactionError,
)
from pyflymq_core.models import (
    AclInfo,
    AclList,
    AuditEvent,
    AuditExport,
    AuditQueryResult,
    AuthResult,
    ClusterMetadata,
    ConsumedMessage,
    ConsumerLag,
    DLQMessage,
    FetchResult,
    GroupInfo,
    GroupOffset,
    PartitionMetadata,
    RecordMetadata,
    RoleInfo,
    SchemaInfo,
    SchemaRegistration,
    TopicMetadata,
    UserInfo,
    ValidationResult,
    WhoAmI,
    _set_dict,
    _set_extra,
    _set_fields_set,
    _set_private,
    fast_model,
    fast_models,
    fields_set,
)
from pyflymq_core.protocol import (
    Frame,
    OpCode,
    ProduceTemplate,
    decode_error_payload,
    request_layout,
    response_layout,
    response_opcode,
)

__all__ = [
    "Call",
    "OutOfStepError",
    "Spec",
    "complete",
    "decode_fetch",
    "op_name",
    "produce_template",
    "record_metadata",
    "unwrap_zero_copy",
]

T = TypeVar("T")

#: ``encode_value(topic, value) -> bytes`` — the client's value seam (encryption, later).
ValueEncoder = Callable[[str, bytes], bytes]
#: ``decode_value(topic, partition, offset, value) -> bytes`` — the inverse seam on consumption.
ValueDecoder = Callable[[str, int, int, bytes], bytes]

_ERROR_OP = int(OpCode.ERROR)
_ZERO_COPY_OP = int(OpCode.CONSUME_ZERO_COPY)


class OutOfStepError(ProtocolError):
    """The response does not answer the request it was matched with: the connection must be closed."""


def op_name(op: int) -> str:
    """``PRODUCE`` for 0x01."""
    try:
        return OpCode(op).name
    except ValueError:
        return f"0x{op:02x}"


# --------------------------------------------------------------------------- operations and calls


class Spec(Generic[T]):
    """The static half of an operation: opcode, result parser, and how it may be retried.

    ``idempotent``: safe to send again after a connection loss (reads).  ``write``: changes server
    state, so a lost answer means "may or may not have been applied".  The request and response
    layouts are compiled on first use (importing this module compiles nothing).
    """

    __slots__ = ("_decode", "_encode", "idempotent", "name", "op", "parser", "reader", "resp_op", "write")

    def __init__(
        self,
        op: int,
        parser: Callable[[dict[str, Any], Call[T]], T],
        *,
        idempotent: bool = False,
        write: bool = False,
        name: str | None = None,
        reader: Callable[[bytes, Call[T]], T] | None = None,
    ) -> None:
        self.op = int(op)
        self.parser = parser
        #: Optional ``reader(payload, call)`` that replaces decode + ``parser`` for a hot result (it
        #: falls back to them itself for anything unusual, so errors stay those of the layout).
        self.reader = reader
        self.idempotent = idempotent
        self.write = write
        self.name = name or op_name(op).lower()
        self.resp_op = response_opcode(op)
        self._encode: Callable[[Mapping[str, Any]], bytes] | None = None
        self._decode: Callable[[bytes], dict[str, Any]] | None = None

    def encode(self, fields: Mapping[str, Any]) -> bytes:
        """The request payload for ``fields`` (through the protocol layer's compiled layout)."""
        encoder = self._encode
        if encoder is None:
            encoder = self.encoder
        return encoder(fields)

    @property
    def encoder(self) -> Callable[[Mapping[str, Any]], bytes]:
        """The request encoder (compiled on first use); hot paths call it directly."""
        encoder = self._encode
        if encoder is None:
            encoder = self._encode = request_layout(self.op).encode
        return encoder

    @property
    def decode(self) -> Callable[[bytes], dict[str, Any]]:
        """The response decoder (compiled on first use)."""
        decoder = self._decode
        if decoder is None:
            decoder = self._decode = response_layout(self.op).decode
        return decoder

    def __repr__(self) -> str:
        return f"<Spec {self.name} 0x{self.op:02x}>"


class Call(Generic[T]):
    """One request ready to send: its :class:`Spec`, the encoded payload and the context the error
    mapping and the result parser need (``topic``/``partition``/``offset``; ``key`` is the routing
    key of a produce; ``extra`` is parser context such as the value decoder)."""

    __slots__ = ("compress", "extra", "key", "offset", "op", "partition", "payload", "spec", "topic")

    def __init__(
        self,
        spec: Spec[T],
        payload: bytes,
        topic: str | None = None,
        partition: int | None = None,
        offset: int | None = None,
        key: bytes | None = None,
        compress: bool = False,
        extra: Any = None,
    ) -> None:
        self.spec = spec
        self.op = spec.op
        self.payload = payload
        self.topic = topic
        self.partition = partition
        self.offset = offset
        self.key = key
        self.compress = compress
        self.extra = extra

    @property
    def idempotent(self) -> bool:
        """Safe to re-send after a connection loss."""
        return self.spec.idempotent

    @property
    def write(self) -> bool:
        """Changes server state."""
        return self.spec.write

    def describe(self) -> str:
        """``produce to 'orders'`` — for log lines and error messages."""
        name = self.spec.name
        return f"{name} on {self.topic!r}" if self.topic is not None else name

    def error(self, message: str) -> FlyMQError:
        """Map a server error text for this call."""
        return error_from_server(
            message, op=self.op, topic=self.topic, partition=self.partition, offset=self.offset
        )

    def __repr__(self) -> str:
        return f"<Call {self.describe()} ({len(self.payload)} bytes)>"


def complete(call: Call[T], frame: Frame) -> T:
    """The result of ``call`` from its response ``frame``; server errors raise their mapped type."""
    op, flags, payload = frame
    spec = call.spec
    if op != spec.resp_op:
        if op == _ERROR_OP:
            raise call.error(decode_error_payload(flags, payload)["message"])
        raise OutOfStepError(
            f"response opcode 0x{op:02x} does not answer {op_name(call.op)} "
            f"(expected 0x{spec.resp_op:02x}); the connection is out of step"
        )
    reader = spec.reader
    if reader is not None:
        return reader(payload, call)
    decode = spec._decode
    if decode is None:
        decode = spec.decode
    return spec.parser(decode(payload), call)


# --------------------------------------------------------------------------- result parsers

_build_message = fast_model(ConsumedMessage)
_build_fetch = fast_model(FetchResult)

# For the fetch loop: the same direct fill as fast_model, inlined (one call per message saved).
_new = object.__new__
_MESSAGE_FIELDS = fields_set(ConsumedMessage)  # shared: ConsumedMessage is frozen (see fast_model)


_RECORD_FIELDS = fields_set(RecordMetadata)  # shared: RecordMetadata is frozen (see fast_model)


def record_metadata(fields: dict[str, Any]) -> RecordMetadata:
    """A RecordMetadata from a PRODUCE reply's decoded fields (fast_model's fill, inlined: every
    produce returns one, so this is a call less on the hottest path)."""
    record = _new(RecordMetadata)
    _set_dict(record, fields)
    _set_fields_set(record, _RECORD_FIELDS)
    _set_extra(record, None)
    _set_private(record, None)
    return record


def _record(fields: dict[str, Any], call: Call[Any]) -> RecordMetadata:
    return record_metadata(fields)


def _nothing(fields: dict[str, Any], call: Call[Any]) -> None:
    return None


def _success_message(fields: dict[str, Any], call: Call[Any]) -> None:
    """SuccessMsg replies report failure in-band (``success = 0`` + text, spec §6.3)."""
    if not fields["success"]:
        raise call.error(fields["message"] or f"{call.describe()} failed")
    return None


def _int_offset(fields: dict[str, Any], call: Call[Any]) -> int:
    return int(fields["offset"])


def _consumed(fields: dict[str, Any], call: Call[Any]) -> ConsumedMessage:
    topic = call.topic
    partition = call.partition
    offset = call.offset
    assert topic is not None and partition is not None and offset is not None
    value: bytes = fields["value"]
    if call.op == _ZERO_COPY_OP:
        value = unwrap_zero_copy(fields["key"], value)
    decode_value: ValueDecoder | None = call.extra
    if decode_value is not None:
        value = decode_value(topic, partition, offset, value)
    return _build_message(
        {
            "topic": topic,
            "partition": partition,
            "offset": offset,
            "key": fields["key"] or None,
            "value": value,
        }
    )


def unwrap_zero_copy(key: bytes, value: bytes) -> bytes:
    """Undo CONSUME_ZERO_COPY's framing quirk for values >= 64 KiB (SEMANTICS_NOTES #6).

    For such values the server returns the stored record, ``[u32 key_len][key][u32 value_len][value]``,
    as the "value"; a genuine value of that size is never returned unwrapped, so the shape is checked
    and the inner value returned.
    """
    if len(value) < 65_536 + 8:
        return value
    key_len = int.from_bytes(value[0:4], "big")
    inner_start = 8 + key_len
    if inner_start > len(value):
        raise ProtocolError("CONSUME_ZERO_COPY: malformed stored-record framing in a large value")
    inner_len = int.from_bytes(value[4 + key_len : inner_start], "big")
    if inner_start + inner_len != len(value) or value[4 : 4 + key_len] != key:
        raise ProtocolError("CONSUME_ZERO_COPY: unexpected framing of a large value")
    return value[inner_start:]


def _fetched(fields: dict[str, Any], call: Call[Any]) -> FetchResult:
    """FETCH's parser from the layout-decoded fields: turn each message dict into a ConsumedMessage
    in place.  Plain fetches take :func:`_read_fetch` instead; this serves the value seam
    (decryption) and replies that reader hands back."""
    topic = call.topic
    partition = call.partition
    decode_value: ValueDecoder | None = call.extra
    messages: list[ConsumedMessage] = []
    for entry in fields["messages"]:
        # entry is {"offset", "key", "value"}, freshly built by the decoder: complete it in place
        # (ConsumedMessage.__repr_args__ restores the declared field order for display).
        entry["topic"] = topic
        entry["partition"] = partition
        if not entry["key"]:
            entry["key"] = None
        if decode_value is not None:
            entry["value"] = decode_value(topic, partition, entry["offset"], entry["value"])  # type: ignore[arg-type]
        messages.append(_build_message(entry))
    return _build_fetch(
        {"topic": topic, "partition": partition, "messages": messages, "next_offset": fields["next_offset"]}
    )


_unpack_fetch_head = struct.Struct(">IQ").unpack_from
#: ``offset | key_len | value_len``: the third field is the value length only for a keyless record.
_unpack_fetch_record = struct.Struct(">QII").unpack_from
_unpack_u32 = struct.Struct(">I").unpack_from


def decode_fetch(payload: bytes, topic: str, partition: int) -> tuple[list[ConsumedMessage], int] | None:
    """``(messages, next_offset)`` of a FETCH answer, or ``None`` if it is not well formed.

    The consumer's hot path (spec §8.6: ``u32 count | u64 next_offset | count x (u64 offset |
    bytes key | bytes value)``).  One ``struct`` pass builds each record's field dict (a copy of a
    per-answer template, cheaper than a dict display; one unpack per keyless record; one ``bytes``
    slice per value, the only copy), then :func:`pyflymq_core.models.fast_models` turns the dicts
    into :class:`ConsumedMessage` objects in C-level ``map`` passes (no Python call per record).
    ``None`` sends the frame through the client's generic decoder, which raises the precise
    ``ProtocolError``.  ``tests/unit/test_consumer_fetcher.py`` checks both give equal messages.
    """
    unpack_record = _unpack_fetch_record
    unpack_u32 = _unpack_u32
    try:
        count, next_offset = _unpack_fetch_head(payload, 0)
        end = len(payload)
        if count * 16 > end - 12:
            return None
        copy = {"topic": topic, "partition": partition, "offset": 0, "key": None, "value": b""}.copy
        pos = 12
        dicts: list[dict[str, object]] = []
        append = dicts.append
        for _ in range(count):
            offset, key_len, value_len = unpack_record(payload, pos)
            fields = copy()
            fields["offset"] = offset
            if key_len:
                start = pos + 12
                pos = start + key_len
                fields["key"] = payload[start:pos]
                (value_len,) = unpack_u32(payload, pos)
                start = pos + 4
            else:
                start = pos + 16  # a keyless record: the third field was the value length
            pos = start + value_len
            fields["value"] = payload[start:pos]
            append(fields)
    except struct.error:
        return None
    if pos != end:
        return None
    return fast_models(ConsumedMessage, dicts, _MESSAGE_FIELDS), next_offset


def _read_fetch(payload: bytes, call: Call[Any]) -> FetchResult:
    """FETCH's reader: :func:`decode_fetch` for a plain fetch; the layout decoder and
    :func:`_fetched` when a value decoder (encryption) is set or the answer is not well formed (so
    the errors stay those of the layout)."""
    topic, partition = call.topic, call.partition
    if call.extra is None and topic is not None and partition is not None:
        decoded = decode_fetch(payload, topic, partition)
        if decoded is not None:
            messages, next_offset = decoded
            return _build_fetch(
                {"topic": topic, "partition": partition, "messages": messages, "next_offset": next_offset}
            )
    return _fetched(call.spec.decode(payload), call)


def _topics(fields: dict[str, Any], call: Call[Any]) -> list[str]:
    return list(fields["topics"])


# Lists the server builds from Go maps come in random order (SEMANTICS_NOTES #36): the parsers below
# sort them (by name, or topic/group, or partition) so that results are deterministic.


def _cluster(fields: dict[str, Any], call: Call[Any]) -> ClusterMetadata:
    topics = [
        TopicMetadata(
            topic=entry["topic"],
            partitions=[
                PartitionMetadata(**partition)
                for partition in sorted(entry["partitions"], key=lambda p: p["partition"])
            ],
        )
        for entry in sorted(fields["topics"], key=lambda t: t["topic"])
    ]
    return ClusterMetadata(cluster_id=fields["cluster_id"], topics=topics)


def _group(fields: dict[str, Any]) -> GroupInfo:
    return GroupInfo(
        topic=fields["topic"],
        group_id=fields["group_id"],
        members=fields["members"],
        offsets=[GroupOffset(**entry) for entry in sorted(fields["offsets"], key=lambda o: o["partition"])],
    )


def _group_info(fields: dict[str, Any], call: Call[Any]) -> GroupInfo:
    return _group(fields)


def _groups(fields: dict[str, Any], call: Call[Any]) -> list[GroupInfo]:
    groups = [_group(entry) for entry in fields["groups"]]
    groups.sort(key=lambda g: (g.topic, g.group_id))
    return groups


def _lag(fields: dict[str, Any], call: Call[Any]) -> ConsumerLag:
    group_id, partition = call.extra
    return ConsumerLag(topic=call.topic or "", group_id=group_id, partition=partition, **fields)


def _registration(fields: dict[str, Any], call: Call[Any]) -> SchemaRegistration:
    return SchemaRegistration(**fields)


def _schema(fields: dict[str, Any], call: Call[Any]) -> SchemaInfo:
    return SchemaInfo(
        id=fields["id"],
        name=fields["topic"],
        version=fields["version"],
        type=fields["type"],
        definition=fields["definition"],
        compatibility=fields["compatibility"],
    )


def _schema_list(fields: dict[str, Any], call: Call[Any]) -> list[SchemaInfo]:
    result = []
    for entry in fields["schemas"]:
        schema_id = entry["name"]  # the server sends the id "<name>-v<version>" here
        suffix = f"-v{entry['version']}"
        name = schema_id[: -len(suffix)] if schema_id.endswith(suffix) else schema_id
        result.append(SchemaInfo(id=schema_id, name=name, version=entry["version"], type=entry["type"]))
    result.sort(key=lambda s: (s.name, s.version))
    return result


def _validation(fields: dict[str, Any], call: Call[Any]) -> ValidationResult:
    return ValidationResult(valid=fields["valid"], errors=list(fields["errors"]))


def _dlq(fields: dict[str, Any], call: Call[Any]) -> list[DLQMessage]:
    return [DLQMessage(**entry) for entry in fields["messages"]]


def _txn_id(fields: dict[str, Any], call: Call[Any]) -> str:
    if not fields["success"]:
        raise TransactionError(
            f"the server reported failure for {op_name(call.op)} of transaction {fields['txn_id']!r}",
            hint="The transaction is unknown, expired (about 60 s after BEGIN) or already finished; "
            "with the coordinator on, a failed commit may have written part of the records.",
        )
    return str(fields["txn_id"])


def _auth(fields: dict[str, Any], call: Call[Any]) -> AuthResult:
    if not fields["success"]:
        raise error_from_auth_response(fields["error"])
    return AuthResult(success=True, username=fields["username"], roles=list(fields["roles"]))


def _whoami(fields: dict[str, Any], call: Call[Any]) -> WhoAmI:
    return WhoAmI(authenticated=fields["success"], username=fields["username"], roles=list(fields["roles"]))


def _user_info(fields: dict[str, Any]) -> UserInfo:
    return UserInfo(**{**fields, "permissions": sorted(fields["permissions"])})


def _user(fields: dict[str, Any], call: Call[Any]) -> UserInfo:
    return _user_info(fields)


def _users(fields: dict[str, Any], call: Call[Any]) -> list[UserInfo]:
    return sorted((_user_info(entry) for entry in fields["users"]), key=lambda u: u.username)


def _acl_result(fields: dict[str, Any], call: Call[Any]) -> None:
    if not fields["success"]:
        raise call.error(f"{call.describe()} failed")
    return None


def _acl(fields: dict[str, Any], call: Call[Any]) -> AclInfo:
    """ACL_GET: the server sends ``default_public = 0`` for an existing ACL whatever its setting
    (SEMANTICS_NOTES #38), so the byte is kept only when ``exists`` is false (else ``None``)."""
    if fields.get("exists"):
        fields = {**fields, "default_public": None}
    return AclInfo(**fields)


def _acls(fields: dict[str, Any], call: Call[Any]) -> AclList:
    return AclList(
        acls=sorted((AclInfo(**entry) for entry in fields["acls"]), key=lambda a: a.topic),
        default_public=fields["default_public"],
    )


def _roles(fields: dict[str, Any], call: Call[Any]) -> list[RoleInfo]:
    return sorted((RoleInfo(**entry) for entry in fields["roles"]), key=lambda r: r.name)


def _audit(fields: dict[str, Any], call: Call[Any]) -> AuditQueryResult:
    events = [AuditEvent(**{**event, "details": dict(event["details"])}) for event in fields["events"]]
    return AuditQueryResult(events=events, total_count=fields["total_count"], has_more=fields["has_more"])


def _audit_export(fields: dict[str, Any], call: Call[Any]) -> AuditExport:
    return AuditExport(format=fields["format"], data=fields["data"])


def _groups_probe(fields: dict[str, Any], call: Call[Any]) -> bool:
    """LIST_GROUPS answered normally: authentication is off (or we are authenticated)."""
    return False


# --------------------------------------------------------------------------- the operations

_OP = OpCode
PRODUCE: Spec[RecordMetadata] = Spec(_OP.PRODUCE, _record, write=True, name="produce")
CONSUME: Spec[ConsumedMessage] = Spec(_OP.CONSUME, _consumed, idempotent=True, name="consume")
CONSUME_ZERO_COPY: Spec[ConsumedMessage] = Spec(
    _OP.CONSUME_ZERO_COPY, _consumed, idempotent=True, name="consume_zero_copy"
)
FETCH: Spec[FetchResult] = Spec(_OP.FETCH, _fetched, idempotent=True, name="fetch", reader=_read_fetch)
FETCH_BINARY: Spec[FetchResult] = Spec(
    _OP.FETCH_BINARY, _fetched, idempotent=True, name="fetch_binary", reader=_read_fetch
)
CREATE_TOPIC: Spec[None] = Spec(_OP.CREATE_TOPIC, _nothing, write=True, name="create_topic")
DELETE_TOPIC: Spec[None] = Spec(_OP.DELETE_TOPIC, _nothing, write=True, name="delete_topic")
LIST_TOPICS: Spec[list[str]] = Spec(_OP.LIST_TOPICS, _topics, idempotent=True, name="list_topics")
CLUSTER_METADATA: Spec[ClusterMetadata] = Spec(
    _OP.CLUSTER_METADATA, _cluster, idempotent=True, name="cluster_metadata"
)
SUBSCRIBE: Spec[int] = Spec(_OP.SUBSCRIBE, _int_offset, idempotent=True, name="subscribe")
COMMIT: Spec[None] = Spec(_OP.COMMIT, _nothing, write=True, name="commit_offset")
GET_OFFSET: Spec[int] = Spec(_OP.GET_OFFSET, _int_offset, idempotent=True, name="get_committed_offset")
RESET_OFFSET: Spec[None] = Spec(_OP.RESET_OFFSET, _nothing, write=True, name="reset_offset")
LIST_GROUPS: Spec[list[GroupInfo]] = Spec(_OP.LIST_GROUPS, _groups, idempotent=True, name="list_groups")
AUTH_PROBE: Spec[bool] = Spec(_OP.LIST_GROUPS, _groups_probe, idempotent=True, name="authentication probe")
DESCRIBE_GROUP: Spec[GroupInfo] = Spec(
    _OP.DESCRIBE_GROUP, _group_info, idempotent=True, name="describe_group"
)
DELETE_GROUP: Spec[None] = Spec(_OP.DELETE_GROUP, _nothing, write=True, name="delete_group")
GET_LAG: Spec[ConsumerLag] = Spec(_OP.GET_LAG, _lag, idempotent=True, name="get_lag")
REGISTER_SCHEMA: Spec[SchemaRegistration] = Spec(
    _OP.REGISTER_SCHEMA, _registration, write=True, name="register_schema"
)
GET_SCHEMA: Spec[SchemaInfo] = Spec(_OP.GET_SCHEMA, _schema, idempotent=True, name="get_schema")
LIST_SCHEMAS: Spec[list[SchemaInfo]] = Spec(
    _OP.LIST_SCHEMAS, _schema_list, idempotent=True, name="list_schemas"
)
VALIDATE_SCHEMA: Spec[ValidationResult] = Spec(
    _OP.VALIDATE_SCHEMA, _validation, idempotent=True, name="validate_schema"
)
DELETE_SCHEMA: Spec[None] = Spec(_OP.DELETE_SCHEMA, _success_message, write=True, name="delete_schema")
PRODUCE_WITH_SCHEMA: Spec[RecordMetadata] = Spec(
    _OP.PRODUCE_WITH_SCHEMA, _record, write=True, name="produce_with_schema"
)
FETCH_DLQ: Spec[list[DLQMessage]] = Spec(_OP.FETCH_DLQ, _dlq, idempotent=True, name="fetch_dlq")
REPLAY_DLQ: Spec[None] = Spec(_OP.REPLAY_DLQ, _success_message, write=True, name="replay_dlq")
PURGE_DLQ: Spec[None] = Spec(_OP.PURGE_DLQ, _success_message, write=True, name="purge_dlq")
PRODUCE_DELAYED: Spec[RecordMetadata] = Spec(_OP.PRODUCE_DELAYED, _record, write=True, name="produce_delayed")
PRODUCE_WITH_TTL: Spec[RecordMetadata] = Spec(
    _OP.PRODUCE_WITH_TTL, _record, write=True, name="produce_with_ttl"
)
BEGIN_TX: Spec[str] = Spec(_OP.BEGIN_TX, _txn_id, write=True, name="begin transaction")
PRODUCE_TX: Spec[RecordMetadata] = Spec(_OP.PRODUCE_TX, _record, write=True, name="transactional produce")
COMMIT_TX: Spec[str] = Spec(_OP.COMMIT_TX, _txn_id, write=True, name="commit transaction")
ABORT_TX: Spec[str] = Spec(_OP.ABORT_TX, _txn_id, write=True, name="abort transaction")
AUTH: Spec[AuthResult] = Spec(_OP.AUTH, _auth, write=True, name="authenticate")
WHOAMI: Spec[WhoAmI] = Spec(_OP.WHOAMI, _whoami, idempotent=True, name="whoami")
USER_CREATE: Spec[UserInfo] = Spec(_OP.USER_CREATE, _user, write=True, name="create_user")
USER_GET: Spec[UserInfo] = Spec(_OP.USER_GET, _user, idempotent=True, name="get_user")
USER_LIST: Spec[list[UserInfo]] = Spec(_OP.USER_LIST, _users, idempotent=True, name="list_users")
USER_UPDATE: Spec[None] = Spec(_OP.USER_UPDATE, _success_message, write=True, name="update_user")
USER_DELETE: Spec[None] = Spec(_OP.USER_DELETE, _success_message, write=True, name="delete_user")
PASSWORD_CHANGE: Spec[None] = Spec(_OP.PASSWORD_CHANGE, _success_message, write=True, name="change_password")
ACL_SET: Spec[None] = Spec(_OP.ACL_SET, _acl_result, write=True, name="set_acl")
ACL_GET: Spec[AclInfo] = Spec(_OP.ACL_GET, _acl, idempotent=True, name="get_acl")
ACL_DELETE: Spec[None] = Spec(_OP.ACL_DELETE, _acl_result, write=True, name="delete_acl")
ACL_LIST: Spec[AclList] = Spec(_OP.ACL_LIST, _acls, idempotent=True, name="list_acls")
ROLE_LIST: Spec[list[RoleInfo]] = Spec(_OP.ROLE_LIST, _roles, idempotent=True, name="list_roles")
AUDIT_QUERY: Spec[AuditQueryResult] = Spec(_OP.AUDIT_QUERY, _audit, idempotent=True, name="audit_query")
AUDIT_EXPORT: Spec[AuditExport] = Spec(_OP.AUDIT_EXPORT, _audit_export, idempotent=True, name="audit_export")
del _OP

# --------------------------------------------------------------------------- builders: core

_PRODUCE_OVERHEAD = v.PRODUCE_OVERHEAD
_check_produce = v.check_produce

#: Keyless-produce templates of topic names that passed validation (a ``str`` cannot change, so the
#: verdict holds): their presence is the "already checked" mark.  Bounded; shared by all clients.
_TEMPLATES: dict[str, ProduceTemplate] = {}
_TEMPLATES_MAX = 4096

#: ``produce_template(topic)``: the template of an already validated topic, else ``None``.  Callers
#: check ``type(topic) is str`` first (a dict lookup would hash anything else).
produce_template = _TEMPLATES.get


def template_for(name: str) -> ProduceTemplate | None:
    """The :class:`ProduceTemplate` of a topic name that passed validation, made on first use and
    cached (shared by the client, the producers and their futures); ``None`` if the name cannot
    be encoded as a u16 string (the layout encoder then says why)."""
    template = _TEMPLATES.get(name)
    if template is None:
        _remember_topic(name)
        template = _TEMPLATES.get(name)
    return template


def _remember_topic(name: str) -> None:
    """Note a validated topic name, so the next produce to it skips the checks (and, without a key,
    the generic encoding: see :func:`produce_template`)."""
    if type(name) is str and name not in _TEMPLATES:
        try:
            template = ProduceTemplate(name)
        except ValueError:  # not encodable as a u16 string: the layout encoder says why
            return
        if len(_TEMPLATES) >= _TEMPLATES_MAX:
            _TEMPLATES.clear()
        _TEMPLATES[name] = template


def produce(
    topic: str,
    value: bytes | str,
    key: bytes | str | None = None,
    encode_value: ValueEncoder | None = None,
    compress: bool = False,
) -> Call[RecordMetadata]:
    """PRODUCE (0x01).  The partition field is ignored by the server and always sent as -1."""
    if (
        key is None
        and type(topic) is str
        and type(value) is bytes
        and (template := _TEMPLATES.get(topic)) is not None
        and len(value) <= template.max_value
    ):
        # The common case, validated without a call: a topic already checked, a bytes value.
        name, key_bytes, value_bytes = topic, b"", value
    else:
        name, key_bytes, value_bytes = _check_produce(topic, key, value)
        _remember_topic(name)
    if encode_value is not None:
        value_bytes = encode_value(name, value_bytes)
        v.check_payload_size(_PRODUCE_OVERHEAD + len(name) + len(key_bytes) + len(value_bytes))
    payload = (PRODUCE._encode or PRODUCE.encoder)(
        {"topic": name, "key": key_bytes, "value": value_bytes, "partition": -1}
    )
    return Call(PRODUCE, payload, name, None, None, key_bytes, compress)


def consume(
    topic: str,
    offset: int = 0,
    partition: int = 0,
    *,
    zero_copy: bool = False,
    decode_value: ValueDecoder | None = None,
) -> Call[ConsumedMessage]:
    """CONSUME (0x02) / CONSUME_ZERO_COPY (0x0A): one record at ``offset``."""
    name = v.check_topic(topic)
    offset = v.check_offset(offset)
    partition = v.check_partition(partition)
    spec = CONSUME_ZERO_COPY if zero_copy else CONSUME
    payload = spec.encode({"topic": name, "partition": partition, "offset": offset})
    return Call(spec, payload, name, partition, offset, extra=decode_value)


def fetch(
    topic: str,
    partition: int = 0,
    offset: int = 0,
    max_messages: int = 10,
    filter: str | None = None,
    *,
    binary: bool = False,
    decode_value: ValueDecoder | None = None,
) -> Call[FetchResult]:
    """FETCH (0x07) / FETCH_BINARY (0x0B)."""
    name = v.check_topic(topic)
    partition = v.check_partition(partition)
    offset = v.check_offset(offset)
    max_messages = v.check_max_messages(max_messages)
    fields: dict[str, Any] = {
        "topic": name,
        "partition": partition,
        "offset": offset,
        "max_messages": max_messages,
    }
    if filter:
        fields["filter"] = v.check_str16(filter, "filter")
    spec = FETCH_BINARY if binary else FETCH
    return Call(spec, spec.encode(fields), name, partition, offset, extra=decode_value)


def create_topic(topic: str, partitions: int = 1) -> Call[None]:
    """CREATE_TOPIC (0x03); idempotent on the server (an existing topic keeps its partitions)."""
    name = v.check_topic(topic)
    count = v.check_partition_count(partitions)
    return Call(CREATE_TOPIC, CREATE_TOPIC.encode({"topic": name, "partitions": count}), name)


def delete_topic(topic: str) -> Call[None]:
    """DELETE_TOPIC (0x09); deleting a missing topic succeeds."""
    name = v.check_topic(topic)
    return Call(DELETE_TOPIC, DELETE_TOPIC.encode({"topic": name}), name)


def list_topics() -> Call[list[str]]:
    """LIST_TOPICS (0x08): sorted, names starting with ``__`` hidden."""
    return Call(LIST_TOPICS, b"")


def cluster_metadata(topic: str | None = None) -> Call[ClusterMetadata]:
    """CLUSTER_METADATA (0x53) for one topic, or all topics (empty payload)."""
    if topic is None:
        return Call(CLUSTER_METADATA, b"")
    name = v.check_topic(topic)
    return Call(CLUSTER_METADATA, CLUSTER_METADATA.encode({"topic": name}), name)


# --------------------------------------------------------------------------- consumer groups


def subscribe(topic: str, group_id: str, partition: int = 0, mode: str = "commit") -> Call[int]:
    """SUBSCRIBE (0x05): the start offset for ``mode`` (earliest / latest / commit)."""
    name = v.check_topic(topic)
    group = v.check_group_id(group_id)
    partition = v.check_partition(partition)
    mode = v.check_subscribe_mode(mode)
    fields = {"topic": name, "group_id": group, "partition": partition, "mode": mode}
    return Call(SUBSCRIBE, SUBSCRIBE.encode(fields), name, partition)


def commit_offset(topic: str, group_id: str, partition: int, offset: int) -> Call[None]:
    """COMMIT (0x06): store ``offset`` (the next offset to read) for the group."""
    name = v.check_topic(topic)
    group = v.check_group_id(group_id)
    partition = v.check_partition(partition)
    offset = v.check_offset(offset)
    fields = {"topic": name, "group_id": group, "partition": partition, "offset": offset}
    return Call(COMMIT, COMMIT.encode(fields), name, partition, offset)


def get_committed_offset(topic: str, group_id: str, partition: int = 0) -> Call[int]:
    """GET_OFFSET (0x60); 0 for a partition the group never committed (server behaviour)."""
    name = v.check_topic(topic)
    group = v.check_group_id(group_id)
    partition = v.check_partition(partition)
    fields = {"topic": name, "group_id": group, "partition": partition}
    return Call(GET_OFFSET, GET_OFFSET.encode(fields), name, partition)


def reset_offset(
    topic: str, group_id: str, partition: int = 0, mode: str = "earliest", offset: int | None = None
) -> Call[None]:
    """RESET_OFFSET (0x61): to ``earliest``, ``latest`` or a given ``offset`` (mode ``offset``)."""
    name = v.check_topic(topic)
    group = v.check_group_id(group_id)
    partition = v.check_partition(partition)
    mode = v.check_reset_mode(mode)
    fields: dict[str, Any] = {"topic": name, "group_id": group, "partition": partition, "mode": mode}
    if mode == "offset":
        if offset is None:
            raise InvalidArgumentError(
                "reset_offset(mode='offset') needs the offset",
                hint="Pass offset=<the next offset to read>.",
            )
        fields["offset"] = v.check_offset(offset)
    elif offset is not None:
        raise InvalidArgumentError(
            f"offset is only used with mode='offset', not with mode={mode!r}",
            hint="Use reset_offset(topic, group, partition, mode='offset', offset=N).",
        )
    return Call(RESET_OFFSET, RESET_OFFSET.encode(fields), name, partition)


def list_groups() -> Call[list[GroupInfo]]:
    """LIST_GROUPS (0x62); needs admin when authentication is on."""
    return Call(LIST_GROUPS, b"")


def auth_probe() -> Call[bool]:
    """LIST_GROUPS sent to learn whether the server enforces authentication (SEMANTICS_NOTES #1).

    A normal answer parses to False (auth off, or this connection is authenticated); the caller
    reads ``authentication required`` / ``unauthorized`` as "auth on".
    """
    return Call(AUTH_PROBE, b"")


def describe_group(topic: str, group_id: str) -> Call[GroupInfo]:
    """DESCRIBE_GROUP (0x63): groups are keyed by topic + group id."""
    name = v.check_topic(topic)
    group = v.check_group_id(group_id)
    return Call(DESCRIBE_GROUP, DESCRIBE_GROUP.encode({"topic": name, "group_id": group}), name)


def delete_group(topic: str, group_id: str) -> Call[None]:
    """DELETE_GROUP (0x65)."""
    name = v.check_topic(topic)
    group = v.check_group_id(group_id)
    return Call(DELETE_GROUP, DELETE_GROUP.encode({"topic": name, "group_id": group}), name)


def get_lag(topic: str, group_id: str, partition: int = 0) -> Call[ConsumerLag]:
    """GET_LAG (0x64)."""
    name = v.check_topic(topic)
    group = v.check_group_id(group_id)
    partition = v.check_partition(partition)
    fields = {"topic": name, "group_id": group, "partition": partition}
    return Call(GET_LAG, GET_LAG.encode(fields), name, partition, extra=(group, partition))


# --------------------------------------------------------------------------- schemas


def _schema_text(schema: Any) -> bytes:
    if isinstance(schema, Mapping):
        return json.dumps(schema, separators=(",", ":")).encode()
    return v.to_bytes(schema, "schema")


def register_schema(name: str, schema_type: str, schema: Any) -> Call[SchemaRegistration]:
    """REGISTER_SCHEMA (0x10): ``schema`` is text, bytes, or a dict (sent as JSON)."""
    schema_name = v.check_str16(name, "schema name", allow_empty=False)
    kind = v.check_schema_type(schema_type)
    definition = _schema_text(schema)
    v.check_payload_size(len(definition) + v.encoded_len(schema_name) + 8, "register_schema request")
    fields = {"name": schema_name, "type": kind, "schema": definition}
    return Call(REGISTER_SCHEMA, REGISTER_SCHEMA.encode(fields))


def get_schema(name: str, version: int = 0) -> Call[SchemaInfo]:
    """GET_SCHEMA (0x11); version 0 = latest."""
    schema_name = v.check_str16(name, "schema name", allow_empty=False)
    version = v.check_schema_version(version, allow_latest=True)
    return Call(GET_SCHEMA, GET_SCHEMA.encode({"topic": schema_name, "version": version}))


def list_schemas(name_filter: str = "") -> Call[list[SchemaInfo]]:
    """LIST_SCHEMAS (0x12): one entry per version."""
    text = v.check_str16(name_filter, "name_filter")
    return Call(LIST_SCHEMAS, LIST_SCHEMAS.encode({"topic": text}) if text else b"")


def validate_schema(name: str, message: bytes | str) -> Call[ValidationResult]:
    """VALIDATE_SCHEMA (0x13) against the latest version (an unknown name validates as valid)."""
    schema_name = v.check_str16(name, "schema name", allow_empty=False)
    data = v.to_bytes(message, "message")
    v.check_payload_size(len(data) + v.encoded_len(schema_name) + 6, "validate_schema request")
    return Call(VALIDATE_SCHEMA, VALIDATE_SCHEMA.encode({"name": schema_name, "message": data}))


def delete_schema(name: str, version: int) -> Call[None]:
    """DELETE_SCHEMA (0x15): exactly one version (>= 1; 0 is not "all" on the server)."""
    schema_name = v.check_str16(name, "schema name", allow_empty=False)
    version = v.check_schema_version(version, allow_latest=False)
    return Call(DELETE_SCHEMA, DELETE_SCHEMA.encode({"topic": schema_name, "version": version}))


def produce_with_schema(
    topic: str,
    data: bytes | str,
    schema_name: str,
    *,
    encode_value: ValueEncoder | None = None,
    compress: bool = False,
) -> Call[RecordMetadata]:
    """PRODUCE_WITH_SCHEMA (0x14): keyless; the reply always says partition 0."""
    schema = v.check_str16(schema_name, "schema_name", allow_empty=False)
    overhead = 8 + v.encoded_len(schema, "schema_name")
    name, _, value = v.check_produce(topic, None, data, overhead=overhead)
    if encode_value is not None:
        value = encode_value(name, value)
        v.check_payload_size(overhead + len(name) + len(value))
    payload = PRODUCE_WITH_SCHEMA.encode({"topic": name, "schema_name": schema, "data": value})
    return Call(PRODUCE_WITH_SCHEMA, payload, name, compress=compress)


# --------------------------------------------------------------------------- DLQ, delayed, TTL


def fetch_dlq(topic: str, max_messages: int = 10) -> Call[list[DLQMessage]]:
    """FETCH_DLQ (0x20): always from the start of ``<topic>.dlq`` (no paging on the server)."""
    name = v.check_topic(topic)
    count = v.check_max_messages(max_messages)
    return Call(FETCH_DLQ, FETCH_DLQ.encode({"topic": name, "max_messages": count}), name)


def replay_dlq(topic: str, message_id: str) -> Call[None]:
    """REPLAY_DLQ (0x21): re-produce to the record's original topic (the record stays)."""
    name = v.check_topic(topic)
    ident = v.check_str16(message_id, "message_id", allow_empty=False)
    return Call(REPLAY_DLQ, REPLAY_DLQ.encode({"topic": name, "message_id": ident}), name)


def purge_dlq(topic: str) -> Call[None]:
    """PURGE_DLQ (0x22): delete the whole ``<topic>.dlq``."""
    name = v.check_topic(topic)
    return Call(PURGE_DLQ, PURGE_DLQ.encode({"topic": name}), name)


def _timed_produce(
    spec: Spec[RecordMetadata],
    topic: str,
    value: bytes | str,
    duration_field: str,
    duration: int,
    encode_value: ValueEncoder | None,
    compress: bool,
) -> Call[RecordMetadata]:
    checked = v.check_duration_ms(duration, duration_field)
    name, _, data = v.check_produce(topic, None, value, overhead=14)
    if encode_value is not None:
        data = encode_value(name, data)
        v.check_payload_size(14 + len(name) + len(data))
    payload = spec.encode({"topic": name, "data": data, duration_field: checked})
    return Call(spec, payload, name, compress=compress)


def produce_delayed(
    topic: str,
    value: bytes | str,
    delay_ms: int,
    *,
    encode_value: ValueEncoder | None = None,
    compress: bool = False,
) -> Call[RecordMetadata]:
    """PRODUCE_DELAYED (0x30)."""
    return _timed_produce(PRODUCE_DELAYED, topic, value, "delay_ms", delay_ms, encode_value, compress)


def produce_with_ttl(
    topic: str,
    value: bytes | str,
    ttl_ms: int,
    *,
    encode_value: ValueEncoder | None = None,
    compress: bool = False,
) -> Call[RecordMetadata]:
    """PRODUCE_WITH_TTL (0x35); the server never enforces the TTL (SEMANTICS_NOTES #18)."""
    return _timed_produce(PRODUCE_WITH_TTL, topic, value, "ttl_ms", ttl_ms, encode_value, compress)


# --------------------------------------------------------------------------- transactions


def begin_tx() -> Call[str]:
    """BEGIN_TX (0x40): the transaction id."""
    return Call(BEGIN_TX, b"")


def produce_tx(txn_id: str, topic: str, value: bytes) -> Call[RecordMetadata]:
    """PRODUCE_TX (0x43); ``value`` is already validated and value-encoded by the transaction."""
    ident = v.check_str16(txn_id, "txn_id", allow_empty=False)
    name = v.check_topic(topic)
    v.check_payload_size(8 + len(ident) + len(name) + len(value), "transactional produce")
    return Call(PRODUCE_TX, PRODUCE_TX.encode({"txn_id": ident, "topic": name, "data": value}), name)


def commit_tx(txn_id: str) -> Call[str]:
    """COMMIT_TX (0x41); failure comes as ``success = 0``, never as an error frame."""
    ident = v.check_str16(txn_id, "txn_id", allow_empty=False)
    return Call(COMMIT_TX, COMMIT_TX.encode({"txn_id": ident}))


def abort_tx(txn_id: str) -> Call[str]:
    """ABORT_TX (0x42)."""
    ident = v.check_str16(txn_id, "txn_id", allow_empty=False)
    return Call(ABORT_TX, ABORT_TX.encode({"txn_id": ident}))


# --------------------------------------------------------------------------- authentication, users, ACLs


def authenticate(username: str, password: str) -> Call[AuthResult]:
    """AUTH (0x70, answered with 0x71).  Only ever sent with user-supplied credentials."""
    user = v.check_str16(username, "username", allow_empty=False)
    secret = v.check_str16(password, "password")
    return Call(AUTH, AUTH.encode({"username": user, "password": secret}))


def whoami() -> Call[WhoAmI]:
    """WHOAMI (0x72)."""
    return Call(WHOAMI, b"")


def _roles_list(roles: Iterable[str] | None) -> list[str]:
    return [] if roles is None else v.check_str_list(roles, "roles")


def create_user(username: str, password: str, roles: Iterable[str] | None = None) -> Call[UserInfo]:
    """USER_CREATE (0x73)."""
    user = v.check_str16(username, "username", allow_empty=False)
    secret = v.check_new_password(password, "password")
    fields = {
        "username": user,
        "password": secret,
        "old_password": "",
        "roles": _roles_list(roles),
        "enabled": True,
    }
    return Call(USER_CREATE, USER_CREATE.encode(fields))


def get_user(username: str) -> Call[UserInfo]:
    """USER_GET (0x77)."""
    user = v.check_str16(username, "username", allow_empty=False)
    return Call(USER_GET, USER_GET.encode({"username": user}))


def list_users() -> Call[list[UserInfo]]:
    """USER_LIST (0x76)."""
    return Call(USER_LIST, b"")


def update_user(username: str, roles: Iterable[str], enabled: bool) -> Call[None]:
    """USER_UPDATE (0x75): always the full role list *and* the enabled byte (SEMANTICS_NOTES #37)."""
    user = v.check_str16(username, "username", allow_empty=False)
    if not isinstance(enabled, bool):
        raise InvalidArgumentTypeError(f"enabled must be a bool, got {type(enabled).__name__}")
    fields = {
        "username": user,
        "password": "",
        "old_password": "",
        "roles": _roles_list(roles),
        "enabled": enabled,
    }
    return Call(USER_UPDATE, USER_UPDATE.encode(fields))


def delete_user(username: str) -> Call[None]:
    """USER_DELETE (0x74)."""
    user = v.check_str16(username, "username", allow_empty=False)
    return Call(USER_DELETE, USER_DELETE.encode({"username": user}))


def change_password(username: str, new_password: str, old_password: str = "") -> Call[None]:
    """PASSWORD_CHANGE (0x7C): your own (with ``old_password``) or, as admin, anyone's."""
    user = v.check_str16(username, "username", allow_empty=False)
    new = v.check_new_password(new_password, "new_password")
    old = v.check_str16(old_password, "old_password")
    fields = {"username": user, "password": new, "old_password": old, "roles": []}
    return Call(PASSWORD_CHANGE, PASSWORD_CHANGE.encode(fields))


def set_acl(
    topic: str,
    *,
    public: bool = False,
    allowed_users: Iterable[str] = (),
    allowed_roles: Iterable[str] = (),
) -> Call[None]:
    """ACL_SET (0x78): replaces the topic's whole ACL."""
    name = v.check_topic(topic)
    if not isinstance(public, bool):
        raise InvalidArgumentTypeError(f"public must be a bool, got {type(public).__name__}")
    fields = {
        "topic": name,
        "public": public,
        "allowed_users": v.check_str_list(allowed_users, "allowed_users"),
        "allowed_roles": v.check_str_list(allowed_roles, "allowed_roles"),
    }
    return Call(ACL_SET, ACL_SET.encode(fields), name)


def get_acl(topic: str) -> Call[AclInfo]:
    """ACL_GET (0x79)."""
    name = v.check_topic(topic)
    return Call(ACL_GET, ACL_GET.encode({"topic": name}), name)


def delete_acl(topic: str) -> Call[None]:
    """ACL_DELETE (0x7A)."""
    name = v.check_topic(topic)
    return Call(ACL_DELETE, ACL_DELETE.encode({"topic": name}), name)


def list_acls() -> Call[AclList]:
    """ACL_LIST (0x7B)."""
    return Call(ACL_LIST, b"")


def list_roles() -> Call[list[RoleInfo]]:
    """ROLE_LIST (0x7D)."""
    return Call(ROLE_LIST, b"")


def audit_fields(
    start_time: int = 0,
    end_time: int = 0,
    event_types: Iterable[str] = (),
    user: str = "",
    resource: str = "",
    result: str = "",
    search: str = "",
    limit: int = 100,
    offset: int = 0,
) -> dict[str, Any]:
    """Validated AUDIT_QUERY fields (times in Unix **seconds**; limit/offset >= 0)."""
    return {
        "start_time": v.check_timestamp_s(start_time, "start_time"),
        "end_time": v.check_timestamp_s(end_time, "end_time"),
        "event_types": v.check_str_list(event_types, "event_types"),
        "user": v.check_str16(user, "user"),
        "resource": v.check_str16(resource, "resource"),
        "result": v.check_str16(result, "result"),
        "search": v.check_str16(search, "search"),
        "limit": v.check_audit_limit(limit),
        "offset": v.check_audit_offset(offset),
    }


def audit_query(query: dict[str, Any]) -> Call[AuditQueryResult]:
    """AUDIT_QUERY (0x80) with fields from :func:`audit_fields`."""
    return Call(AUDIT_QUERY, AUDIT_QUERY.encode(query))


def audit_export(query: dict[str, Any], export_format: str = "json") -> Call[AuditExport]:
    """AUDIT_EXPORT (0x81): ``json`` or ``csv``; at most 100 events (server cap).

    Other formats are refused: the server would answer JSON labelled with the unknown format.
    """
    fmt = v.check_export_format(export_format)
    return Call(AUDIT_EXPORT, AUDIT_EXPORT.encode({"query": query, "format": fmt}))
