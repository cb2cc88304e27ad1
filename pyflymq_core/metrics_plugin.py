"""An example metrics plugin: request counts, errors and a latency histogram per opcode.

It uses only the public lifecycle hooks (:mod:`pyflymq_core.plugins.hookspecs`), so it doubles as the
reference for writing your own observer (Prometheus, StatsD, OpenTelemetry, ...).  Nothing observes
clients until a plugin is registered; then it sees the client's calls and the requests the
high-level producer and consumer pipeline themselves (see docs/observability.md for the exceptions).

Enable it for the whole process::

    from pyflymq_core.metrics_plugin import MetricsPlugin
    from pyflymq_core.plugins import get_plugin_manager

    metrics = MetricsPlugin()
    get_plugin_manager().register(metrics)
    ...
    print(metrics.snapshot()["ops"]["PRODUCE"])       # {"requests": .., "errors": .., ...}

or use :func:`pyflymq_core.observability.enable_metrics`, which does the same and returns it.
The plugin aggregates every client of the process and also keeps a breakdown per client
(:meth:`MetricsPlugin.for_client`); both are thread-safe.
"""

from __future__ import annotations

import bisect
import math
import threading
import weakref
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pyflymq_core.plugins import hookimpl
from pyflymq_core.protocol import OpCode

__all__ = ["DEFAULT_BUCKETS_MS", "LatencyHistogram", "MetricsPlugin", "OpStats", "format_ops", "op_label"]

#: Upper bounds (milliseconds) of the latency buckets; a last, unbounded bucket catches the rest.
#: Roughly logarithmic from 0.1 ms (a pipelined request on loopback) to 10 s (a stuck server).
DEFAULT_BUCKETS_MS: tuple[float, ...] = (
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    25.0,
    50.0,
    100.0,
    250.0,
    500.0,
    1000.0,
    2500.0,
    5000.0,
    10000.0,
)


def op_label(op: int) -> str:
    """The opcode's name (``"PRODUCE"``), or ``"0x.."`` for an opcode this version does not know."""
    try:
        return OpCode(op).name
    except ValueError:
        return f"0x{op:02X}"


