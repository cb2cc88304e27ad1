"""``AsyncProducer``: the asyncio high-level producer (``producer = client.producer(...)``).

The semantics of the sync :class:`pyflymq_core.producer.Producer` (see its module and
docs/producer.md), on one event loop instead of threads; records are encoded by the same
:class:`~pyflymq_core.producer.encoding.RecordEncoder` and failures use the same error types:

* ``fut = await producer.send(topic, value, key=..., on_success=..., on_error=...)`` validates and
  encodes the record at once (invalid arguments raise there), queues it and returns an
  :class:`AsyncRecordFuture` — an :class:`asyncio.Future` of its
  :class:`~pyflymq_core.models.RecordMetadata` (``await fut``, ``await fut.get(timeout_ms=...)``).
  ``send`` waits only while the buffer is full.
* **Batches**: FlyMQ has no batch-produce opcode, so a batch is many PRODUCE frames in one write.
  One sender task takes queued records in batches of at most ``batch_size`` bytes and
  ``max_batch_messages`` records, lingers up to ``linger_ms`` for a batch to fill, keeps at most
  ``max_in_flight`` batches unanswered per connection, and writes all the batches it may send in one
  write.  The connection's reader hands every answer to its batch, which settles all its records
  at once when the last answer is in (no task wake-up, no future of the connection per record).
* **Retries and ordering**: a record provably not written (dead connection before the write, no
  server reachable, ``not leader``) is retried up to ``max_retries`` times; a record whose answer was
  lost (connection dropped or request timed out after the write) may or may not have been written,
  so it fails saying so — unless ``retry_unacknowledged=True`` (at-least-once: possible duplicates).
  On a retry the producer stops sending new records until every in-flight batch has settled, waits
  ``retry_backoff_ms``, and sends the retried records first, in their original order.
* **Bounded buffer** (``buffer_memory`` bytes of queued and unanswered frames): ``send`` waits up to
  ``max_block_ms`` for room, then raises :class:`~pyflymq_core.errors.BufferFullError`.
* ``await flush(timeout)`` waits for every record sent before it; ``await close(timeout)`` flushes and
  stops — on timeout, unsent records fail with :class:`ProducerClosedError`, unanswered ones with
  :class:`~pyflymq_core.errors.TimeoutError` (outcome unknown) and ``close`` raises with the counts.
  Both raise :class:`DeliveryError` for failures nobody observed (no ``on_error``, future never
  awaited or inspected), so a fire-and-forget loop cannot lose records silently.
* ``acks`` is accepted for compatibility: the server acknowledges after its local append.

As in the sync producer, an acknowledgement is decoded into a :class:`RecordMetadata` only when
someone asks for it (awaiting the future, ``result()``, a done callback, ``on_success``): a
fire-and-forget loop never pays for decoding.  Callbacks run once each on the event loop; their
exceptions are logged, never propagated into the producer.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable, Generator
from contextvars import Context
from types import TracebackType
from typing import TYPE_CHECKING, Any

from pyflymq_core import validation as v
from pyflymq_core.client import calls
from pyflymq_core.client.calls import Call, complete
from pyflymq_core.config import ProducerConfig
from pyflymq_core.errors import (
    ConnectionError,
    DeliveryError,
    FlyMQError,
    LeaderAddressUnknownError,
    ProducerClosedError,
    TimeoutError,
)
from pyflymq_core.models import RecordMetadata
from pyflymq_core.producer.encoding import encoder_for
from pyflymq_core.producer.observe import (
    Observed,
    observe_answers,
    observe_failures,
    observe_writes,
    record_outcomes,
)
from pyflymq_core.producer.policy import (
    abandon_errors,
    buffer_full_error,
    close_timeout_error,
    delivery_error,
    flush_timeout_error,
    frames_bytes,
    record_too_large_error,
    split_batches,
)
from pyflymq_core.producer.producer import build_producer_config, retry_rule
from pyflymq_core.producer.serialize import serializer_for
from pyflymq_core.protocol import Frame

if TYPE_CHECKING:
    from pyflymq_core.client.async_client import AsyncFlyMQClient
    from pyflymq_core.client.async_connection import AsyncConnection, Entry

__all__ = ["AsyncProducer", "AsyncRecordFuture", "DeliveryError", "ProducerClosedError"]

logger = logging.getLogger("pyflymq.producer")

SuccessCallback = Callable[[RecordMetadata], Any]
ErrorCallback = Callable[[Exception], Any]

#: Failures kept for flush()/close() to report when nothing else did (the rest are only counted).
MAX_UNREPORTED = 10_000

_monotonic = time.monotonic
_PRODUCE_OP = calls.PRODUCE.op
_PRODUCE_ANSWER = calls.PRODUCE.resp_op
_future_done = asyncio.Future.done
_future_set_result = asyncio.Future.set_result
_future_set_exception = asyncio.Future.set_exception


class AsyncRecordFuture(asyncio.Future[RecordMetadata]):
    """The outcome of one ``send()``: ``await`` it for the :class:`RecordMetadata`.

    An :class:`asyncio.Future` (``asyncio.gather``/``wait``/``wait_for`` take it as is).  It is also
    the producer's record (its frame, attempts and callbacks live here), it holds a successful
    answer undecoded until someone looks at it, and it remembers whether anyone did — awaited,
    ``result()``/``exception()``, a done callback — so ``flush()`` can report failures nobody saw
    (:class:`DeliveryError`).  ``topic``/``key`` describe the record.
    """

    # No __init__ of its own (a Python-level __init__ doubles the cost of creating one): the producer
    # fills the slots right after construction.
    __slots__ = (
        "_answer",
        "_attempts",
        "_call",
        "_frame",
        "_observed",
        "_on_error",
        "_on_success",
        "_seq",
        "_settled",
        "key",
        "topic",
    )

    _answer: Frame | None  # a successful answer not decoded yet (the future is then done)
    _attempts: int
    _call: Call[RecordMetadata]
    _frame: bytes
    _observed: bool
    _on_error: ErrorCallback | None
    _on_success: SuccessCallback | None
    _seq: int
    _settled: bool
    #: The record's topic.
    topic: str
    #: The record's key bytes (``b""`` for a keyless record).
    key: bytes

    def _materialise(self) -> None:
        """Decode a held answer into the future's result (once)."""
        answer = self._answer
        if answer is not None:
            self._answer = None
            _future_set_result(self, complete(self._call, answer))

    def done(self) -> bool:
        return self._answer is not None or _future_done(self)

    def __await__(self) -> Generator[Any, None, RecordMetadata]:
        self._observed = True
        self._materialise()
        return super().__await__()

    __iter__ = __await__

    def result(self) -> RecordMetadata:
        self._observed = True
        self._materialise()
        return super().result()

    def exception(self) -> BaseException | None:
        self._observed = True
        self._materialise()
        return super().exception()

    def add_done_callback(
        self, fn: Callable[[AsyncRecordFuture], object], /, *, context: Context | None = None
    ) -> None:
        self._observed = True
        self._materialise()
        super().add_done_callback(fn, context=context)

    def cancel(self, msg: Any | None = None) -> bool:
        self._observed = True
        if self._answer is not None:
            return False
        return super().cancel(msg)

    def succeeded(self) -> bool:
        """Whether the server acknowledged the record."""
        return self._answer is not None or (
            _future_done(self) and not self.cancelled() and super().exception() is None
        )

    def failed(self) -> bool:
        """Whether the record failed for good (see :meth:`exception`)."""
        return (
            self._answer is None
            and _future_done(self)
            and not self.cancelled()
            and super().exception() is not None
        )

    async def get(self, timeout_ms: float | None = None) -> RecordMetadata:
        """The record's metadata, waiting up to ``timeout_ms`` (the sync ``future.get`` spelling).

        :class:`~pyflymq_core.errors.TimeoutError` when still pending after ``timeout_ms``; the record
        stays queued (waiting again is fine).
        """
        self._observed = True
        if timeout_ms is None or self.done():
            return await self
        try:
            return await asyncio.wait_for(asyncio.shield(self), max(timeout_ms, 0) / 1000.0)
        except asyncio.TimeoutError:
            raise TimeoutError(
                f"record to {self.topic!r} not acknowledged within {timeout_ms} ms; it is still queued "
                "or in flight",
                hint="Wait again, call producer.flush(), or raise the timeout.",
            ) from None

    def __repr__(self) -> str:
        self._materialise()
        return super().__repr__()


