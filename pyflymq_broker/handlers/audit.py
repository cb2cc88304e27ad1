"""AUDIT_QUERY and AUDIT_EXPORT (spec §11.6-11.7): admin only, coded errors."""

from __future__ import annotations

from typing import Any

from pyflymq_broker.audit import AuditQuery, AuditTrail
from pyflymq_broker.errors import BrokerError
from pyflymq_broker.handlers.context import Context
from pyflymq_core.errors import ProtocolError
from pyflymq_core.protocol import decode_request

__all__ = ["audit_export", "audit_query"]


def _trail(ctx: Context, what: str) -> AuditTrail:
    if ctx.manage_problem() is not None:
        raise BrokerError.coded(f"admin access required for audit {what}")
    if ctx.broker.audit is None:
        raise BrokerError.coded("audit trail is not enabled")
    return ctx.broker.audit


def _decode(ctx: Context, payload: bytes, kind: str) -> dict[str, Any]:
    try:
        return decode_request(ctx.op, payload)
    except ProtocolError:
        # The server's audit decoders report their own text; the broker reports every decode
        # failure with the one captured for a short payload.
        raise BrokerError.coded(f"invalid audit {kind} request: audit {kind} request too short") from None


def audit_query(ctx: Context, payload: bytes) -> dict[str, Any]:
    """AUDIT_QUERY: a page of events, newest first (admin only).

    Negative limit/offset are refused: the real server would panic on them and exit.
    """
    trail = _trail(ctx, "queries")
    query = AuditQuery.from_fields(_decode(ctx, payload, "query"))
    if query.limit < 0 or query.offset < 0:
        # The real server panics on a negative slice bound and exits.
        raise BrokerError.coded("invalid audit query request: limit and offset must not be negative")
    events, total, has_more = trail.query(query)
    return {"events": [e.wire() for e in events], "total_count": total, "has_more": has_more}


def audit_export(ctx: Context, payload: bytes) -> dict[str, Any]:
    """AUDIT_EXPORT: the matching events as CSV or JSON, capped at one default page (admin only)."""
    trail = _trail(ctx, "export")
    req = _decode(ctx, payload, "export")
    return {
        "format": req["format"],
        "data": trail.export(AuditQuery.from_fields(req["query"]), req["format"]),
    }
