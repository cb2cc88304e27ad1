"""Delayed delivery (PRODUCE_DELAYED with the feature on): messages held in memory until due.

Due messages are written as keyless produces (round-robin partition, auto-create) by
:meth:`DelayedQueue.due`; the broker calls it from ``tick()`` and before every request. Nothing
survives a restart and nothing can be cancelled (CANCEL_DELAYED is not dispatched), as on the
server.
"""

from __future__ import annotations

import heapq
import itertools
from dataclasses import dataclass, field

from pyflymq_broker.errors import BrokerError

__all__ = ["DelayedMessage", "DelayedQueue", "go_duration"]


def go_duration(ns: int) -> str:
    """Go's ``time.Duration.String()`` (e.g. ``24h0m0.001s``, ``1.5ms``, ``0s``)."""
    if ns == 0:
        return "0s"
    sign = "-" if ns < 0 else ""
    u = abs(ns)
    if u < 1_000_000_000:
        for unit, size in (("ms", 1_000_000), ("µs", 1_000), ("ns", 1)):
            if u >= size or unit == "ns":
                return sign + _fraction(u, size) + unit
    hours, rem = divmod(u, 3_600_000_000_000)
    minutes, rem = divmod(rem, 60_000_000_000)
    seconds = _fraction(rem, 1_000_000_000) + "s"
    if hours:
        return f"{sign}{hours}h{minutes}m{seconds}"
    if minutes:
        return f"{sign}{minutes}m{seconds}"
    return sign + seconds


def _fraction(value: int, unit: int) -> str:
    whole, frac = divmod(value, unit)
    if not frac:
        return str(whole)
    digits = len(str(unit)) - 1
    return f"{whole}.{frac:0{digits}d}".rstrip("0")


@dataclass(order=True)
class DelayedMessage:
    """A value waiting for its due time; ordered by (due, seq) so equal due times keep FIFO order."""

    due: float
    seq: int
    topic: str = field(compare=False)
    data: bytes = field(compare=False)


class DelayedQueue:
    """A due-time ordered queue of pending delayed messages."""

    def __init__(self, max_delay_seconds: int) -> None:
        self._max_delay_ns = max_delay_seconds * 1_000_000_000
        self._heap: list[DelayedMessage] = []
        self._seq = itertools.count()

    def schedule(self, topic: str, data: bytes, delay_ms: int, now: float) -> None:
        """Queue ``data`` for ``topic`` after ``delay_ms``; a delay over the configured maximum
        is refused with the server's text.
        """
        delay_ns = delay_ms * 1_000_000
        if delay_ns > self._max_delay_ns:
            limit = go_duration(self._max_delay_ns)
            raise BrokerError(f"delay {go_duration(delay_ns)} exceeds maximum allowed delay {limit}")
        due = now + max(delay_ms, 0) / 1000.0
        heapq.heappush(self._heap, DelayedMessage(due, next(self._seq), topic, data))

    def due(self, now: float) -> list[DelayedMessage]:
        """Remove and return every message due at ``now``, in due order."""
        out: list[DelayedMessage] = []
        while self._heap and self._heap[0].due <= now:
            out.append(heapq.heappop(self._heap))
        return out

    def requeue(self, message: DelayedMessage, retry_at: float) -> None:
        """A failed delivery is retried later (the server retries every second)."""
        heapq.heappush(self._heap, DelayedMessage(retry_at, next(self._seq), message.topic, message.data))

    def next_due(self) -> float | None:
        """When the next message is due, or ``None``: lets a server sleep until then."""
        return self._heap[0].due if self._heap else None

    def __len__(self) -> int:
        return len(self._heap)