class _Batch:
    """Records written together to one connection; the FIFO entry (response sink) of all of them.

    The connection's reader hands it each answer in order; with the last one the batch settles every
    record at once.  The in-flight window counts batches.  ``observed``: what the lifecycle hooks
    were told at the write (``None`` when nobody listens).
    """

    __slots__ = ("answers", "conn", "finished", "observed", "producer", "records")

    def __init__(
        self,
        producer: AsyncProducer,
        conn: AsyncConnection,
        records: list[AsyncRecordFuture],
        observed: Observed | None,
    ) -> None:
        self.producer = producer
        self.conn = conn
        self.records = records
        self.observed = observed
        self.answers: list[Frame] = []
        self.finished = False

    # -- the ResponseSink protocol of AsyncConnection -----------------------------------------------

    def done(self) -> bool:
        return self.finished

    def set_result(self, frame: Frame) -> None:
        answers = self.answers
        answers.append(frame)
        if len(answers) == len(self.records):
            self.producer._batch_answered(self, None)

    def set_exception(self, exception: BaseException) -> None:
        if not self.finished:
            error = exception if isinstance(exception, FlyMQError) else ConnectionError(str(exception))
            self.producer._batch_answered(self, error)


class AsyncProducer:
    """The asyncio high-level producer: ``client.producer(...)`` (any :class:`ProducerConfig` option
    as a keyword, or ``config=``; ``retry_unacknowledged=True`` for at-least-once; ``serializer=``
    / ``key_serializer=`` to send objects, as in the sync producer)."""

    def __init__(
        self,
        client: AsyncFlyMQClient,
        config: ProducerConfig | None = None,
        *,
        serializer: Any = None,
        key_serializer: Any = None,
        **options: Any,
    ) -> None:
        v.open_client(client, "AsyncProducer")
        self._callbacks = v.CallbackGate("the event loop")
        self._client = client
        cfg = self._config = build_producer_config(config, options)
        self._serialize = serializer_for(serializer, "value")
        self._serialize_key = serializer_for(key_serializer, "key")
        self._rule = retry_rule(cfg, client)
        self._encode = encoder_for(client).encode
        self._linger = cfg.linger_ms / 1000.0
        self._batch_bytes = cfg.batch_size
        self._batch_messages = cfg.max_batch_messages
        self._max_in_flight = cfg.max_in_flight
        self._backoff = cfg.retry_backoff_ms / 1000.0
        self._buffer_memory = cfg.buffer_memory
        self._max_block = cfg.max_block_ms / 1000.0
        self._calls: dict[str, Call[RecordMetadata]] = {}  # topic -> the Call that parses its answers
        self._queue: deque[AsyncRecordFuture] = deque()
        self._queued_bytes = 0
        self._first_queued_at = 0.0
        self._retry: list[AsyncRecordFuture] = []
        self._recovering = False
        self._retry_at = 0.0
        self._in_flight: dict[AsyncConnection, set[_Batch]] = {}
        self._in_flight_batches = 0
        self._order: deque[AsyncRecordFuture] = deque()  # unsettled records in send order (lazily trimmed)
        self._seq = 0
        self._buffered = 0
        self._incomplete = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._sender: asyncio.Task[None] | None = None
        self._wakeup: asyncio.Future[None] | None = None
        self._lingering = False
        self._space_waiters: deque[asyncio.Future[None]] = deque()
        self._flush_waiters: list[tuple[int, asyncio.Future[None]]] = []
        self._flushing = 0
        self._closed = False
        self._unreported: list[AsyncRecordFuture] = []
        self._unreported_dropped = 0
        self._last_failure_log = -1.0e9
        self._failures_not_logged = 0
        self._acknowledged = 0
        self._failed = 0
        self._retried = 0
        self._writes = 0
        self._batches_sent = 0

    # ================================================================== sending

    @property
    def config(self) -> ProducerConfig:
        """The configuration this producer runs with."""
        return self._config

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._closed

    def __len__(self) -> int:
        """Records sent but not yet acknowledged or failed."""
        return self._incomplete

    async def send(
        self,
        topic: str,
        value: Any,
        key: Any = None,
        on_success: SuccessCallback | None = None,
        on_error: ErrorCallback | None = None,
        *,
        partition: int | None = None,
    ) -> AsyncRecordFuture:
        """Queue one record; returns its :class:`AsyncRecordFuture` (``await`` it for the metadata).

        ``value``/``key``: bytes or str, or objects for the producer's ``serializer`` /
        ``key_serializer`` (:class:`~pyflymq_core.errors.SerializationError` here when it cannot
        serialize them; nothing is queued).  Waits only while the buffer is full (up to
        ``max_block_ms``, then :class:`BufferFullError`).  Invalid arguments raise at once, like
        ``client.produce``; so does ``partition=``, which the server cannot honour (use a key).
        """
        if partition is not None:
            raise v.partition_refused("send")
        if self._closed:
            raise ProducerClosedError("the producer is closed; the record was not sent")
        if on_success is not None or on_error is not None:
            self._callbacks.check(on_success, on_error)
        if self._serialize is not None:
            value = self._serialize(value, topic)
        if key is not None and self._serialize_key is not None:
            key = self._serialize_key(key, topic)
        name, key_bytes, frame = self._encode(topic, key, value)
        size = len(frame)
        if self._buffered + size > self._buffer_memory:
            await self._wait_for_space(size)
        loop = self._loop
        if loop is None:
            loop = self._loop = asyncio.get_running_loop()
        call = self._calls.get(name)
        if call is None:
            call = self._calls[name] = Call(calls.PRODUCE, b"", name)
        if key_bytes and not self._client._metadata.standalone:
            call = Call(calls.PRODUCE, b"", name, None, None, key_bytes)  # cluster routing needs the key
        record = AsyncRecordFuture(loop=loop)
        record.topic = name
        record.key = key_bytes
        record._call = call
        record._frame = frame
        record._answer = None
        record._observed = False
        record._settled = False
        record._attempts = 0
        record._on_success = on_success
        record._on_error = on_error
        self._seq = record._seq = self._seq + 1
        queue = self._queue
        if not queue:
            self._first_queued_at = _monotonic()
        queue.append(record)
        self._order.append(record)
        self._queued_bytes += size
        self._buffered += size
        self._incomplete += 1
        if self._sender is None:
            self._sender = loop.create_task(self._run(), name="pyflymq-async-producer")
        elif self._wakeup is not None and (not self._lingering or self._batch_full()):
            self._wake()
        return record

    # ================================================================== flush / close

    async def flush(self, timeout: float | None = None) -> None:
        """Wait until every record sent before this call is acknowledged or failed.

        ``timeout`` in seconds: :class:`TimeoutError` naming how many records are still queued / in
        flight when it expires (they stay queued).  :class:`DeliveryError` when records failed that
        no ``on_error`` callback or awaiting code has seen.
        """
        await self._flush(timeout, "flush")

    def _oldest_unsettled(self) -> int | None:
        order = self._order
        while order and order[0]._settled:
            order.popleft()
        return order[0]._seq if order else None

    async def _flush(self, timeout: float | None, what: str) -> None:
        upto = self._seq
        oldest = self._oldest_unsettled()
        if oldest is not None and oldest <= upto:
            waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._flush_waiters.append((upto, waiter))
            self._flushing += 1
            self._wake()
            try:
                await asyncio.wait_for(waiter, timeout)
            except asyncio.TimeoutError:
                queued = len(self._queue) + len(self._retry)
                raise flush_timeout_error(what, timeout, queued, self._incomplete - queued) from None
            finally:
                self._flushing -= 1
                self._flush_waiters = [(s, w) for s, w in self._flush_waiters if w is not waiter]
        self._raise_unreported(upto, what)

    def _raise_unreported(self, upto: int | None, what: str) -> None:
        found = [r for r in self._unreported if not r._observed and (upto is None or r._seq <= upto)]
        if upto is None:
            self._unreported = []
        else:
            self._unreported = [r for r in self._unreported if r._seq > upto and not r._observed]
        dropped, self._unreported_dropped = self._unreported_dropped, 0
        if not found and not dropped:
            return
        for record in found:
            record.exception()  # reported by the DeliveryError (no "never retrieved" log either)
        raise delivery_error(found, dropped, what)

    async def close(self, timeout: float | None = None) -> None:
        """Flush, then stop the sender (idempotent).  The client stays open.

        If ``timeout`` (seconds) expires first, records not yet sent fail with
        :class:`ProducerClosedError`, records awaiting an answer with :class:`TimeoutError` (outcome
        unknown), and ``TimeoutError`` is raised with the counts.  Raises :class:`DeliveryError` like
        :meth:`flush`.
        """
        if self._closed:
            return
        self._closed = True
        pending_error: FlyMQError | None = None
        try:
            await self._flush(timeout, "close")
        except TimeoutError as exc:
            pending_error = close_timeout_error(*self._abandon(*abandon_errors()), exc)
        except DeliveryError as exc:
            pending_error = exc
        finally:
            for waiter in self._space_waiters:
                if not waiter.done():
                    waiter.set_result(None)
            sender, self._sender = self._sender, None
            if sender is not None and not sender.done():
                sender.cancel()
                await asyncio.wait([sender])
        if pending_error is not None:
            raise pending_error

    def _abandon(self, not_sent: FlyMQError, unknown: FlyMQError) -> tuple[int, int]:
        """``close()`` timed out, or the sender was cancelled: fail everything still queued (with
        ``not_sent``) or in flight (with ``unknown``); returns how many of each."""
        queued = sorted([*self._retry, *self._queue], key=lambda r: r._seq)
        self._retry.clear()
        self._queue.clear()
        self._queued_bytes = 0
        for record in queued:
            self._give_up(record, not_sent, report=False)
        batches = [b for batches in self._in_flight.values() for b in batches]
        self._in_flight.clear()
        self._in_flight_batches = 0
        count = 0
        for batch in batches:
            batch.finished = True  # late answers are then dropped by the connection
            before = count
            for record in batch.records:
                if not record._settled:
                    self._give_up(record, unknown, report=False)
                    count += 1
            self._observe(batch, unknown, count - before)
        return len(queued), count

    async def __aenter__(self) -> AsyncProducer:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            await self.close()
            return
        try:
            await self.close()
        except FlyMQError as close_error:  # do not hide the exception already propagating
            logger.error("closing the producer after %s failed: %s", exc_type.__name__, close_error)

    # ================================================================== introspection

    def metrics(self) -> dict[str, int]:
        """Counters: records queued / incomplete / acknowledged / failed / retried, bytes buffered,
        batches and writes sent, batches in flight (the sync producer's keys)."""
        return {
            "queued": len(self._queue) + len(self._retry),
            "incomplete": self._incomplete,
            "acknowledged": self._acknowledged,
            "failed": self._failed,
            "retried": self._retried,
            "buffered_bytes": self._buffered,
            "batches_sent": self._batches_sent,
            "writes": self._writes,
            "in_flight_batches": self._in_flight_batches,
        }

    def __repr__(self) -> str:
        state = "closed" if self._closed else f"{self._incomplete} incomplete"
        return f"<AsyncProducer {state}>"

    # ================================================================== buffer and wake-ups

    async def _wait_for_space(self, size: int) -> None:
        if size > self._buffer_memory:
            raise record_too_large_error(size, self._buffer_memory)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._max_block
        while self._buffered + size > self._buffer_memory:
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise buffer_full_error(
                    self._buffered, self._buffer_memory, self._config.max_block_ms, self._incomplete
                )
            waiter: asyncio.Future[None] = loop.create_future()
            self._space_waiters.append(waiter)
            try:
                await asyncio.wait_for(waiter, remaining)
            except asyncio.TimeoutError:
                continue
            finally:
                if waiter in self._space_waiters:
                    self._space_waiters.remove(waiter)
            if self._closed:
                raise ProducerClosedError("the producer was closed while send() waited for buffer space")

    def _wake(self) -> None:
        wakeup = self._wakeup
        if wakeup is not None and not wakeup.done():
            wakeup.set_result(None)

    def _released(self, count: int, size: int) -> None:
        """``count`` records of ``size`` frame bytes are final: free their room, wake who waits."""
        self._buffered -= size
        self._incomplete -= count
        waiters = self._space_waiters
        while waiters:
            waiter = waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
        if self._flush_waiters:
            oldest = self._oldest_unsettled()
            for upto, waiter in self._flush_waiters:
                if (oldest is None or oldest > upto) and not waiter.done():
                    waiter.set_result(None)

    # ================================================================== outcomes (on the reader)

    def _batch_answered(self, batch: _Batch, error: FlyMQError | None) -> None:
        """Every answer of ``batch`` is in (``error`` is None), or the connection failed after
        ``len(batch.answers)`` of them: settle the records."""
        batch.finished = True
        window = self._in_flight.get(batch.conn)
        if window is not None:
            window.discard(batch)
            if not window and batch.conn.closed:
                del self._in_flight[batch.conn]
        self._in_flight_batches -= 1
        records = batch.records
        answers = batch.answers
        failures: list[tuple[AsyncRecordFuture, FlyMQError]] = []
        done_count = 0
        done_size = 0
        for record, answer in zip(records, answers, strict=False):
            if answer[0] == _PRODUCE_ANSWER and not (record._observed or record._on_success is not None):
                # Fire-and-forget: keep the answer undecoded; the future reports done().
                record._answer = answer
            else:
                try:
                    metadata = complete(record._call, answer)
                except FlyMQError as exc:
                    failures.append((record, exc))
                    continue
                if not _future_done(record):
                    _future_set_result(record, metadata)
                callback = record._on_success
                if callback is not None:
                    try:
                        callback(metadata)
                    except Exception:
                        logger.exception("producer callback %r raised", callback)
            record._settled = True
            done_count += 1
            done_size += len(record._frame)
        self._acknowledged += done_count
        if error is not None:
            failures.extend((record, error) for record in records[len(answers) :])
        self._observe(batch, error, len(failures))
        shown: dict[int, FlyMQError] = {}  # a lost connection fails the batch with one error: one wrapper
        for record, failure in failures:
            self._record_failed(record, failure, shown)
        self._released(done_count, done_size)
        self._wake()

    def _observe(self, batch: _Batch, error: FlyMQError | None, failures: int) -> None:
        """Report a settled batch's answers to the client's counters and lifecycle hooks."""
        observer = self._client.observer
        if batch.observed is None:
            observe_failures(observer, failures)
            return
        observe_answers(observer, batch.observed, record_outcomes(batch.records, batch.answers, error))

    def _record_failed(
        self, record: AsyncRecordFuture, error: FlyMQError, shown: dict[int, FlyMQError]
    ) -> None:
        """Retry ``record`` or fail it, by the producers' shared rule (:class:`policy.RetryRule`)."""
        final = self._rule.decide(error, record.topic, record._attempts, shown)
        if final is None:
            self._retried += 1
            self._retry.append(record)
            if not self._recovering:
                self._recovering = True
                self._retry_at = _monotonic() + self._backoff
                logger.warning("producer: retrying after %s: %s", type(error).__name__, error)
            self._wake()
            return
        self._log_failure(record, final)
        self._give_up(record, final)

    def _log_failure(self, record: AsyncRecordFuture, error: FlyMQError) -> None:
        """One WARNING per second at most (a lost connection fails many records at once)."""
        now = _monotonic()
        if now - self._last_failure_log < 1.0:
            self._failures_not_logged += 1
            return
        more = self._failures_not_logged
        self._last_failure_log, self._failures_not_logged = now, 0
        logger.warning(
            "producer: a record to %r failed after %d attempt(s): %s: %s%s",
            record.topic,
            record._attempts,
            type(error).__name__,
            error,
            f" ({more} more record(s) failed since the previous report)" if more else "",
        )

    def _give_up(self, record: AsyncRecordFuture, error: FlyMQError, *, report: bool = True) -> None:
        record._settled = True
        self._failed += 1
        if not _future_done(record):
            _future_set_exception(record, error)
        callback = record._on_error
        if callback is not None:
            record.exception()  # handled by the callback (and no "never retrieved" log at collection)
            try:
                callback(error)
            except Exception:
                logger.exception("producer callback %r raised", callback)
        elif not report:
            record.exception()  # reported in bulk by the caller (close()'s error, the never-closed log)
        elif not record._observed:
            if len(self._unreported) < MAX_UNREPORTED:
                self._unreported.append(record)
            else:
                self._unreported_dropped += 1
        self._released(1, len(record._frame))

    # ================================================================== the sender task

    async def _wait_wakeup(self, timeout: float | None = None) -> None:
        wakeup = self._wakeup = asyncio.get_running_loop().create_future()
        try:
            if timeout is None:
                await wakeup
            else:
                await asyncio.wait_for(wakeup, timeout)
        except asyncio.TimeoutError:
            logger.debug("sender woke up on its timer")  # a bounded wait: deadlines are re-checked
        finally:
            self._wakeup = None

    async def _run(self) -> None:
        try:
            while True:
                await self._step()
        except asyncio.CancelledError:
            if not self._closed:
                self._cancelled_unclosed()
            raise
        except Exception as exc:
            logger.exception("the producer's sender task failed")
            failure = ProducerClosedError(
                f"the producer's sender task failed ({exc!r}); the record was not sent"
            )
            records = sorted([*self._retry, *self._queue], key=lambda r: r._seq)
            self._retry.clear()
            self._queue.clear()
            self._closed = True
            for record in records:
                self._give_up(record, failure)

    def _cancelled_unclosed(self) -> None:
        """The sender was cancelled although the producer was never closed: the event loop is
        shutting down (``asyncio.run`` returning) or someone cancelled every task.  Nothing can be
        delivered any more; say so loudly rather than drop the records in silence."""
        self._closed = True
        not_sent, unanswered = self._abandon(
            *abandon_errors(
                "never closed: its event loop cancelled the sender",
                "Close the producer (async with client.producer() as p, or await p.close()) before "
                "the event loop ends: close() delivers the buffered records.",
            )
        )
        if not_sent or unanswered:
            logger.error(
                "an asyncio producer was never closed and its event loop cancelled it: %d record(s) "
                "were not sent and %d were awaiting the server's answer; their futures have failed "
                "(use 'async with client.producer() as producer' or await producer.close())",
                not_sent,
                unanswered,
            )

    async def _step(self) -> None:
        """One round: wait for something to do, then write what the window allows."""
        if self._recovering:
            if self._in_flight_batches:
                await self._wait_wakeup()
                return
            now = _monotonic()
            if now < self._retry_at:
                await self._wait_wakeup(self._retry_at - now)
                return
            self._recovering = False
            retried = sorted(self._retry, key=lambda r: r._seq)
            self._retry.clear()
            self._queue.extendleft(reversed(retried))
            self._queued_bytes += frames_bytes(retried)
        queue = self._queue
        if not queue:
            await self._wait_wakeup()
            return
        if self._linger and not self._flushing and not self._closed and not self._batch_full():
            remaining = self._first_queued_at + self._linger - _monotonic()
            if remaining > 0:
                self._lingering = True
                try:
                    await self._wait_wakeup(remaining)
                finally:
                    self._lingering = False
                return
        client = self._client
        try:
            primary = await client._primary_connection()
        except FlyMQError as exc:
            self._connection_failed(exc)
            return
        free = self._max_in_flight - len(self._in_flight.get(primary, ()))
        if free <= 0:
            await self._wait_wakeup()
            return
        batches = self._take(free)
        if not batches:
            return
        if client._metadata.standalone:
            await self._write(primary, batches)
        else:
            await self._write_routed(primary, batches)

    def _batch_full(self) -> bool:
        return len(self._queue) >= self._batch_messages or self._queued_bytes >= self._batch_bytes

    def _take(self, count: int) -> list[list[AsyncRecordFuture]]:
        """Up to ``count`` batches from the head of the queue."""
        queue = self._queue
        popleft = queue.popleft
        limit_bytes = self._batch_bytes
        limit_messages = self._batch_messages
        batches: list[list[AsyncRecordFuture]] = []
        taken_bytes = 0
        while queue and len(batches) < count:
            batch: list[AsyncRecordFuture] = []
            append = batch.append
            size = 0
            while queue and len(batch) < limit_messages:
                frame_size = len(queue[0]._frame)
                if batch and size + frame_size > limit_bytes:
                    break
                record = popleft()
                taken_bytes += frame_size
                if record._settled:
                    continue
                append(record)
                size += frame_size
            if batch:
                batches.append(batch)
        self._queued_bytes -= taken_bytes
        if queue:
            self._first_queued_at = _monotonic()
        return batches

    def _connection_failed(self, error: FlyMQError) -> None:
        """No connection could be made: every queued record used up one attempt (none was sent)."""
        give_up, failure = self._rule.no_server(
            error, (self._retry, self._queue), backoff_s=self._backoff, client_closed=self._client.closed
        )
        self._queued_bytes = frames_bytes(self._queue)
        for record in give_up:
            self._give_up(record, failure)
        self._recovering = True
        self._retry_at = _monotonic() + self._backoff

    async def _write_routed(self, primary: AsyncConnection, batches: list[list[AsyncRecordFuture]]) -> None:
        """Cluster (or standalone not known yet): keyed records go to their partition leader; one
        whose leader is known only by a cluster (Raft) address fails at once, unsent."""
        if not any(record.key for batch in batches for record in batch):
            await self._write(primary, batches)
            return
        client = self._client
        groups: dict[AsyncConnection, list[AsyncRecordFuture]] = {}
        unroutable = False
        for batch in batches:
            for record in batch:
                conn = primary
                if record.key:
                    try:
                        conn = await client._route(record._call)
                    except LeaderAddressUnknownError as exc:
                        unroutable = True
                        self._log_failure(record, exc)
                        self._give_up(record, exc)
                        continue
                    except FlyMQError as exc:
                        topic = record.topic
                        logger.info("producer: routing %r failed (%s); using %s", topic, exc, primary.label)
                groups.setdefault(conn, []).append(record)
        if len(groups) == 1 and not unroutable:
            await self._write(next(iter(groups)), batches)
            return
        for conn, records in groups.items():
            while len(self._in_flight.get(conn, ())) >= self._max_in_flight:
                await self._wait_wakeup()
            await self._write(conn, split_batches(records, self._batch_bytes, self._batch_messages))

    async def _write(self, conn: AsyncConnection, batches: list[list[AsyncRecordFuture]]) -> None:
        """Write ``batches`` to ``conn`` in one write; the connection's reader settles them."""
        deadline = _monotonic() + self._client._request_timeout
        entries: list[Entry] = []
        frames: list[bytes] = []
        window = self._in_flight.setdefault(conn, set())
        sinks: list[_Batch] = []
        observed = observe_writes(self._client.observer, batches)
        start = 0
        for records in batches:
            end = start + len(records)
            sink = _Batch(self, conn, records, None if observed is None else observed[start:end])
            start = end
            sinks.append(sink)
            window.add(sink)
            entries += [(sink, deadline, _PRODUCE_OP)] * len(records)  # one shared entry per batch
            for record in records:
                record._attempts += 1
                frames.append(record._frame)
        self._in_flight_batches += len(sinks)
        self._writes += 1
        self._batches_sent += len(sinks)
        try:
            await conn.submit_sinks(frames[0] if len(frames) == 1 else b"".join(frames), entries)
        except FlyMQError as exc:
            # NotSentError: nothing was written.  A failed write already failed every batch the
            # connection took; only the others are settled here.
            for sink in sinks:
                if not sink.finished:
                    self._batch_answered(sink, exc)
