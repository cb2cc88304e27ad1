"""The producers' PRODUCE requests seen by the client's counters and lifecycle hooks.

A producer writes its frames itself (many per write) instead of going through the client's request
path, so it reports them through the client's own observation methods
(``ClientBase._observe_start`` / ``_observe_end``): a metrics or tracing plugin implementing
``pyflymq_before_request`` / ``pyflymq_after_response`` sees every record's attempt exactly as it
sees a ``client.produce()``, and ``client.metrics()`` counts them.  When no plugin implements a
lifecycle hook (the client's ``_lifecycle.active`` is false) nothing is allocated: the counters are
bumped once per write/batch.  Shared by the sync and asyncio producers.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Protocol

from pyflymq_core.client import calls
from pyflymq_core.client.calls import Call
from pyflymq_core.protocol import HEADER_SIZE, Frame

__all__ = ["Observed", "observe_answers", "observe_failures", "observe_writes"]

#: Per record written while hooks are active: the observation start time and the call reported.
Observed = list[tuple[float, Call[Any]]]


class _Record(Protocol):
    """What both producers' record futures offer."""

    topic: str
    key: bytes
    _frame: bytes


def observe_writes(client: Any, batches: Sequence[Sequence[_Record]]) -> Observed | None:
    """The records of ``batches`` are about to be written: count them; call
    ``pyflymq_before_request`` for each when a plugin listens (then returns what
    :func:`observe_answers` needs, in record order, else ``None``)."""
    if not client._lifecycle.active:
        client._requests += sum(map(len, batches))
        return None
    spec = calls.PRODUCE
    observed: Observed = []
    for batch in batches:
        for record in batch:
            payload = record._frame[HEADER_SIZE:]
            call: Call[Any] = Call(spec, payload, record.topic, None, None, record.key or None)
            observed.append((client._observe_start(call), call))
    return observed


def observe_answers(
    client: Any, observed: Observed, outcomes: Iterable[tuple[Frame | None, BaseException | None]]
) -> None:
    """Report each written record's answer ``(frame, error)`` — ``frame`` ``None`` when none came —
    to ``pyflymq_after_response`` (and count the errors)."""
    for (started, call), (frame, error) in zip(observed, outcomes, strict=False):
        client._observe_end(started, call, frame, error)


def observe_failures(client: Any, count: int) -> None:
    """Count ``count`` failed attempts of records that were not observed one by one."""
    if count:
        client._errors += count
