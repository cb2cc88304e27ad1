"""The one layout definition of every request and response (spec §5, §8-§11).

Field names and value shapes are the transcripts' (byte fields are ``bytes``). The client encodes
requests and decodes responses with these; the embedded broker decodes requests and encodes
responses with the very same objects.
"""

from __future__ import annotations

from pyflymq_core.protocol.constants import OpCode
from pyflymq_core.protocol.types import (
    BOOL,
    BYTES,
    I32,
    I64,
    PAIRS,
    STR,
    STR8,
    TEXT32,
    U32,
    U64,
    F,
    ListOf,
    S,
    Sized,
    Struct,
)

EMPTY = S()

# --- shared shapes (spec §5) ----------------------------------------------------------------------
RECORD_METADATA = S(
    F("topic", STR),
    F("partition", I32),
    F("offset", U64),
    F("timestamp", I64),
    F("key_size", I32),
    F("value_size", I32),
)
SUCCESS = S(F("success", BOOL))
SUCCESS_MESSAGE = S(F("success", BOOL), F("message", STR))
TXN_RESULT = S(F("txn_id", STR), F("success", BOOL))
AUTH_RESULT = S(F("success", BOOL), F("username", STR), F("roles", ListOf(STR8)), F("error", STR))
USER_INFO = S(
    F("username", STR),
    F("roles", ListOf(STR)),
    F("permissions", ListOf(STR)),
    F("enabled", BOOL),
    F("created_at", I64),
    F("updated_at", I64),
)
USER_REQUEST = S(
    F("username", STR),
    F("password", STR),
    F("old_password", STR),
    F("roles", ListOf(STR)),
    F("enabled", BOOL, presence="optional"),
)
ACL_RESULT = S(F("success", BOOL), F("topic", STR))
AUDIT_QUERY = S(
    F("start_time", I64),
    F("end_time", I64),
    F("event_types", ListOf(STR)),
    F("user", STR),
    F("resource", STR),
    F("result", STR),
    F("search", STR),
    F("limit", I32),
    F("offset", I32),
)
AUDIT_EVENT = S(
    F("id", STR),
    F("timestamp", I64),
    F("type", STR),
    F("user", STR),
    F("client_ip", STR),
    F("resource", STR),
    F("action", STR),
    F("result", STR),
    F("node_id", STR),
    F("details", PAIRS),
)
PARTITION_OFFSET = S(F("partition", I32), F("offset", U64))
CONSUME_REQUEST = S(F("topic", STR), F("partition", I32), F("offset", U64))
CONSUME_RESPONSE = S(F("key", BYTES), F("value", BYTES))
FETCH_REQUEST = S(
    F("topic", STR),
    F("partition", I32),
    F("offset", U64),
    F("max_messages", I32),
    F("filter", STR, presence="lenient"),
)
FETCH_RESPONSE = S(
    F("message_count", U32, count_of="messages"),
    F("next_offset", U64),
    F(
        "messages",
        ListOf(S(F("offset", U64), F("key", BYTES), F("value", BYTES))),
        counted_by="message_count",
    ),
)
TOPIC_ONLY = S(F("topic", STR))
OPTIONAL_TOPIC = S(F("topic", STR, presence="optional"))
GROUP_KEY = S(F("topic", STR), F("group_id", STR))
GROUP_PARTITION = S(F("topic", STR), F("group_id", STR), F("partition", I32))
GROUP_SUMMARY = S(
    F("topic", STR),
    F("group_id", STR),
    F("members", U32),
    F("offsets", ListOf(PARTITION_OFFSET)),
)
SCHEMA_VERSION_KEY = S(F("topic", STR), F("version", U32))
ACL_TOPIC = S(F("topic", STR))
PARTITION_INFO = S(
    F("partition", I32),
    F("leader_id", STR),
    F("leader_addr", STR),
    F("epoch", U64),
    F("state", STR),
    F("replicas", ListOf(STR)),
    F("isr", ListOf(STR)),
)