@dataclass
class LatencyHistogram:
    """Bucketed latencies: cheap to record, mergeable, percentiles within one bucket's width.

    ``counts[i]`` counts samples <= ``bounds[i]`` ms (and above the previous bound); the extra last
    count is the overflow bucket.
    """

    bounds: tuple[float, ...] = DEFAULT_BUCKETS_MS
    counts: list[int] = field(default_factory=list)
    total: int = 0
    sum_ms: float = 0.0
    max_ms: float = 0.0

    def __post_init__(self) -> None:
        if not self.counts:
            self.counts = [0] * (len(self.bounds) + 1)

    def record(self, elapsed_ms: float) -> None:
        """Add one sample."""
        self.counts[bisect.bisect_left(self.bounds, elapsed_ms)] += 1
        self.total += 1
        self.sum_ms += elapsed_ms
        if elapsed_ms > self.max_ms:
            self.max_ms = elapsed_ms

    def percentile(self, q: float) -> float | None:
        """Upper bound (ms) of the bucket holding the ``q``-th percentile (0 < q <= 100), capped at
        the largest sample: an estimate that never under-reports.
        ``None`` without samples.
        """
        if not 0 < q <= 100:
            raise ValueError(f"percentile must be in (0, 100], got {q}")
        if self.total == 0:
            return None
        rank = math.ceil(self.total * q / 100.0)
        seen = 0
        for index, count in enumerate(self.counts):
            seen += count
            if seen >= rank:
                # Both the bucket's bound and the largest sample bound the true percentile.
                return min(self.bounds[index], self.max_ms) if index < len(self.bounds) else self.max_ms
        return self.max_ms  # pragma: no cover - counts always add up to total

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form: bucket bounds (``"+Inf"`` last), counts, count, sum, max, p50/p95/p99."""
        return {
            "buckets_ms": [*self.bounds, "+Inf"],
            "counts": list(self.counts),
            "count": self.total,
            "sum_ms": self.sum_ms,
            "max_ms": self.max_ms,
            "p50_ms": self.percentile(50),
            "p95_ms": self.percentile(95),
            "p99_ms": self.percentile(99),
        }


@dataclass
class OpStats:
    """Counters of one opcode: requests, failed requests by error type, latency histogram."""

    requests: int = 0
    errors: int = 0
    error_types: dict[str, int] = field(default_factory=dict)
    bytes_sent: int = 0
    latency: LatencyHistogram = field(default_factory=LatencyHistogram)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "requests": self.requests,
            "errors": self.errors,
            "error_types": dict(self.error_types),
            "bytes_sent": self.bytes_sent,
            "latency": self.latency.as_dict(),
        }


class _Stats:
    """Everything counted for one scope (the process, or one client)."""

    __slots__ = ("bounds", "closed", "connects", "ops")

    def __init__(self, bounds: tuple[float, ...] = DEFAULT_BUCKETS_MS) -> None:
        self.bounds = bounds
        self.ops: dict[str, OpStats] = {}
        self.connects = 0
        self.closed = 0

    def op(self, op: int) -> OpStats:
        label = op_label(op)
        stats = self.ops.get(label)
        if stats is None:
            stats = self.ops[label] = OpStats(latency=LatencyHistogram(self.bounds))
        return stats

    def as_dict(self) -> dict[str, Any]:
        ops = {label: stats.as_dict() for label, stats in sorted(self.ops.items())}
        return {
            "requests": sum(s.requests for s in self.ops.values()),
            "errors": sum(s.errors for s in self.ops.values()),
            "connects": self.connects,
            "clients_closed": self.closed,
            "ops": ops,
        }


class MetricsPlugin:
    """Counts requests, errors and latency per opcode, for every client of the process.

    Register it with ``get_plugin_manager().register(plugin)`` and read :meth:`snapshot` (all
    clients) or :meth:`for_client` (one client).  ``bytes_sent`` counts request payload bytes
    (before compression).  Nothing here touches payloads or credentials.
    """

    def __init__(self, buckets_ms: Iterable[float] = DEFAULT_BUCKETS_MS) -> None:
        bounds = tuple(float(b) for b in buckets_ms)
        if not bounds or list(bounds) != sorted(set(bounds)) or bounds[0] <= 0:
            raise ValueError("buckets_ms must be positive, strictly increasing and non-empty")
        self._bounds = bounds
        self._lock = threading.Lock()
        self._total = _Stats(bounds)
        # Per-client stats disappear with their client (no leak for short-lived clients).
        self._clients: weakref.WeakKeyDictionary[Any, _Stats] = weakref.WeakKeyDictionary()
        # before_request -> after_response: the payload size, per (client, op), FIFO.
        self._pending_sizes: dict[tuple[int, int], list[int]] = {}

    def _scopes(self, client: Any) -> tuple[_Stats, _Stats | None]:
        try:
            per_client = self._clients.get(client)
            if per_client is None:
                per_client = self._clients[client] = _Stats(self._bounds)
        except TypeError:  # an object that cannot be weakly referenced: count it globally only
            per_client = None
        return self._total, per_client

    # ------------------------------------------------------------------ hooks

    @hookimpl
    def pyflymq_client_connected(self, client: Any, server: str) -> None:
        """Count a (re)connection."""
        with self._lock:
            for scope in self._scopes(client):
                if scope is not None:
                    scope.connects += 1

    @hookimpl
    def pyflymq_client_closed(self, client: Any) -> None:
        """Count a closed client."""
        with self._lock:
            for scope in self._scopes(client):
                if scope is not None:
                    scope.closed += 1

    @hookimpl
    def pyflymq_before_request(self, client: Any, op: int, payload_size: int) -> None:
        """Remember the payload size until the answer arrives."""
        with self._lock:
            self._pending_sizes.setdefault((id(client), op), []).append(payload_size)

    @hookimpl
    def pyflymq_after_response(
        self, client: Any, op: int, resp_op: int | None, elapsed_s: float, error: BaseException | None
    ) -> None:
        """Count the request, its error (by exception type) and its latency."""
        elapsed_ms = elapsed_s * 1000.0
        with self._lock:
            sizes = self._pending_sizes.get((id(client), op))
            size = sizes.pop(0) if sizes else 0
            if sizes is not None and not sizes:
                del self._pending_sizes[(id(client), op)]
            for scope in self._scopes(client):
                if scope is None:
                    continue
                stats = scope.op(op)
                stats.requests += 1
                stats.bytes_sent += size
                stats.latency.record(elapsed_ms)
                if error is not None:
                    stats.errors += 1
                    name = type(error).__name__
                    stats.error_types[name] = stats.error_types.get(name, 0) + 1

    # ------------------------------------------------------------------ reading

    def snapshot(self) -> dict[str, Any]:
        """Totals for every client of the process: ``requests``, ``errors``, ``connects``,
        ``clients_closed`` and ``ops`` (opcode name -> :meth:`OpStats.as_dict`)."""
        with self._lock:
            return self._total.as_dict()

    def for_client(self, client: Any) -> dict[str, Any]:
        """The same as :meth:`snapshot`, for one client only (empty counters if it made no request)."""
        with self._lock:
            try:
                stats = self._clients.get(client)
            except TypeError:
                stats = None
            return (stats or _Stats(self._bounds)).as_dict()

    def op_stats(self, op: int | str) -> OpStats | None:
        """A copy of the process-wide counters of ``op`` (an opcode or its name), if any request was seen."""
        label = op if isinstance(op, str) else op_label(op)
        with self._lock:
            stats = self._total.ops.get(label)
            if stats is None:
                return None
            return OpStats(
                requests=stats.requests,
                errors=stats.errors,
                error_types=dict(stats.error_types),
                bytes_sent=stats.bytes_sent,
                latency=LatencyHistogram(
                    stats.latency.bounds,
                    list(stats.latency.counts),
                    stats.latency.total,
                    stats.latency.sum_ms,
                    stats.latency.max_ms,
                ),
            )

    def reset(self) -> None:
        """Forget every counter."""
        with self._lock:
            self._total = _Stats(self._bounds)
            self._clients = weakref.WeakKeyDictionary()
            self._pending_sizes.clear()

    def render_text(self) -> str:
        """A human-readable table of the process-wide counters (one line per opcode)."""
        return format_ops(self.snapshot()["ops"])


def format_ops(ops: Mapping[str, Mapping[str, Any]]) -> str:
    """``op requests errors p50 p95 p99 max`` lines for a snapshot's ``ops`` mapping."""

    def ms(value: Any) -> str:
        return "-" if value is None else f"{float(value):.2f}"

    lines = [
        f"{'op':<22} {'requests':>9} {'errors':>7} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'max ms':>9}"
    ]
    for label, stats in ops.items():
        latency = stats["latency"]
        lines.append(
            f"{label:<22} {stats['requests']:>9} {stats['errors']:>7} {ms(latency['p50_ms']):>8} "
            f"{ms(latency['p95_ms']):>8} {ms(latency['p99_ms']):>8} {ms(latency['max_ms']):>9}"
        )
    return "\n".join(lines)
