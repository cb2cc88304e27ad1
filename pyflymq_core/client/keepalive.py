"""Idle keep-alive: the FlyMQ server silently closes a connection that sent no frame for 5 minutes
(SEMANTICS_NOTES #9) and has no ping opcode, so an idle connection gets a cheap LIST_TOPICS (no
authentication needed) after ``keepalive_interval_ms``.

The timer is a daemon thread that holds only a weak reference to its client: a client that is
dropped without ``close()`` can still be garbage-collected, and the thread then ends on its own.
If a keep-alive fails the connection is closed and the next call reconnects transparently.
"""

from __future__ import annotations

import logging
import threading
import weakref
from typing import Protocol

__all__ = ["KeepAlive", "KeepAliveTarget"]

logger = logging.getLogger("pyflymq.client")


class KeepAliveTarget(Protocol):
    """What the timer needs from a client."""

    def _keepalive_tick(self, idle_after: float) -> None: ...


class KeepAlive:
    """Calls ``target._keepalive_tick(interval)`` about every ``interval / 2`` seconds."""

    def __init__(self, target: KeepAliveTarget, interval: float, *, name: str = "pyflymq-keepalive") -> None:
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=_run, args=(weakref.ref(target), interval, self._stop), name=name, daemon=True
        )
        # Wake the thread as soon as the target is collected, not at its next tick.
        weakref.finalize(target, self._stop.set)

    def start(self) -> None:
        """Start the timer thread."""
        self._thread.start()

    def stop(self) -> None:
        """Stop the timer (idempotent; does not wait for a tick in progress)."""
        self._stop.set()

    @property
    def alive(self) -> bool:
        """Whether the timer thread is running."""
        return self._thread.is_alive()


def _run(ref: weakref.ref[KeepAliveTarget], interval: float, stop: threading.Event) -> None:
    period = max(0.05, interval / 2.0)
    while not stop.wait(period):
        target = ref()
        if target is None:
            return
        try:
            target._keepalive_tick(interval)
        except Exception:
            logger.warning("keep-alive tick failed; the next call will reconnect if needed", exc_info=True)
        finally:
            del target