#: op -> (request layout, response layout or None when the server never answers it normally).
LAYOUTS: dict[int, tuple[Struct, Struct | None]] = {
    OpCode.PRODUCE: (
        S(F("topic", STR), F("key", BYTES), F("value", BYTES), F("partition", I32)),
        RECORD_METADATA,
    ),
    OpCode.CONSUME: (CONSUME_REQUEST, CONSUME_RESPONSE),
    OpCode.CREATE_TOPIC: (S(F("topic", STR), F("partitions", I32)), SUCCESS),
    OpCode.METADATA: (TOPIC_ONLY, None),
    OpCode.SUBSCRIBE: (
        S(F("topic", STR), F("group_id", STR), F("partition", I32), F("mode", STR8)),
        S(F("offset", U64)),
    ),
    OpCode.COMMIT: (
        S(F("topic", STR), F("group_id", STR), F("partition", I32), F("offset", U64)),
        SUCCESS,
    ),
    OpCode.FETCH: (FETCH_REQUEST, FETCH_RESPONSE),
    OpCode.LIST_TOPICS: (EMPTY, S(F("topics", ListOf(STR)))),
    OpCode.DELETE_TOPIC: (TOPIC_ONLY, SUCCESS),
    OpCode.CONSUME_ZERO_COPY: (CONSUME_REQUEST, CONSUME_RESPONSE),
    OpCode.FETCH_BINARY: (FETCH_REQUEST, FETCH_RESPONSE),
    OpCode.REGISTER_SCHEMA: (
        S(F("name", STR), F("type", STR8), F("schema", BYTES)),
        S(F("name", STR), F("type", STR8), F("version", U32)),
    ),
    OpCode.GET_SCHEMA: (
        SCHEMA_VERSION_KEY,
        S(
            F("id", STR),
            F("topic", STR),
            F("version", U32),
            F("type", STR8),
            F("definition", TEXT32),
            F("compatibility", STR8),
        ),
    ),
    OpCode.LIST_SCHEMAS: (
        OPTIONAL_TOPIC,
        S(F("schemas", ListOf(S(F("name", STR), F("type", STR8), F("version", U32))))),
    ),
    OpCode.VALIDATE_SCHEMA: (
        S(F("name", STR), F("message", BYTES)),
        S(F("valid", BOOL), F("errors", ListOf(STR))),
    ),
    OpCode.PRODUCE_WITH_SCHEMA: (
        S(F("topic", STR), F("schema_name", STR), F("data", BYTES)),
        RECORD_METADATA,
    ),
    OpCode.DELETE_SCHEMA: (SCHEMA_VERSION_KEY, SUCCESS_MESSAGE),
    OpCode.FETCH_DLQ: (
        S(F("topic", STR), F("max_messages", I32)),
        S(F("messages", ListOf(S(F("id", STR), F("data", BYTES), F("error", STR), F("retries", I32))))),
    ),
    OpCode.REPLAY_DLQ: (S(F("topic", STR), F("message_id", STR)), SUCCESS_MESSAGE),
    OpCode.PURGE_DLQ: (TOPIC_ONLY, SUCCESS_MESSAGE),
    OpCode.PRODUCE_DELAYED: (S(F("topic", STR), F("data", BYTES), F("delay_ms", I64)), RECORD_METADATA),
    OpCode.CANCEL_DELAYED: (S(F("message_id", STR)), None),
    OpCode.PRODUCE_WITH_TTL: (S(F("topic", STR), F("data", BYTES), F("ttl_ms", I64)), RECORD_METADATA),
    OpCode.BEGIN_TX: (EMPTY, TXN_RESULT),
    OpCode.COMMIT_TX: (S(F("txn_id", STR)), TXN_RESULT),
    OpCode.ABORT_TX: (S(F("txn_id", STR)), TXN_RESULT),
    OpCode.PRODUCE_TX: (S(F("txn_id", STR), F("topic", STR), F("data", BYTES)), RECORD_METADATA),
    OpCode.CLUSTER_JOIN: (S(F("peer", STR)), None),
    OpCode.CLUSTER_LEAVE: (EMPTY, None),
    OpCode.CLUSTER_STATUS: (EMPTY, None),
    OpCode.CLUSTER_METADATA: (
        OPTIONAL_TOPIC,
        S(
            F("cluster_id", STR),
            F("topics", ListOf(S(F("topic", STR), F("partitions", ListOf(PARTITION_INFO))))),
        ),
    ),
    OpCode.GET_OFFSET: (GROUP_PARTITION, S(F("offset", U64))),
    OpCode.RESET_OFFSET: (
        S(
            F("topic", STR),
            F("group_id", STR),
            F("partition", I32),
            F("mode", STR8),
            F("offset", U64, when=("mode", "offset")),
        ),
        SUCCESS,
    ),
    OpCode.LIST_GROUPS: (EMPTY, S(F("groups", ListOf(GROUP_SUMMARY)))),
    OpCode.DESCRIBE_GROUP: (GROUP_KEY, GROUP_SUMMARY),
    OpCode.GET_LAG: (
        GROUP_PARTITION,
        S(
            F("current_offset", U64),
            F("committed_offset", U64),
            F("latest_offset", U64),
            F("lag", U64),
        ),
    ),
    OpCode.DELETE_GROUP: (GROUP_KEY, SUCCESS),
    OpCode.SEEK_TO_TIMESTAMP: (
        S(F("topic", STR), F("group_id", STR), F("partition", I32), F("timestamp", I64)),
        None,
    ),
    OpCode.AUTH: (S(F("username", STR), F("password", STR)), AUTH_RESULT),
    OpCode.WHOAMI: (EMPTY, AUTH_RESULT),
    OpCode.USER_CREATE: (USER_REQUEST, USER_INFO),
    OpCode.USER_DELETE: (S(F("username", STR)), SUCCESS_MESSAGE),
    OpCode.USER_UPDATE: (USER_REQUEST, SUCCESS_MESSAGE),
    OpCode.USER_LIST: (EMPTY, S(F("users", ListOf(USER_INFO)))),
    OpCode.USER_GET: (S(F("username", STR)), USER_INFO),
    OpCode.ACL_SET: (
        S(
            F("topic", STR),
            F("public", BOOL),
            F("allowed_users", ListOf(STR)),
            F("allowed_roles", ListOf(STR)),
        ),
        ACL_RESULT,
    ),
    OpCode.ACL_GET: (
        ACL_TOPIC,
        S(
            F("topic", STR),
            F("exists", BOOL),
            F("public", BOOL),
            F("default_public", BOOL),
            F("allowed_users", ListOf(STR)),
            F("allowed_roles", ListOf(STR)),
        ),
    ),
    OpCode.ACL_DELETE: (ACL_TOPIC, ACL_RESULT),
    OpCode.ACL_LIST: (
        EMPTY,
        S(
            F(
                "acls",
                ListOf(
                    S(
                        F("topic", STR),
                        F("exists", BOOL),
                        F("public", BOOL),
                        F("allowed_users", ListOf(STR)),
                        F("allowed_roles", ListOf(STR)),
                    )
                ),
            ),
            F("default_public", BOOL),
        ),
    ),
    OpCode.PASSWORD_CHANGE: (USER_REQUEST, SUCCESS_MESSAGE),
    OpCode.ROLE_LIST: (
        EMPTY,
        S(F("roles", ListOf(S(F("name", STR), F("permissions", ListOf(STR)), F("description", STR))))),
    ),
    OpCode.AUDIT_QUERY: (
        AUDIT_QUERY,
        S(F("events", ListOf(Sized(AUDIT_EVENT))), F("total_count", I32), F("has_more", BOOL)),
    ),
    OpCode.AUDIT_EXPORT: (
        S(F("query", Sized(AUDIT_QUERY)), F("format", STR)),
        S(F("format", STR), F("data", BYTES)),
    ),
}

#: Response opcode when it differs from the request's.
RESPONSE_OPCODES: dict[int, int] = {OpCode.AUTH: OpCode.AUTH_RESPONSE}
