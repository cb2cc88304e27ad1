"""``Producer`` / ``HighLevelProducer``: Kafka-style asynchronous sends over a FlyMQ client.

``send()`` validates and encodes the record, queues it and returns a :class:`RecordFuture`; a sender
thread writes queued records in pipelined batches and a receiver thread per connection settles
them (see :mod:`pyflymq_core.producer.sender`).  What the server does not give, and what that means:

* **No batch opcode**: a batch is many PRODUCE frames written with one ``send``; each record is
  acknowledged on its own.  ``batch_size`` (bytes), ``max_batch_messages`` and ``linger_ms`` shape
  these writes; ``max_in_flight`` bounds the unanswered batches per connection.
* **acks**: the server acknowledges after appending to its local log (fsync on a timer, replication
  afterwards in a cluster — SEMANTICS_NOTES #23), whatever ``acks`` says; the producer always
  waits for that acknowledgement.  ``acks`` is accepted for compatibility only.
* **No deduplication**: a record whose answer was lost (connection dropped after the write) may or
  may not have been written.  By default it fails with a ``ConnectionError`` saying so
  (at-most-once); ``retry_unacknowledged=True`` re-sends it (at-least-once: possible duplicates).
  Records provably not written (dead connection before the write, ``not leader``) are retried in
  order, up to ``max_retries`` times, ``retry_backoff_ms`` apart.
* **Partitions are chosen by the server**: FNV-1a of the key, round-robin without one.  Records with
  the same key are acknowledged in send order.
"""

from __future__ import annotations

import atexit
import functools
import itertools
import logging
import threading
import time
import weakref
from collections.abc import Callable
from types import TracebackType
from typing import TYPE_CHECKING, Any

from pyflymq_core import validation as v
from pyflymq_core.config import ProducerConfig
from pyflymq_core.errors import (
    ConfigurationError,
    DeliveryError,
    FlyMQError,
    TimeoutError,
)
from pyflymq_core.models import RecordMetadata
from pyflymq_core.producer.accumulator import RecordAccumulator, run_callbacks
from pyflymq_core.producer.encoding import encoder_for
from pyflymq_core.producer.future import RecordFuture
from pyflymq_core.producer.policy import (
    RetryRule,
    abandon_errors,
    close_timeout_error,
    delivery_error,
    flush_timeout_error,
)
from pyflymq_core.producer.sender import Sender
from pyflymq_core.producer.serialize import serializer_for

if TYPE_CHECKING:
    from pyflymq_core.client.sync_client import FlyMQClient

__all__ = ["HighLevelProducer", "Producer"]

logger = logging.getLogger("pyflymq.producer")

_producer_ids = itertools.count(1)
_join = b"".join


def retry_rule(config: ProducerConfig, client: Any) -> RetryRule:
    """The retry decisions of a producer with ``config`` on ``client`` (both producers)."""
    return RetryRule(
        max_retries=config.max_retries,
        retry_unacknowledged=config.retry_unacknowledged,
        metadata=client._metadata,
    )


def build_producer_config(config: ProducerConfig | None, options: dict[str, Any]) -> ProducerConfig:
    """``config`` with keyword ``options`` applied (validated); the seed's keywords included."""
    if config is not None and not isinstance(config, ProducerConfig):
        raise ConfigurationError(
            f"config must be a ProducerConfig, got {type(config).__name__}",
            hint="Build it with pyflymq.ProducerConfig(...), or pass the options as keywords.",
        )
    if not options:
        return config if config is not None else ProducerConfig()
    if config is None:
        return ProducerConfig(**options)
    values = {name: getattr(config, name) for name in type(config).model_fields}
    # retries/max_retries are one setting: a keyword for either replaces both.
    if "retries" in options or "max_retries" in options:
        values.pop("retries")
        values.pop("max_retries")
    values.update(options)
    return ProducerConfig(**values)


