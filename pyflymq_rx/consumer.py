"""``ReactiveConsumer``: a FlyMQ topic as a hot ``reactivex`` Observable of messages.

::

    consumer = ReactiveConsumer(client, "my-topic", "my-group")
    consumer.messages().pipe(ops.filter(...), ops.map(...)).subscribe(on_next=...)
    consumer.start()
    ...
    consumer.stop()          # on_completed to every subscriber

How it runs: ``start()`` starts two daemon threads.

* **fetch** runs an asyncio loop with an :class:`~pyflymq_core.aio.consumer.AsyncConsumer` on an
  asyncio client of its own (opened from ``client``'s configuration and current credentials, see
  :mod:`pyflymq_rx._clients`) and puts what it polls into a bounded buffer;
* **emit** takes messages from the buffer and calls ``on_next`` of the subscribers — so observers are
  called from one thread, one notification at a time (the Rx contract), and a slow observer meets the
  buffer's policy: ``backpressure="block"`` (default: fetching waits), ``"drop_oldest"`` or
  ``"error"``, with ``buffer_size`` messages at most (see :mod:`pyflymq_rx.backpressure`).

Errors (a failed start, a server error that is not a lost connection, a ``BufferFullError`` under
``"error"``, an exception raised by an observer) go to ``on_error`` after the messages already
buffered, and end the stream; a connection lost while running only pauses fetching (it reconnects
and resumes).  ``stop()`` ends the stream with ``on_completed``.  Offsets committed (every
``auto_commit_interval_ms`` and at stop) are those of messages *delivered* to the observers:
whatever is still buffered at stop is read again by the group's next consumer (at-least-once).
``wait_ready()`` waits until partitions are assigned (messages produced after that are delivered
whatever ``auto_offset_reset`` says).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from types import TracebackType
from typing import Any

import reactivex
from reactivex import Observable, abc
from reactivex.subject import Subject

from pyflymq_core.aio.consumer import AsyncConsumer
from pyflymq_core.client.async_client import AsyncFlyMQClient
from pyflymq_core.errors import ConnectionError, FlyMQError
from pyflymq_core.models import ConsumedMessage
from pyflymq_rx._delivery import Delivery
from pyflymq_rx.backpressure import DEFAULT_BUFFER_SIZE, EMPTY, END, Backpressure, ThreadBuffer

__all__ = ["ReactiveConsumer"]

logger = logging.getLogger("pyflymq.rx")

_NOT_STARTED, _RUNNING, _STOPPED = "not started", "running", "stopped"
#: How often the emitter looks for a subscriber while the stream has none.
_SUBSCRIBER_POLL_S = 0.01


class _Guarded(abc.ObserverBase[ConsumedMessage]):
    """A subscriber as the stream calls it: its ``on_error`` / ``on_completed`` may raise (rx's
    default ``on_error`` re-raises when none was given) without keeping the other subscribers from
    hearing the end of the stream."""

    def __init__(self, observer: abc.ObserverBase[ConsumedMessage]) -> None:
        self._observer = observer

    def on_next(self, value: ConsumedMessage) -> None:
        self._observer.on_next(value)  # an exception here ends the stream (see _emit_main)

    def on_error(self, error: Exception) -> None:
        try:
            self._observer.on_error(error)
        except Exception:
            logger.exception("a subscriber of the reactive consumer raised from on_error")

    def on_completed(self) -> None:
        try:
            self._observer.on_completed()
        except Exception:
            logger.exception("a subscriber of the reactive consumer raised from on_completed")


class ReactiveConsumer:
    """Messages of ``topic`` (a name or a list) for ``group_id`` as an Observable.

    Options: ``buffer_size`` (default 1000), ``backpressure`` (``"block"``), ``poll_timeout_ms``
    (500), and any :class:`~pyflymq_core.config.ConsumerConfig` option.
    """

    def __init__(
        self,
        client: Any,
        topic: str | list[str],
        group_id: str | None = None,
        *,
        buffer_size: int = DEFAULT_BUFFER_SIZE,
        backpressure: Backpressure | str = Backpressure.BLOCK,
        poll_timeout_ms: int = 500,
        **consumer_options: Any,
    ) -> None:
        self._given = client
        self._topics = topic
        self._delivery = Delivery(group_id, poll_timeout_ms, consumer_options)
        self._subject: Subject[ConsumedMessage] = Subject()
        self._observable: Observable[ConsumedMessage] = reactivex.create(self._subscribe)
        self._buffer: ThreadBuffer[ConsumedMessage] = ThreadBuffer(
            buffer_size, backpressure, on_space=self._space_freed
        )
        self._state = _NOT_STARTED
        self._lock = threading.Lock()
        self._ready = threading.Event()
        self._startup_error: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._space: asyncio.Event | None = None
        self._quit: asyncio.Event | None = None
        self._fetch_thread: threading.Thread | None = None
        self._emit_thread: threading.Thread | None = None
        self._completed = False
        #: Set (under the lock) when the emit thread has handed out its last notification.
        self._emitter_done = False
        #: Set by stop() when it could not wait for the emitter: the emitter then completes the
        #: stream itself, after the on_next in progress returns.
        self._emitter_completes = False
        self.error: BaseException | None = None

    # ------------------------------------------------------------------ public API

    def messages(self) -> Observable[ConsumedMessage]:
        """The hot Observable of messages (every subscriber sees what is emitted after it
        subscribed).  While nobody is subscribed, nothing is emitted: messages wait in the buffer
        (its backpressure applies), so none is counted as delivered, or committed, unseen."""
        return self._observable

    def _subscribe(
        self, observer: abc.ObserverBase[ConsumedMessage], scheduler: abc.SchedulerBase | None = None
    ) -> abc.DisposableBase:
        return self._subject.subscribe(_Guarded(observer), scheduler=scheduler)

    @property
    def running(self) -> bool:
        """Between ``start()`` and ``stop()`` (or the stream's error)."""
        return self._state == _RUNNING and self.error is None

    @property
    def dropped(self) -> int:
        """Messages discarded by ``backpressure="drop_oldest"``."""
        return self._buffer.dropped

    @property
    def buffered(self) -> int:
        """Messages fetched and waiting for the subscriber (at most ``buffer_size``)."""
        return len(self._buffer)

    def start(self) -> ReactiveConsumer:
        """Start fetching and emitting (returns at once; see :meth:`wait_ready`)."""
        with self._lock:
            if self._state == _RUNNING:
                return self
            if self._state == _STOPPED:
                raise ConnectionError("the reactive consumer was stopped", hint="Create a new one.")
            self._state = _RUNNING
        self._fetch_thread = threading.Thread(target=self._fetch_main, name="pyflymq-rx-fetch", daemon=True)
        self._emit_thread = threading.Thread(target=self._emit_main, name="pyflymq-rx-emit", daemon=True)
        self._fetch_thread.start()
        self._emit_thread.start()
        return self

    def wait_ready(self, timeout: float | None = None) -> bool:
        """Wait until partitions are assigned; ``False`` on timeout; raises what made startup fail."""
        if not self._ready.wait(timeout):
            return False
        if self._startup_error is not None:
            raise self._startup_error
        return True

    def stop(self, timeout: float | None = 30.0) -> None:
        """Stop: undelivered buffered messages are dropped (not committed), delivered ones are
        committed, the connection is closed, and subscribers get ``on_completed`` (idempotent)."""
        with self._lock:
            previous, self._state = self._state, _STOPPED
        if previous == _NOT_STARTED:
            self._complete()
            return
        self._buffer.finish(discard=True)
        current = threading.current_thread()
        deadline = None if timeout is None else time.monotonic() + timeout
        emitter = self._emit_thread
        if emitter is not None and emitter is not current:
            emitter.join(_remaining(deadline))
        self._request_quit()
        fetcher = self._fetch_thread
        if fetcher is not None and fetcher is not current:
            fetcher.join(_remaining(deadline))
            if fetcher.is_alive():
                logger.warning("the reactive consumer's fetch thread did not stop within %s s", timeout)
        if self.error is not None:
            return
        # on_completed comes after the final commit (the fetcher was joined above), so a subscriber
        # may take it as "offsets stored" -- but never alongside an on_next still running: then
        # (stop(timeout) expired, or stop() called from inside on_next) the emitter delivers it.
        with self._lock:
            now = emitter is None or (emitter is not current and self._emitter_done)
            if not now:
                self._emitter_completes = True
        if now:
            self._complete()
        elif emitter is not current:
            logger.warning(
                "stop(): a subscriber's on_next is still running after %s s; on_completed follows "
                "when it returns",
                timeout,
            )

    def __enter__(self) -> ReactiveConsumer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"<ReactiveConsumer {self._topics!r} group={self._delivery.config.group_id!r} {self._state}>"

    # ------------------------------------------------------------------ emit thread

    def _complete(self) -> None:
        with self._lock:
            if self._completed:
                return
            self._completed = True
        self._subject.on_completed()

    def _emit_main(self) -> None:
        buffer = self._buffer
        subject = self._subject
        delivery = self._delivery
        while True:
            try:
                item = buffer.get()
            except BaseException as exc:  # the stream's error, after what was buffered
                self._fail(exc)
                return
            if item is END:
                break
            if item is EMPTY:
                continue
            assert isinstance(item, ConsumedMessage)
            if not subject.observers and not self._await_subscriber():
                break
            try:
                subject.on_next(item)
            except Exception as exc:
                logger.exception("a subscriber of the reactive consumer raised; ending the stream")
                self._fail(exc)
                return
            delivery.record(item)
        with self._lock:
            self._emitter_done = True
            complete = self._emitter_completes
        if complete and self.error is None:
            self._complete()  # stop() could not wait for the last on_next: completion follows it

    def _await_subscriber(self) -> bool:
        """Hold the stream while nobody is subscribed; ``False`` once stopped, or once the fetcher
        failed meanwhile (the stream then ends with its error; the message held is not delivered)."""
        while not self._subject.observers:
            if self._state != _RUNNING:
                return False
            error = self._buffer.pending_error
            if error is not None:
                self._fail(error)
                return False
            time.sleep(_SUBSCRIBER_POLL_S)
        return True

    def _fail(self, error: BaseException) -> None:
        """End the stream with ``error`` (on the emit thread): on_error, then shut the fetcher down."""
        with self._lock:
            if self._completed:
                return
            self._completed = True
        self.error = error
        self._buffer.finish(discard=True)
        self._request_quit()
        self._subject.on_error(error if isinstance(error, Exception) else RuntimeError(repr(error)))

    # ------------------------------------------------------------------ fetch thread

    def _space_freed(self) -> None:
        loop, space = self._loop, self._space
        if loop is not None and space is not None:
            try:
                loop.call_soon_threadsafe(space.set)
            except RuntimeError:  # the loop already ended
                logger.debug("space freed after the fetch loop ended")

    def _request_quit(self) -> None:
        loop, quit_event = self._loop, self._quit
        if loop is not None and quit_event is not None:
            try:
                loop.call_soon_threadsafe(quit_event.set)
            except RuntimeError:
                logger.debug("quit requested after the fetch loop ended")

    def _fetch_main(self) -> None:
        try:
            asyncio.run(self._fetch())
        except BaseException as exc:
            if not self._ready.is_set():
                self._startup_error = exc
            self._buffer.finish(exc)
        finally:
            if not self._ready.is_set():
                if self._startup_error is None:
                    self._startup_error = ConnectionError("the reactive consumer stopped before it was ready")
                self._ready.set()

    async def _fetch(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._space = asyncio.Event()
        self._quit = quit_event = asyncio.Event()
        if self._state != _RUNNING:
            return
        client: AsyncFlyMQClient | None = None
        owned = False
        consumer: AsyncConsumer | None = None
        try:
            client, owned, consumer = await self._delivery.open(self._given, self._topics)
            self._ready.set()
            fetching = asyncio.ensure_future(self._fetch_loop(consumer))
            quitting = asyncio.ensure_future(quit_event.wait())
            await asyncio.wait([fetching, quitting], return_when=asyncio.FIRST_COMPLETED)
            if fetching.done() and not fetching.cancelled() and fetching.exception() is not None:
                # The stream's error: the emitter delivers what is buffered, then on_error, then asks
                # us to quit; the final commit waits for those deliveries.
                error = fetching.exception()
                assert error is not None
                if not isinstance(error, FlyMQError):
                    logger.error("the reactive consumer's fetch loop failed", exc_info=error)
                self._buffer.finish(error)
                await quitting
            for task in (fetching, quitting):
                task.cancel()
            await asyncio.wait([fetching, quitting])
        finally:
            try:
                if consumer is not None:
                    await self._final_commit(consumer)
            finally:
                if consumer is not None:
                    await consumer.close()
                if owned and client is not None:
                    await client.close()

    async def _fetch_loop(self, consumer: AsyncConsumer) -> None:
        buffer = self._buffer
        space = self._space
        assert space is not None
        delivery = self._delivery
        while True:
            records = await consumer.poll(delivery.poll_timeout_ms)
            for record in records:
                while not buffer.offer(record):  # "block": wait for the emitter to take one
                    space.clear()
                    if buffer.offer(record):
                        break
                    # ... but no longer than the next auto-commit: a slow subscriber must not hold
                    # back the commits of what it already received
                    with contextlib.suppress(asyncio.TimeoutError):
                        await asyncio.wait_for(space.wait(), delivery.until_commit())
                    if delivery.commit_due():
                        await delivery.commit(consumer)
            if delivery.commit_due():
                await delivery.commit(consumer)

    async def _final_commit(self, consumer: AsyncConsumer) -> None:
        """Commit what was delivered as the stream ends; a failure is logged, not raised: this runs
        on the fetch thread, where no caller could catch it."""
        try:
            await self._delivery.commit(consumer)
        except FlyMQError as exc:
            logger.warning("final commit of the reactive consumer failed: %s", exc)


def _remaining(deadline: float | None) -> float | None:
    return None if deadline is None else max(0.0, deadline - time.monotonic())
