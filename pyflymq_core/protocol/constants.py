"""Frame constants and opcode numbers of the FlyMQ 1.26.11 binary protocol.

Kept apart from the codec so that transports, the broker and the CLI can name opcodes without
pulling in the layout machinery.
"""

from __future__ import annotations

from enum import IntEnum

MAGIC = 0xAF
VERSION = 0x01
HEADER_SIZE = 8
#: The server closes the connection on a request payload longer than this (on-wire length).
MAX_REQUEST_PAYLOAD = 32 * 1024 * 1024
#: PRODUCE payload bytes besides the topic, key and value contents: u16 + u32 + u32 lengths + i32 partition.
PRODUCE_OVERHEAD = 2 + 4 + 4 + 4

FLAG_BINARY = 0x01
"""Informational; the server ignores it but sets it on every normal response."""
FLAG_GZIP = 0x02
"""The request payload is a gzip stream; the only compression the server implements."""


class OpCode(IntEnum):
    """Every opcode the protocol defines, dispatched by the server or not (spec §7)."""

    PRODUCE = 0x01
    CONSUME = 0x02
    CREATE_TOPIC = 0x03
    METADATA = 0x04
    SUBSCRIBE = 0x05
    COMMIT = 0x06
    FETCH = 0x07
    LIST_TOPICS = 0x08
    DELETE_TOPIC = 0x09
    CONSUME_ZERO_COPY = 0x0A
    FETCH_BINARY = 0x0B
    REGISTER_SCHEMA = 0x10
    GET_SCHEMA = 0x11
    LIST_SCHEMAS = 0x12
    VALIDATE_SCHEMA = 0x13
    PRODUCE_WITH_SCHEMA = 0x14
    DELETE_SCHEMA = 0x15
    FETCH_DLQ = 0x20
    REPLAY_DLQ = 0x21
    PURGE_DLQ = 0x22
    PRODUCE_DELAYED = 0x30
    CANCEL_DELAYED = 0x31
    PRODUCE_WITH_TTL = 0x35
    BEGIN_TX = 0x40
    COMMIT_TX = 0x41
    ABORT_TX = 0x42
    PRODUCE_TX = 0x43
    CLUSTER_JOIN = 0x50
    CLUSTER_LEAVE = 0x51
    CLUSTER_STATUS = 0x52
    CLUSTER_METADATA = 0x53
    GET_OFFSET = 0x60
    RESET_OFFSET = 0x61
    LIST_GROUPS = 0x62
    DESCRIBE_GROUP = 0x63
    GET_LAG = 0x64
    DELETE_GROUP = 0x65
    SEEK_TO_TIMESTAMP = 0x66
    AUTH = 0x70
    AUTH_RESPONSE = 0x71
    WHOAMI = 0x72
    USER_CREATE = 0x73
    USER_DELETE = 0x74
    USER_UPDATE = 0x75
    USER_LIST = 0x76
    USER_GET = 0x77
    ACL_SET = 0x78
    ACL_GET = 0x79
    ACL_DELETE = 0x7A
    ACL_LIST = 0x7B
    PASSWORD_CHANGE = 0x7C
    ROLE_LIST = 0x7D
    AUDIT_QUERY = 0x80
    AUDIT_EXPORT = 0x81
    ERROR = 0xFF


#: Opcodes the protocol documents but the 1.26.11 server does not dispatch (`unknown opcode: N`).
UNDISPATCHED_OPCODES = frozenset(
    {
        OpCode.METADATA,
        OpCode.CANCEL_DELAYED,
        OpCode.CLUSTER_JOIN,
        OpCode.CLUSTER_LEAVE,
        OpCode.CLUSTER_STATUS,
        OpCode.SEEK_TO_TIMESTAMP,
    }
)

#: Produce-type opcodes: their replies are RecordMetadata and they auto-create topics.
PRODUCE_OPCODES = frozenset(
    {
        OpCode.PRODUCE,
        OpCode.PRODUCE_WITH_SCHEMA,
        OpCode.PRODUCE_DELAYED,
        OpCode.PRODUCE_WITH_TTL,
        OpCode.PRODUCE_TX,
    }
)