class Producer:
    """Asynchronous, batching, retrying producer (``client.producer(...)``, ``Producer(client)``).

    ``Producer(client, config=ProducerConfig(...))`` or ``Producer(client, linger_ms=5, ...)``
    (any :class:`ProducerConfig` option as a keyword, e.g. ``retry_unacknowledged=True`` to re-send
    records whose answer was lost: at-least-once, duplicates possible).  ``serializer=`` /
    ``key_serializer=`` (a codec name such as ``"json"``, or a codec object) make ``send()`` take
    objects: see :mod:`pyflymq_core.producer.serialize`.  Thread-safe: any number of threads may
    ``send()``.  Use it as a context manager, or call :meth:`close`.
    """

    def __init__(
        self,
        client: FlyMQClient,
        config: ProducerConfig | None = None,
        *,
        serializer: Any = None,
        key_serializer: Any = None,
        **options: Any,
    ) -> None:
        v.open_client(client, "Producer")
        self._callbacks = v.CallbackGate("the producer's I/O thread")
        self._client = client
        self._config = cfg = build_producer_config(config, options)
        self._serialize = serializer_for(serializer, "value")
        self._serialize_key = serializer_for(key_serializer, "key")
        self._id = next(_producer_ids)
        encoder = encoder_for(client)
        self._encode = encoder.encode
        self._templates = encoder.templates
        self._acc = acc = RecordAccumulator(
            buffer_memory=cfg.buffer_memory,
            max_block_ms=cfg.max_block_ms,
            batch_size=cfg.batch_size,
            max_batch_messages=cfg.max_batch_messages,
            linger_ms=cfg.linger_ms,
        )
        self._sender = Sender(
            client,
            acc,
            max_in_flight=cfg.max_in_flight,
            rule=retry_rule(cfg, client),
            retry_backoff_ms=cfg.retry_backoff_ms,
            request_timeout=client.config.request_timeout,
            name=f"pyflymq-producer-{self._id}",
        )
        self._append = acc.append
        self._closed = False
        self._close_lock = threading.Lock()
        self._sender.start()
        # A producer the application forgot to close is flushed (bounded) at interpreter exit, and
        # whatever could not be delivered is logged -- never dropped silently.
        self._exit_hook = functools.partial(_close_at_exit, weakref.ref(self))
        atexit.register(self._exit_hook)

    # ================================================================== sending

    @property
    def config(self) -> ProducerConfig:
        """The configuration this producer runs with."""
        return self._config

    def send(
        self,
        topic: str,
        value: Any,
        key: Any = None,
        on_success: Callable[[RecordMetadata], Any] | None = None,
        on_error: Callable[[Exception], Any] | None = None,
        *,
        partition: int | None = None,
    ) -> RecordFuture:
        """Queue one record; returns its :class:`RecordFuture` at once.

        ``value``/``key``: bytes or str — or any object the producer's ``serializer`` /
        ``key_serializer`` accepts (a value it cannot serialize raises
        :class:`~pyflymq_core.errors.SerializationError` here, and nothing is queued).
        ``on_success(metadata)`` / ``on_error(error)`` run exactly once, on the producer's I/O
        thread (keep them short; their exceptions are logged).  Blocks only while the buffer is full
        (up to ``max_block_ms``, then :class:`~pyflymq_core.errors.BufferFullError`).  Invalid
        arguments raise at once, like ``client.produce``; so does ``partition=`` (Kafka's), which
        the server cannot honour: it picks the partition itself (use a key).
        """
        if partition is not None:
            raise v.partition_refused("send")
        if on_success is not None or on_error is not None:
            self._callbacks.check(on_success, on_error)
        if self._serialize is not None:
            value = self._serialize(value, topic)
        if key is not None and self._serialize_key is not None:
            key = self._serialize_key(key, topic)
        # Fast path, inlined (it runs for every record): a topic already validated, bytes in.
        template = self._templates.get(topic)
        if template is not None and type(value) is bytes:
            if key is None:
                if len(value) <= template.max_value:
                    frame = template.frame(value)
                    fut = RecordFuture(self._acc, topic, b"", frame, on_success, on_error)
                    self._append(fut, len(frame))
                    return fut
            else:
                if type(key) is str and key.isascii():
                    key = key.encode("ascii")
                if type(key) is not bytes or len(key) + len(value) > template.max_value:
                    return self._send_general(topic, value, key, on_success, on_error)
                frame = template.frame_keyed(key, value)
                fut = RecordFuture(self._acc, topic, key, frame, on_success, on_error)
                self._append(fut, len(frame))
                return fut
        return self._send_general(topic, value, key, on_success, on_error)

    def _send_general(
        self,
        topic: str,
        value: Any,
        key: Any,
        on_success: Callable[[RecordMetadata], Any] | None,
        on_error: Callable[[Exception], Any] | None,
    ) -> RecordFuture:
        """Every other record: full validation (first record of a topic, str values, value encoder,
        compression, records near the size limit)."""
        name, key_bytes, frame = self._encode(topic, key, value)
        fut = RecordFuture(self._acc, name, key_bytes, frame, on_success, on_error)
        self._append(fut, len(frame))
        return fut

    # ================================================================== flush / close

    def flush(self, timeout: float | None = None) -> None:
        """Wait until every record sent before this call is acknowledged or failed.

        ``timeout`` in seconds (``None`` = no limit).  Raises :class:`TimeoutError` naming how many
        records are still queued / in flight when it expires (they stay queued), and
        :class:`DeliveryError` when records failed that no ``on_error`` callback or future consumer
        has seen — so a failure is never silent.
        """
        self._flush(timeout, "flush")

    def _flush(self, timeout: float | None, what: str) -> None:
        acc = self._acc
        if threading.get_ident() in acc.io_threads:
            raise FlyMQError(
                f"{what}() cannot be called from a producer callback (it would wait for itself)",
                hint="Call it from another thread.",
            )
        gen, waiter = acc.start_flush()
        done = True
        if waiter is not None:
            done = waiter.acquire() if timeout is None else waiter.acquire(timeout=max(timeout, 0.0))
        queued, in_flight = acc.end_flush(gen, waiter)
        if not done and (queued or in_flight):
            raise flush_timeout_error(what, timeout, queued, in_flight)
        failures, dropped = acc.take_unreported(gen)
        if failures or dropped:
            raise delivery_error(failures, dropped, what)

    def close(self, timeout: float | None = None) -> None:
        """Flush, then stop the producer's threads (idempotent).  The client stays open.

        If ``timeout`` (seconds) expires first, records not yet sent fail with
        :class:`ProducerClosedError` (they were not written), records awaiting an answer fail with
        :class:`TimeoutError` (outcome unknown), and ``TimeoutError`` is raised with the counts.
        Raises :class:`DeliveryError` like :meth:`flush`.
        """
        if threading.get_ident() in self._acc.io_threads:
            raise FlyMQError(
                "close() cannot be called from a producer callback (it would wait for itself)",
                hint="Call it from another thread.",
            )
        with self._close_lock:
            if self._closed:
                return
            self._closed = True
        atexit.unregister(self._exit_hook)
        acc = self._acc
        deadline = None if timeout is None else time.monotonic() + timeout
        with acc.lock:
            acc.closing = True
            acc.wake_sender()
            if acc.space_waiters:
                acc.space.notify_all()
        pending_error: BaseException | None = None
        try:
            self._flush(timeout, "close")
        except TimeoutError as exc:
            pending_error = self._abandon(exc)
        except DeliveryError as exc:
            pending_error = exc
        finally:
            if not self._sender.stop(deadline):
                # After a timed-out close the receivers notice the abandonment within a wait slice
                # and end by themselves: worth a word only when nothing was abandoned.
                log = logger.debug if isinstance(pending_error, TimeoutError) else logger.warning
                log("producer %d: I/O threads still running after close() (awaiting answers)", self._id)
        if pending_error is not None:
            raise pending_error

    def _abandon(self, cause: TimeoutError) -> TimeoutError:
        """``close()`` timed out: fail everything still queued or in flight."""
        acc = self._acc
        not_sent, unknown = abandon_errors()
        with acc.lock:
            queued = [*acc.retry, *acc.queue]
            acc.retry.clear()
            acc.queue.clear()
            acc.queued_bytes = 0
            callbacks = acc.fail(queued, not_sent)
            in_flight, more = self._sender.abandon_in_flight(unknown)
        run_callbacks(callbacks + more)
        return close_timeout_error(len(queued), in_flight, cause)

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._closed

    def __enter__(self) -> Producer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.close()
            return
        try:
            self.close()
        except FlyMQError as close_error:  # do not hide the exception already propagating
            logger.error("closing the producer after %s failed: %s", exc_type.__name__, close_error)

    # ================================================================== introspection

    def metrics(self) -> dict[str, int]:
        """Counters: records queued / incomplete / acknowledged / failed / retried, bytes buffered,
        batches and writes sent, batches in flight."""
        acc = self._acc
        with acc.lock:
            return {
                "queued": len(acc.queue) + len(acc.retry),
                "incomplete": acc.incomplete,
                "acknowledged": acc.acknowledged,
                "failed": acc.failed,
                "retried": acc.retried,
                "buffered_bytes": acc.buffered,
                "batches_sent": self._sender.batches_sent,
                "writes": self._sender.writes,
                "in_flight_batches": acc.in_flight_batches,
            }

    def __len__(self) -> int:
        """Records sent but not yet acknowledged or failed."""
        return self._acc.incomplete

    def __repr__(self) -> str:
        state = "closed" if self._closed else f"{self._acc.incomplete} incomplete"
        return f"<Producer #{self._id} {state}>"


#: How long a producer left open may take to deliver its records when the interpreter exits.
EXIT_FLUSH_TIMEOUT_S = 10.0


def _close_at_exit(ref: weakref.ReferenceType[Producer]) -> None:
    producer = ref()
    if producer is None or producer.closed:
        return
    pending = len(producer)
    if pending:
        logger.warning("producer %d was not closed: delivering %d record(s) at exit", producer._id, pending)
    try:
        producer.close(timeout=EXIT_FLUSH_TIMEOUT_S)
    except FlyMQError as exc:
        logger.error("producer %d: at exit, %s", producer._id, exc)


#: The seed's name for the same producer (``client.producer(...)`` returns one).
HighLevelProducer = Producer
