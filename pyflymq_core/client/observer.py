"""How a client's requests are counted and shown to the lifecycle hooks — in one place.

Every request a client sends goes through its :class:`RequestObserver`: the client's own calls
(the authentication probe, AUTH and keep-alives included) and the frames the producers and
consumers write themselves, many per write.  So ``client.metrics()`` counts the same whichever path
a request took, and a plugin implementing ``pyflymq_before_request`` / ``pyflymq_after_response``
sees each of them once.

Hot paths that skip the hooks when no plugin listens (:attr:`RequestObserver.active` is false)
still count through :meth:`~RequestObserver.sent` and :meth:`~RequestObserver.failed`, so the
counting rule lives here and nowhere else.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, TypeVar

from pyflymq_core.client.calls import Call, complete
from pyflymq_core.errors import FlyMQError
from pyflymq_core.protocol import Frame

if TYPE_CHECKING:
    from pyflymq_core.plugins.manager import Lifecycle

__all__ = ["RequestObserver"]

T = TypeVar("T")

_monotonic = time.monotonic


class RequestObserver:
    """The request counters of one client and its door to the lifecycle hooks."""

    __slots__ = ("_client", "_lifecycle", "errors", "requests")

    def __init__(self, client: Any, lifecycle: Lifecycle) -> None:
        self._client = client
        self._lifecycle = lifecycle
        #: Requests sent (each attempt counts).
        self.requests = 0
        #: Requests that failed: an error answer, a lost connection, a timeout.
        self.errors = 0

    @property
    def active(self) -> bool:
        """Whether a plugin listens to requests; when not, callers may count with :meth:`sent`
        and :meth:`failed` instead of observing each request."""
        return self._lifecycle.active

    def sent(self, count: int = 1) -> None:
        """Count requests written without observing them one by one."""
        self.requests += count

    def failed(self, count: int = 1) -> None:
        """Count failed requests that were not observed one by one."""
        self.errors += count

    def start(self, call: Call[Any]) -> float:
        """Count a request about to be sent and tell the hooks; returns what :meth:`end` needs
        (the start time, ``0.0`` when nobody listens)."""
        self.requests += 1
        lifecycle = self._lifecycle
        if not lifecycle.active:
            return 0.0
        lifecycle.before_request(self._client, call.op, len(call.payload))
        return _monotonic()

    def end(self, started: float, call: Call[Any], frame: Frame | None, error: BaseException | None) -> None:
        """A request started with :meth:`start` ended with ``frame`` (``None`` when no answer came)
        or ``error``: count a failure, tell the hooks."""
        if error is not None:
            self.errors += 1
        if started:
            self._lifecycle.after_response(
                self._client, call.op, None if frame is None else frame[0], _monotonic() - started, error
            )

    def completed(self, started: float, call: Call[T], frame: Frame) -> T:
        """The result of a request whose answer ``frame`` arrived — the server's error raised —
        after telling :meth:`end`."""
        try:
            result = complete(call, frame)
        except FlyMQError as exc:
            self.end(started, call, frame, exc)
            raise
        if started:
            self.end(started, call, frame, None)
        return result
