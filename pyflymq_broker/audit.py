"""The audit trail: the events the binary server records, its query filters and its exports.

Recorded events (spec §11.6): ``auth.success``/``auth.failure`` (AUTH), ``access.denied``
(create/delete topic, user create/delete refused), ``topic.create``/``topic.delete``,
``user.create``/``user.delete``. Queries return newest first; ``start_time``/``end_time`` filters
are Unix SECONDS while event timestamps are milliseconds on the wire. Exports are capped at 100
events (the store's default page size) and fall back to JSON for any format but ``csv``.
"""

from __future__ import annotations

import datetime as _dt
import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from pyflymq_broker import gojson

__all__ = ["AuditEvent", "AuditQuery", "AuditTrail"]

DEFAULT_LIMIT = 100


@dataclass(frozen=True)
class AuditEvent:
    """One recorded event; ``seq`` breaks ties between events of the same nanosecond, so
    newest-first ordering is stable.
    """

    id: str
    timestamp_ns: int
    type: str
    user: str
    client_ip: str
    resource: str
    action: str
    result: str
    node_id: str
    details: tuple[tuple[str, str], ...] | None
    seq: int

    def wire(self) -> dict[str, Any]:
        """The AUDIT_QUERY event fields (timestamp in ms; details as [key, value] pairs)."""
        return {
            "id": self.id,
            "timestamp": self.timestamp_ns // 1_000_000,
            "type": self.type,
            "user": self.user,
            "client_ip": self.client_ip,
            "resource": self.resource,
            "action": self.action,
            "result": self.result,
            "node_id": self.node_id,
            "details": [[k, v] for k, v in self.details or ()],
        }


@dataclass(frozen=True)
class AuditQuery:
    """The filters of AUDIT_QUERY/AUDIT_EXPORT, with the server's units and zero-means-unset rule.

    ``start_time``/``end_time`` are Unix seconds (events carry nanoseconds); ``resource`` and
    ``search`` match substrings, ``search`` case-insensitively.
    """

    start_time: int = 0
    end_time: int = 0
    event_types: tuple[str, ...] = ()
    user: str = ""
    resource: str = ""
    result: str = ""
    search: str = ""
    limit: int = 0
    offset: int = 0

    @classmethod
    def from_fields(cls, fields: dict[str, Any]) -> AuditQuery:
        """Build a query from the decoded request fields."""
        return cls(
            start_time=int(fields["start_time"]),
            end_time=int(fields["end_time"]),
            event_types=tuple(fields["event_types"]),
            user=fields["user"],
            resource=fields["resource"],
            result=fields["result"],
            search=fields["search"],
            limit=int(fields["limit"]),
            offset=int(fields["offset"]),
        )

    def matches(self, event: AuditEvent) -> bool:
        """Whether ``event`` passes every filter that is set."""
        if self.start_time > 0 and event.timestamp_ns < self.start_time * 1_000_000_000:
            return False
        if self.end_time > 0 and event.timestamp_ns > self.end_time * 1_000_000_000:
            return False
        if self.event_types and event.type not in self.event_types:
            return False
        if self.user and event.user != self.user:
            return False
        if self.resource and self.resource not in event.resource:
            return False
        if self.result and event.result != self.result:
            return False
        if self.search:
            needle = self.search.lower()
            haystacks = [event.action, event.resource, *(v for _, v in event.details or ())]
            if not any(needle in text.lower() for text in haystacks):
                return False
        return True


class AuditTrail:
    """An in-memory audit store with the server's query and export semantics."""

    def __init__(self, node_id: str, id_factory: Callable[[], str]) -> None:
        self._node_id = node_id
        self._id_factory = id_factory
        self._events: list[AuditEvent] = []
        self._seq = itertools.count()

    def record(
        self,
        type_: str,
        *,
        user: str,
        client_ip: str,
        resource: str,
        action: str,
        result: str,
        details: dict[str, str] | None,
        now_ns: int,
    ) -> AuditEvent:
        """Append a new event (details sorted, as Go's map iteration is not reproducible) and return it."""
        event = AuditEvent(
            id=self._id_factory(),
            timestamp_ns=now_ns,
            type=type_,
            user=user,
            client_ip=client_ip,
            resource=resource,
            action=action,
            result=result,
            node_id=self._node_id,
            details=None if details is None else tuple(sorted(details.items())),
            seq=next(self._seq),
        )
        self._events.append(event)
        return event

    def restore(self, event: AuditEvent) -> None:
        """Append an event read back from the data directory, keeping its id and timestamp."""
        self._events.append(event)

    def events(self) -> list[AuditEvent]:
        """A copy of every event in recording order, for persistence."""
        return list(self._events)

    def query(self, query: AuditQuery) -> tuple[list[AuditEvent], int, bool]:
        """(page, total matching, has_more). Negative limit/offset must be refused by the caller."""
        if query.limit < 0 or query.offset < 0:
            raise ValueError("negative limit or offset")
        limit = query.limit or DEFAULT_LIMIT
        matching = [e for e in self._events if query.matches(e)]
        matching.sort(key=lambda e: (e.timestamp_ns, e.seq), reverse=True)
        total = len(matching)
        start = min(query.offset, total)
        end = min(start + limit, total)
        return matching[start:end], total, end < total

    def export(self, query: AuditQuery, fmt: str) -> bytes:
        """CSV for ``csv``, indented JSON otherwise; limit/offset replaced by the default page."""
        page, _, _ = self.query(
            AuditQuery(
                start_time=query.start_time,
                end_time=query.end_time,
                event_types=query.event_types,
                user=query.user,
                resource=query.resource,
                result=query.result,
                search=query.search,
            )
        )
        if fmt == "csv":
            return _csv(page).encode("utf-8", "surrogateescape")
        if not page:
            return b"null"  # Go marshals the empty (nil) result slice as null
        docs = [
            {
                "id": e.id,
                "timestamp": rfc3339(e.timestamp_ns, nanos=True),
                "type": e.type,
                "user": e.user,
                "client_ip": e.client_ip,
                "resource": e.resource,
                "action": e.action,
                "result": e.result,
                "details": None if e.details is None else dict(e.details),
                "node_id": e.node_id,
            }
            for e in page
        ]
        return gojson.marshal(docs, "  ").encode("utf-8")


def rfc3339(ns: int, *, nanos: bool) -> str:
    """Go's time formats RFC3339 / RFC3339Nano for a UTC instant given in nanoseconds."""
    seconds, frac = divmod(ns, 1_000_000_000)
    moment = _dt.datetime(1970, 1, 1, tzinfo=_dt.timezone.utc) + _dt.timedelta(seconds=seconds)
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    if nanos and frac:
        text += "." + f"{frac:09d}".rstrip("0")
    return text + "Z"


def _csv_field(text: str) -> str:
    if text == "":
        return text
    if text == "\\." or any(c in text for c in ',"\r\n') or text[0].isspace():
        return '"' + text.replace('"', '""') + '"'
    return text


def _csv(events: Sequence[AuditEvent]) -> str:
    rows = [
        ["ID", "Timestamp", "Type", "User", "ClientIP", "Resource", "Action", "Result", "NodeID", "Details"]
    ]
    for e in events:
        details = gojson.marshal(None if e.details is None else dict(e.details))
        rows.append(
            [
                e.id,
                rfc3339(e.timestamp_ns, nanos=False),
                e.type,
                e.user,
                e.client_ip,
                e.resource,
                e.action,
                e.result,
                e.node_id,
                details,
            ]
        )
    return "".join(",".join(_csv_field(f) for f in row) + "\n" for row in rows)
