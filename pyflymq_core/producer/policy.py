"""The producer's decisions and wording, shared by the sync and asyncio producers (no I/O, no locks).

Both producers run the same protocol on different machinery (threads vs. one event loop).  What a
failure means for a record — retry it, or end it with which error — and how every failure is worded
live here once, so the two cannot drift apart:

* :class:`RetryRule`: retried only when the record was provably not written (``NotSentError``,
  ``not leader``) — or, with ``retry_unacknowledged``, also when its answer was lost (at-least-once;
  the server has no deduplication, so that can store it twice) — and attempts remain.  A lost
  answer that is not retried fails with an error saying the record may or may not be stored.
  A retry never goes to the address a ``not leader`` answer names (FlyMQ 1.26 names a partition's
  leader by its cluster (Raft) address): keyless records go back to the bootstrap node, whose
  round-robin moves on, and keyed records are routed again from fresh metadata — which refuses a
  leader known only by its cluster address with ``LeaderAddressUnknownError`` before sending.
  Refusals by a node's round-robin (``not partition leader``) get :data:`ROUND_ROBIN_RETRIES`
  attempts on top of ``max_retries``: in a multi-node cluster each pipelined round writes only the
  records whose turn falls on a partition the node leads, so draining a batch takes several rounds
  (about log1.5 of its size for three nodes), none of which is a failure.
* :func:`answer_error`: what an answer other than a PRODUCE acknowledgement means.
* :func:`split_batches`: how queued records are cut into batches (by ``batch_size`` bytes and
  ``max_batch_messages``).
* The errors of ``flush()``/``close()``/``send()``: :func:`delivery_error`,
  :func:`flush_timeout_error`, :func:`abandon_errors`, :func:`close_timeout_error`,
  :func:`record_too_large_error`, :func:`buffer_full_error`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, MutableSequence, Sequence
from operator import attrgetter
from typing import Any, Protocol, TypeVar

from pyflymq_core.client.connection import NotSentError
from pyflymq_core.error_mapping import error_from_server
from pyflymq_core.errors import (
    BufferFullError,
    ConnectionError,
    DeliveryError,
    FlyMQError,
    InvalidArgumentError,
    NotLeaderError,
    ProducerClosedError,
    ProtocolError,
    TimeoutError,
)
from pyflymq_core.protocol import OpCode, decode_error_payload

logger = logging.getLogger("pyflymq.producer")

__all__ = [
    "ROUND_ROBIN_RETRIES",
    "RetryRule",
    "abandon_errors",
    "answer_error",
    "buffer_full_error",
    "close_timeout_error",
    "delivery_error",
    "flush_timeout_error",
    "frames_bytes",
    "record_too_large_error",
    "split_batches",
]


class _Framed(Protocol):
    """A queued record: its encoded request frame (both producers' record futures)."""

    _frame: bytes


class _Invalidates(Protocol):
    """The client's metadata cache (only ``invalidate`` is needed)."""

    def invalidate(self, topic: str | None = None) -> None: ...


R = TypeVar("R", bound=_Framed)

#: Extra attempts for records a node's round-robin refused (``not partition leader``): enough for a
#: 1,000-record batch on a 3-node cluster (each round writes a third of what is left), bounded so a
#: node that leads nothing still ends the records.
ROUND_ROBIN_RETRIES = 32

_frame_of = attrgetter("_frame")
_PRODUCE_OP = int(OpCode.PRODUCE)
_ERROR_OP = int(OpCode.ERROR)


class _Attempted(Protocol):
    """A queued record: its frame and how often it was written (both producers' record futures)."""

    _frame: bytes
    _attempts: int


A = TypeVar("A", bound=_Attempted)


class RetryRule:
    """The retry decisions of one producer (its ``max_retries``, ``retry_unacknowledged`` and the
    client's metadata cache bound once)."""

    __slots__ = ("max_retries", "metadata", "retry_unacknowledged")

    def __init__(self, *, max_retries: int, retry_unacknowledged: bool, metadata: _Invalidates) -> None:
        self.max_retries = max_retries
        self.retry_unacknowledged = retry_unacknowledged
        self.metadata = metadata

    def decide(
        self, error: FlyMQError, topic: str, attempts: int, shown: dict[int, FlyMQError] | None = None
    ) -> FlyMQError | None:
        """``None`` when the record must be retried, else the error that ends it.

        ``attempts`` is how often the record was written so far.  Retried: a record provably not
        written (``NotSentError``, ``not leader`` — which also drops the topic's cached metadata,
        so the retry is routed from fresh metadata; a keyless one goes back to the bootstrap node,
        whose round-robin moves on), and with ``retry_unacknowledged`` one whose answer
        was lost, while attempts remain (:data:`ROUND_ROBIN_RETRIES` more after a ``not
        partition leader``).  A lost answer that is not retried ends the record with an
        error saying it may or may not have been written.  ``shown`` caches that wrapper per
        original error (a lost connection fails a whole batch with one error: one wrapper for all).
        """
        allowed = self.max_retries
        if isinstance(error, NotLeaderError):
            if not error.retriable:  # LeaderAddressUnknownError: the same layout refuses it again
                return error
            self.metadata.invalidate(topic)
            if error.partition_leader:  # the node's round-robin: another round may land
                allowed += ROUND_ROBIN_RETRIES
        not_written = isinstance(error, (NotSentError, NotLeaderError))
        unknown = not not_written and isinstance(error, (ConnectionError, TimeoutError))
        if (not_written or (unknown and self.retry_unacknowledged)) and attempts <= allowed:
            return None
        if not unknown:
            return error
        wrapped = shown.get(id(error)) if shown is not None else None
        if wrapped is None:
            advice = (
                f"it was retried {attempts - 1} times"
                if self.retry_unacknowledged
                else "it was not re-sent (at-most-once; retry_unacknowledged=True re-sends such records, "
                "which may duplicate them)"
            )
            wrapped = type(error)(
                f"the record to {topic!r} may or may not have been written: {error}; {advice}",
                hint="Check the topic before producing the record again.",
            )
            wrapped.__cause__ = error
            if shown is not None:
                shown[id(error)] = wrapped
        return wrapped

    def no_server(
        self,
        error: FlyMQError,
        queues: Sequence[MutableSequence[A]],
        *,
        backoff_s: float,
        client_closed: bool,
    ) -> tuple[list[A], NotSentError]:
        """No server could be reached: every queued record used up one attempt (none was written).

        Removes from ``queues`` (in place, order kept) the records out of attempts and returns them
        with the error to fail them with.  A closed client is not a passing outage: every queued
        record fails at once instead of waiting out its retries.
        """
        if client_closed:
            give_up = [record for queue in queues for record in queue]
            for queue in queues:
                queue.clear()
            logger.error("producer: its client was closed; %d queued record(s) failed unsent", len(give_up))
            return give_up, NotSentError(
                "the record was not sent: the producer's client is closed",
                hint="Close (or flush) the producer before its client; create a new client to send again.",
            )
        logger.warning("producer: no connection to FlyMQ (%s); retrying in %g s", error, backoff_s)
        give_up = []
        for queue in queues:
            keep: list[A] = []
            for record in queue:
                record._attempts += 1
                (give_up if record._attempts > self.max_retries else keep).append(record)
            if len(keep) != len(queue):
                queue.clear()
                queue.extend(keep)
        failure = NotSentError(
            f"the record was not sent: no FlyMQ server could be reached after {self.max_retries + 1} "
            f"attempts ({error})",
            hint=error.hint,
        )
        failure.__cause__ = error
        return give_up, failure


def answer_error(op: int, flags: int, payload: bytes, topic: str) -> FlyMQError:
    """The error an answer other than a PRODUCE acknowledgement stands for: the server's error
    mapped to its type, or a ``ProtocolError`` for an opcode that does not answer PRODUCE."""
    if op == _ERROR_OP:
        text = decode_error_payload(flags, payload)["message"]
        return error_from_server(text, op=_PRODUCE_OP, topic=topic)
    return ProtocolError(f"response opcode 0x{op:02x} does not answer PRODUCE; the connection is out of step")


def frames_bytes(records: Iterable[_Framed]) -> int:
    """The bytes of queued records' frames, summed in C-level passes (the buffer accounting of
    both producers runs it over every batch taken or put back)."""
    return sum(map(len, map(_frame_of, records)))


def split_batches(
    records: Iterable[R], batch_size: int, max_messages: int, max_batches: int | None = None
) -> list[list[R]]:
    """Cut records (in order) into batches: a batch closes at ``max_messages`` records, or when the
    next record would take it past ``batch_size`` bytes (a batch always holds at least one).

    With ``max_batches``, stop once that many batches are complete: the records after them are
    left to the caller (the batches hold the first ``sum(map(len, batches))`` records)."""
    batches: list[list[R]] = []
    current: list[R] = []
    size = 0
    for record in records:
        n = len(record._frame)
        if current and (len(current) >= max_messages or size + n > batch_size):
            batches.append(current)
            if len(batches) == max_batches:
                return batches
            current = []
            size = 0
        current.append(record)
        size += n
    if current:
        batches.append(current)
    return batches


def delivery_error(failures: Sequence[Any], dropped: int, what: str) -> DeliveryError:
    """``flush()``/``close()``: records failed that no ``on_error`` callback or future consumer saw.

    ``failures`` are the record futures (their ``exception()`` is the cause); ``dropped`` counts
    failures beyond the ones kept.
    """
    first = failures[0].exception() if failures else None
    error = DeliveryError(
        f"{len(failures) + dropped} record(s) failed before {what}() and no on_error callback or "
        "future reported them"
        + (f"; first error: {type(first).__name__}: {first}" if first is not None else ""),
        futures=list(failures),
    )
    if first is not None:
        error.__cause__ = first
    return error


def flush_timeout_error(what: str, timeout: float | None, queued: int, in_flight: int) -> TimeoutError:
    """``flush()``/``close()`` ran out of time; the records stay queued."""
    return TimeoutError(
        f"{what}() timed out after {timeout:g} s: {queued} record(s) not sent yet and {in_flight} "
        "waiting for the server's acknowledgement",
        hint="They are still being sent; call flush() again or raise the timeout.",
    )


def abandon_errors(
    reason: str = "close timeout", hint: str | None = None
) -> tuple[ProducerClosedError, TimeoutError]:
    """The producer stopped with records left (``close()`` timed out, or ``reason``): the errors of
    records not yet written / written but not answered."""
    return (
        ProducerClosedError(f"the producer was closed ({reason}) before the record was sent", hint=hint),
        TimeoutError(
            f"the producer was closed ({reason}) before the server acknowledged the record; "
            "it may or may not have been written",
            hint=hint,
        ),
    )


def close_timeout_error(not_sent: int, unanswered: int, cause: BaseException) -> TimeoutError:
    """What ``close()`` raises after abandoning records."""
    error = TimeoutError(
        f"close() timed out: {not_sent} record(s) were not sent and {unanswered} were awaiting the "
        "server's answer (outcome unknown); their futures have failed",
        hint="Give close() more time, or flush() before closing.",
    )
    error.__cause__ = cause
    return error


def record_too_large_error(size: int, buffer_memory: int) -> InvalidArgumentError:
    """``send()`` of a record that could never fit the buffer (raised at once, not after waiting)."""
    return InvalidArgumentError(
        f"record of {size} bytes is larger than the producer's buffer_memory ({buffer_memory})",
        hint="Raise buffer_memory in ProducerConfig, or send smaller records.",
    )


def buffer_full_error(
    buffered: int, buffer_memory: int, max_block_ms: float, incomplete: int
) -> BufferFullError:
    """``send()`` waited ``max_block_ms`` for buffer space in vain."""
    return BufferFullError(
        f"the producer's buffer stayed full for max_block_ms={max_block_ms:g} ms ({buffered} of "
        f"{buffer_memory} bytes in {incomplete} records waiting for the server)",
    )
