"""Schema registry opcodes (spec §9.1-9.6). Registry errors are raw text with flags 0x01."""

from __future__ import annotations

from typing import Any

from pyflymq_broker.errors import RAW_FLAGGED, BrokerError
from pyflymq_broker.handlers.context import Context
from pyflymq_broker.raft_apply import propose
from pyflymq_broker.schemas import REGISTER_TYPES
from pyflymq_core.errors import ProtocolError
from pyflymq_core.protocol import OpCode, decode_request

__all__ = [
    "delete_schema",
    "get_schema",
    "list_schemas",
    "produce_with_schema",
    "register_schema",
    "validate_schema",
]


def register_schema(ctx: Context, payload: bytes) -> dict[str, Any]:
    """REGISTER_SCHEMA: store the next version of a named schema; the answer carries the version.

    The type is checked before anything is proposed, so a bad type is an error in both modes. In
    cluster mode a follower answers ``not leader: ...``; on the leader an invalid or incompatible
    definition is answered as a success (the Raft apply fails unseen) whose version is the name's
    latest stored one, or 1 when there is none: the server reads the registry for the version
    after proposing.
    """
    req = ctx.decode(payload)
    name, type_ = req["name"], req["type"]
    if type_ not in REGISTER_TYPES:
        raise BrokerError.flagged(f"unsupported schema type: {type_}")
    version = propose(
        ctx.broker,
        OpCode.REGISTER_SCHEMA,
        f"REGISTER_SCHEMA {name!r}",
        lambda node: node.schemas.register(name, type_, req["schema"]),
        RAW_FLAGGED,
    )
    if version is None:
        latest = ctx.broker.schemas.latest(name)
        version = latest.version if latest is not None else 1
    return {"name": name, "type": type_, "version": version}


def get_schema(ctx: Context, payload: bytes) -> dict[str, Any]:
    """GET_SCHEMA: one version, or the latest for version 0; compatibility is always ``backward``."""
    req = ctx.decode(payload)
    registry = ctx.broker.schemas
    found = (
        registry.get(req["topic"], req["version"])
        if req["version"] > 0
        else registry.get_latest(req["topic"])
    )
    return {
        "id": found.id,
        "topic": found.name,
        "version": found.version,
        "type": found.type,
        "definition": found.definition_text,
        "compatibility": "backward",
    }


def list_schemas(ctx: Context, payload: bytes) -> dict[str, Any]:
    """LIST_SCHEMAS: every version, or one name's; an undecodable request lists everything."""
    try:
        name = decode_request(ctx.op, payload).get("topic", "")
    except ProtocolError:
        name = ""  # the server lists everything when the request does not decode
    return {
        "schemas": [
            {"name": s.id, "type": s.type, "version": s.version} for s in ctx.broker.schemas.versions(name)
        ]
    }


def validate_schema(ctx: Context, payload: bytes) -> dict[str, Any]:
    """VALIDATE_SCHEMA: check a message against the latest version without writing it."""
    req = ctx.decode(payload)
    errors = ctx.broker.schemas.validate(req["name"], req["message"])
    return {"valid": not errors, "errors": errors}


def produce_with_schema(ctx: Context, payload: bytes) -> dict[str, Any]:
    """PRODUCE_WITH_SCHEMA: validate (when the schema feature is on), then write keyless.

    No topic ACL check on this opcode: the server has none either.
    """
    req = ctx.decode(payload)  # no topic ACL check on this opcode
    topic, data = req["topic"], req["data"]
    if ctx.broker.config.schema_enabled:
        errors = ctx.broker.schemas.validate(req["schema_name"], data)
        if errors:
            raise BrokerError.flagged(f"schema validation failed: [{' '.join(errors)}]")
    _, offset = ctx.broker.produce(topic, b"", data)
    return ctx.record_metadata(topic, 0, offset, None, len(data))


def delete_schema(ctx: Context, payload: bytes) -> dict[str, Any]:
    """DELETE_SCHEMA: remove one version; the name disappears with its last version.

    In cluster mode a follower answers ``not leader: ...``; on the leader a missing version is
    answered ``OK`` too (the Raft apply fails unseen).
    """
    req = ctx.decode(payload)
    name, version = req["topic"], req["version"]
    propose(
        ctx.broker,
        OpCode.DELETE_SCHEMA,
        f"DELETE_SCHEMA {name!r} v{version}",
        lambda node: node.schemas.delete(name, version),
        RAW_FLAGGED,
    )
    return {"success": True, "message": "OK"}
