"""The dispatch table: request opcode -> handler (47 dispatched opcodes, as on the server).

Anything not in the table (0x04, 0x31, 0x50-0x52, 0x66, 0x71, 0xFF and every unassigned value)
is answered ``unknown opcode: <decimal>`` by the broker.
"""

from __future__ import annotations

from pyflymq_broker.handlers import audit, auth, cluster, core, delayed_ttl, dlq, groups, schema, txn
from pyflymq_broker.handlers.context import Context, Handler
from pyflymq_core.protocol import OpCode

__all__ = ["DISPATCH", "Context", "Handler"]

DISPATCH: dict[int, Handler] = {
    OpCode.PRODUCE: core.produce,
    OpCode.CONSUME: core.consume,
    OpCode.CREATE_TOPIC: core.create_topic,
    OpCode.SUBSCRIBE: groups.subscribe,
    OpCode.COMMIT: groups.commit,
    OpCode.FETCH: core.fetch,
    OpCode.LIST_TOPICS: core.list_topics,
    OpCode.DELETE_TOPIC: core.delete_topic,
    OpCode.CONSUME_ZERO_COPY: core.consume_zero_copy,
    OpCode.FETCH_BINARY: core.fetch,
    OpCode.REGISTER_SCHEMA: schema.register_schema,
    OpCode.GET_SCHEMA: schema.get_schema,
    OpCode.LIST_SCHEMAS: schema.list_schemas,
    OpCode.VALIDATE_SCHEMA: schema.validate_schema,
    OpCode.PRODUCE_WITH_SCHEMA: schema.produce_with_schema,
    OpCode.DELETE_SCHEMA: schema.delete_schema,
    OpCode.FETCH_DLQ: dlq.fetch_dlq,
    OpCode.REPLAY_DLQ: dlq.replay_dlq,
    OpCode.PURGE_DLQ: dlq.purge_dlq,
    OpCode.PRODUCE_DELAYED: delayed_ttl.produce_delayed,
    OpCode.PRODUCE_WITH_TTL: delayed_ttl.produce_with_ttl,
    OpCode.BEGIN_TX: txn.begin_tx,
    OpCode.COMMIT_TX: txn.commit_tx,
    OpCode.ABORT_TX: txn.abort_tx,
    OpCode.PRODUCE_TX: txn.produce_tx,
    OpCode.CLUSTER_METADATA: cluster.cluster_metadata,
    OpCode.GET_OFFSET: groups.get_offset,
    OpCode.RESET_OFFSET: groups.reset_offset,
    OpCode.LIST_GROUPS: groups.list_groups,
    OpCode.DESCRIBE_GROUP: groups.describe_group,
    OpCode.GET_LAG: groups.get_lag,
    OpCode.DELETE_GROUP: groups.delete_group,
    OpCode.AUTH: auth.auth,
    OpCode.WHOAMI: auth.whoami,
    OpCode.USER_CREATE: auth.user_create,
    OpCode.USER_DELETE: auth.user_delete,
    OpCode.USER_UPDATE: auth.user_update,
    OpCode.USER_LIST: auth.user_list,
    OpCode.USER_GET: auth.user_get,
    OpCode.ACL_SET: auth.acl_set,
    OpCode.ACL_GET: auth.acl_get,
    OpCode.ACL_DELETE: auth.acl_delete,
    OpCode.ACL_LIST: auth.acl_list,
    OpCode.PASSWORD_CHANGE: auth.password_change,
    OpCode.ROLE_LIST: auth.role_list,
    OpCode.AUDIT_QUERY: audit.audit_query,
    OpCode.AUDIT_EXPORT: audit.audit_export,
}
