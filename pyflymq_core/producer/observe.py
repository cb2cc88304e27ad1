"""The producers' PRODUCE requests seen by the client's counters and lifecycle hooks.

A producer writes its frames itself (many per write) instead of going through the client's request
path, so it reports them to the client's
:class:`~pyflymq_core.client.observer.RequestObserver`: a metrics or tracing plugin implementing
``pyflymq_before_request`` / ``pyflymq_after_response`` sees every record's attempt exactly as it
sees a ``client.produce()``, and ``client.metrics()`` counts them.  When no plugin implements a
lifecycle hook (``client.observer.active`` is false) nothing is allocated: the counters are
bumped once per write/batch.  Shared by the sync and asyncio producers.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any, Protocol

from pyflymq_core.client import calls
from pyflymq_core.client.calls import Call
from pyflymq_core.client.observer import RequestObserver
from pyflymq_core.errors import FlyMQError
from pyflymq_core.producer.policy import answer_error
from pyflymq_core.protocol import HEADER_SIZE, Frame, OpCode

__all__ = ["Observed", "observe_answers", "observe_failures", "observe_writes", "record_outcomes"]

_PRODUCE_OP = int(OpCode.PRODUCE)

#: Per record written while hooks are active: the observation start time and the call reported.
Observed = list[tuple[float, Call[Any]]]


class _Record(Protocol):
    """What both producers' record futures offer."""

    topic: str
    key: bytes
    _frame: bytes


def observe_writes(observer: RequestObserver, batches: Sequence[Sequence[_Record]]) -> Observed | None:
    """The records of ``batches`` are about to be written: count them; call
    ``pyflymq_before_request`` for each when a plugin listens (then returns what
    :func:`observe_answers` needs, in record order, else ``None``)."""
    if not observer.active:
        observer.sent(sum(map(len, batches)))
        return None
    spec = calls.PRODUCE
    observed: Observed = []
    for batch in batches:
        for record in batch:
            payload = record._frame[HEADER_SIZE:]
            call: Call[Any] = Call(spec, payload, record.topic, None, None, record.key or None)
            observed.append((observer.start(call), call))
    return observed


def observe_answers(
    observer: RequestObserver,
    observed: Observed,
    outcomes: Iterable[tuple[Frame | None, BaseException | None]],
) -> None:
    """Report each written record's answer ``(frame, error)`` — ``frame`` ``None`` when none came —
    to ``pyflymq_after_response`` (and count the errors)."""
    end = observer.end
    for (started, call), (frame, error) in zip(observed, outcomes, strict=False):
        end(started, call, frame, error)


def observe_failures(observer: RequestObserver, count: int) -> None:
    """Count ``count`` failed attempts of records that were not observed one by one."""
    if count:
        observer.failed(count)


def record_outcomes(
    records: Sequence[_Record], answers: Sequence[Frame], lost: FlyMQError | None
) -> Iterator[tuple[Frame | None, FlyMQError | None]]:
    """A settled batch's ``(answer frame, error)`` per record, for :func:`observe_answers`: the
    answered prefix as the server answered (an acknowledgement, or the error it stands for), then
    ``lost`` — why no answer came — for the rest."""
    for frame, record in zip(answers, records, strict=False):
        if frame[0] == _PRODUCE_OP:
            yield frame, None
        else:
            yield frame, answer_error(frame[0], frame[1], frame[2], record.topic)
    for _ in records[len(answers) :]:
        yield None, lost
