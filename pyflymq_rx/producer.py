"""``ReactiveProducer``: an operator that produces each value of an Observable to a topic and emits
its :class:`~pyflymq_core.models.RecordMetadata`.

::

    producer = ReactiveProducer(client, "my-topic")
    rx.of(b"msg1", b"msg2").pipe(producer.publish()).subscribe(on_next=lambda r: print(r.offset))

Each value (``bytes`` or ``str``; or a ``(key, value)`` pair, or any value with ``key=`` a function
of it) is produced with the client's full policy (validation, routing, retries of what is safe to
retry).  Metadata is emitted in the order of the values.  A failed produce goes to ``on_error`` and
ends the stream (the Rx contract), with the upstream subscription disposed.

Backpressure: ``publish()`` produces synchronously on the thread that emits the value, so a fast
source is slowed to the server's pace — nothing is queued.  ``publish(max_in_flight=N)`` pipelines
up to ``N`` records through the high-level producer (still bounded: the emitting thread waits for the
oldest acknowledgement when ``N`` are unanswered); metadata is still emitted in order.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import reactivex
from reactivex import Observable, abc
from reactivex import operators as ops
from reactivex.disposable import CompositeDisposable, Disposable, SingleAssignmentDisposable

from pyflymq_core.errors import ConfigurationError, FlyMQError, InvalidArgumentError
from pyflymq_core.models import RecordMetadata

if TYPE_CHECKING:
    from pyflymq_core.producer import RecordFuture

__all__ = ["ReactiveProducer"]

logger = logging.getLogger("pyflymq.rx")

KeyFunction = Callable[[Any], "bytes | str | None"]


class ReactiveProducer:
    """Produces the values of an Observable to ``topic`` through a sync :class:`FlyMQClient`."""

    def __init__(self, client: Any, topic: str) -> None:
        from pyflymq_core.client.sync_client import FlyMQClient

        if not isinstance(client, FlyMQClient):
            raise ConfigurationError(
                f"ReactiveProducer needs a FlyMQClient, got {type(client).__name__}",
                hint="Pass the client returned by pyflymq.connect(...).",
            )
        self._client = client
        self.topic = topic
        self.published = 0

    def _record(self, value: Any, key: KeyFunction | None) -> tuple[Any, Any]:
        if key is not None:
            return key(value), value
        if isinstance(value, tuple):
            if len(value) != 2:
                raise InvalidArgumentError(
                    f"a tuple value must be a (key, value) pair, got {len(value)} items",
                    hint="Emit bytes/str values, (key, value) pairs, or pass publish(key=function).",
                )
            return value[0], value[1]
        return None, value

    def produce(self, value: Any, key: KeyFunction | None = None) -> RecordMetadata:
        """Produce one value now (what ``publish()`` does for each value)."""
        record_key, record_value = self._record(value, key)
        metadata = self._client.produce(self.topic, record_value, record_key)
        self.published += 1
        return metadata

    def publish(
        self, key: KeyFunction | None = None, *, max_in_flight: int = 1
    ) -> Callable[[Observable[Any]], Observable[RecordMetadata]]:
        """The operator: ``source.pipe(producer.publish())`` emits one RecordMetadata per value.

        ``max_in_flight=1`` (default) produces each value synchronously; ``N > 1`` sends through a
        high-level :class:`~pyflymq_core.producer.Producer` (created per subscription, closed when
        the stream ends) with at most ``N`` records unacknowledged, emitting in order.
        """
        if isinstance(max_in_flight, bool) or not isinstance(max_in_flight, int) or max_in_flight < 1:
            raise ConfigurationError(f"max_in_flight must be an int >= 1, got {max_in_flight!r}")
        if max_in_flight == 1:

            def operator(source: Observable[Any]) -> Observable[RecordMetadata]:
                return source.pipe(ops.map(lambda value: self.produce(value, key)))

            return operator
        return self._pipelined(key, max_in_flight)

    def _pipelined(
        self, key: KeyFunction | None, window: int
    ) -> Callable[[Observable[Any]], Observable[RecordMetadata]]:
        owner = self

        def operator(source: Observable[Any]) -> Observable[RecordMetadata]:
            def subscribe(
                observer: abc.ObserverBase[RecordMetadata], scheduler: abc.SchedulerBase | None = None
            ) -> abc.DisposableBase:
                from pyflymq_core.producer import Producer

                producer = Producer(owner._client)
                pending: deque[RecordFuture] = deque()
                lock = threading.RLock()  # re-entered when on_error disposes the subscription
                timeout_ms = owner._client.config.request_timeout_ms * 2
                state = {"stopped": False}
                upstream = SingleAssignmentDisposable()

                def shut(abandon: bool) -> None:
                    # Even when abandoning, give what is in flight its answer (bounded) rather than
                    # leave the producer's threads waiting.
                    try:
                        producer.close(owner._client.config.request_timeout if abandon else None)
                    except FlyMQError as exc:
                        if not abandon:
                            raise
                        logger.debug("publish(): closing the producer of an ended stream: %s", exc)

                def take_oldest() -> RecordMetadata:
                    # Left in place until acknowledged: a failure stays first, so report_written
                    # stops at it instead of reporting later records past a gap.
                    metadata = pending[0].get(timeout_ms)
                    pending.popleft()
                    owner.published += 1
                    return metadata

                def settle_oldest() -> None:
                    observer.on_next(take_oldest())

                def report_written() -> None:
                    # What the default mode would have emitted before the error: the records
                    # already written, in order (up to the first that failed), so the caller knows
                    # what not to send again.  shut() gave every record in flight its answer.
                    while pending and pending[0].succeeded():
                        metadata = pending.popleft().metadata
                        assert metadata is not None
                        owner.published += 1
                        observer.on_next(metadata)
                    pending.clear()

                def fail(error: Exception) -> None:
                    state["stopped"] = True
                    upstream.dispose()
                    shut(abandon=True)
                    report_written()
                    observer.on_error(error)

                def on_next(value: Any) -> None:
                    with lock:
                        if state["stopped"]:
                            return
                        try:
                            record_key, record_value = owner._record(value, key)
                            pending.append(producer.send(owner.topic, record_value, record_key))
                            ready = [take_oldest() for _ in range(len(pending) - window + 1)]
                        except Exception as exc:  # a bad value, a key function's error, a refusal
                            fail(exc)
                            return
                        # Outside the try: an exception of the downstream observer's own on_next
                        # propagates to the source, as with the default publish() (ops.map).
                        for metadata in ready:
                            observer.on_next(metadata)

                def on_completed() -> None:
                    with lock:
                        if state["stopped"]:
                            return
                        state["stopped"] = True
                        try:
                            while pending:
                                settle_oldest()
                            shut(abandon=False)
                        except FlyMQError as exc:
                            state["stopped"] = False
                            fail(exc)
                            return
                    observer.on_completed()

                def on_error(error: Exception) -> None:
                    with lock:
                        state["stopped"] = True
                        shut(abandon=True)
                        report_written()
                    observer.on_error(error)

                def dispose() -> None:
                    with lock:
                        if state["stopped"]:
                            return
                        state["stopped"] = True
                        pending.clear()
                    shut(abandon=True)

                upstream.disposable = source.subscribe(on_next, on_error, on_completed, scheduler=scheduler)
                return CompositeDisposable(upstream, Disposable(dispose))

            return reactivex.create(subscribe)

        return operator
