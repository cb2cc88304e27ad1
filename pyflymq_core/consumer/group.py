"""``ConsumerGroup``: a handler called for every record on a worker thread, with retries and a DLQ.

``ConsumerGroup(client, topics=[...], group_id="g", handler=fn)``; ``start()`` / ``stop()``.

For each record, in order: ``handler(message)``; if it raises, the error is logged and the call is
repeated up to ``max_retries`` times, ``retry_backoff_ms`` apart; if it still fails, the record is
written to the dead-letter topic ``<topic>.dlq`` in the server's DLQ format (so
``client.fetch_dlq(topic)`` and ``client.replay_dlq(topic, id)`` see it) and consumption goes on.
Offsets are committed after the records are handled (dead-lettered ones included), never before:
a crash re-delivers what was not committed (at-least-once).

A record the consumer cannot hand over at all — its value does not decrypt, or ``deserializer=``
fails on it — is not given to the handler (it would fail the same way every time): it goes to the
dead-letter topic at once (reason ``decryption_failed`` / ``deserialization_failed``, as stored),
and consumption goes on after it.

Nothing is dropped silently: if the dead-letter write itself fails it is retried until it succeeds
or ``stop()`` is called (the record is then not committed and comes back on the next start); with
``dead_letter=False`` a record that exhausts its retries (or cannot be decrypted or deserialized)
stops the group, and ``stop()`` re-raises that error.  Errors of the consumer itself (connection
trouble) are logged and retried.

Partition assignment is the consumer's (see :mod:`pyflymq_core.consumer.assignment`): run several
groups with ``member_index``/``member_count`` to split the partitions between processes.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any

from pyflymq_core import validation as v
from pyflymq_core.config import ConsumerConfig
from pyflymq_core.consumer.assignment import TopicPartition, subscription_topics
from pyflymq_core.consumer.consumer import HighLevelConsumer
from pyflymq_core.consumer.dlq import (
    DEFAULT_DLQ_SUFFIX,
    REASON_DECRYPTION_FAILED,
    REASON_DESERIALIZATION_FAILED,
    REASON_MAX_RETRIES,
    DeadLetterWriter,
)
from pyflymq_core.errors import (
    ConfigurationError,
    DecryptionError,
    FlyMQError,
    HandlerFailedError,
    SerializationError,
)
from pyflymq_core.models import ConsumedMessage

if TYPE_CHECKING:
    from pyflymq_core.client.sync_client import FlyMQClient

__all__ = ["ConsumerGroup", "HandlerFailedError"]

logger = logging.getLogger("pyflymq.consumer")

_group_ids = itertools.count(1)

#: Pause after a consumer error (connection trouble) before polling again.
ERROR_BACKOFF_S = 0.5

#: What the worker is doing, for the error of a ``stop()`` that timed out.
POLLING = "polling the server"
HANDLING = "running the handler"
COMMITTING = "committing offsets"
CLOSING = "closing its consumer (final commit)"


class _Stopped(Exception):
    """Internal: stop() was called while a record was being retried."""


class ConsumerGroup:
    """Consume ``topics`` as ``group_id`` on a worker thread, calling ``handler(message)``."""

    def __init__(
        self,
        client: FlyMQClient,
        topics: str | Sequence[str],
        group_id: str,
        handler: Callable[[ConsumedMessage], Any],
        *,
        config: ConsumerConfig | None = None,
        max_retries: int = 3,
        retry_backoff_ms: int = 100,
        dead_letter: bool = True,
        dlq_suffix: str = DEFAULT_DLQ_SUFFIX,
        poll_timeout_ms: int = 100,
        **options: Any,
    ) -> None:
        v.open_client(client, "ConsumerGroup")
        if not callable(handler):
            raise ConfigurationError("ConsumerGroup needs handler=<a function taking a ConsumedMessage>")
        if not group_id:
            raise ConfigurationError("ConsumerGroup needs a group_id")
        if max_retries < 0 or retry_backoff_ms < 0 or poll_timeout_ms < 0:
            raise ConfigurationError("max_retries, retry_backoff_ms and poll_timeout_ms must be >= 0")
        for name in ("enable_auto_commit", "auto_commit"):
            if name in options:
                raise ConfigurationError(
                    f"ConsumerGroup does not take {name}: it commits itself, after each batch is handled",
                    hint="Remove the option; use HighLevelConsumer for interval-based auto-commit.",
                )
        self._client = client
        self._topics = subscription_topics(topics)
        self._group_id = group_id
        self._handler = handler
        self._config = config
        self._options = options
        self._max_retries = max_retries
        self._backoff = retry_backoff_ms / 1000.0
        self._poll_timeout_ms = poll_timeout_ms
        self._dlq = DeadLetterWriter(client, suffix=dlq_suffix, group_id=group_id) if dead_letter else None
        self._id = next(_group_ids)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._activity = POLLING
        self._consumer: HighLevelConsumer | None = None
        self._error: BaseException | None = None
        self._lock = threading.Lock()
        #: Counters: records handled, handler failures (each attempt), records dead-lettered.
        self.processed = 0
        self.failures = 0
        self.dead_lettered = 0
        #: The last error met (handler, dead-letter write or consumer), for monitoring.
        self.last_error: BaseException | None = None

    # ================================================================== lifecycle

    @property
    def group_id(self) -> str:
        """The consumer group whose committed offsets this group resumes from."""
        return self._group_id

    @property
    def topics(self) -> list[str]:
        """The topics consumed (a copy: the subscription is fixed at construction)."""
        return list(self._topics)

    @property
    def running(self) -> bool:
        """Whether the worker thread is alive."""
        thread = self._thread
        return thread is not None and thread.is_alive()

    @property
    def error(self) -> BaseException | None:
        """The error that stopped the worker, if any."""
        return self._error

    def assignment(self) -> set[TopicPartition]:
        """The partitions the worker currently reads; empty before ``start()`` and after ``stop()``."""
        consumer = self._consumer
        return set() if consumer is None else consumer.assignment()

    def start(self) -> None:
        """Create the consumer (raises now if that fails) and start the worker thread."""
        with self._lock:
            if self.running:
                return
            self._stop.clear()
            self._error = None
            self._consumer = HighLevelConsumer(
                self._client,
                self._topics,
                self._group_id,
                config=self._config,
                enable_auto_commit=False,
                **self._options,
            )
            self._thread = threading.Thread(
                target=self._run, name=f"pyflymq-consumer-group-{self._id}", daemon=True
            )
            self._thread.start()

    def stop(self, timeout: float | None = 10.0) -> None:
        """Stop after the record in progress, commit what was handled, close the consumer.

        Re-raises the error that stopped the worker, if one did.
        """
        self._stop.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
            if thread.is_alive():
                activity = self._activity
                raise FlyMQError(
                    f"the consumer group worker did not stop within {timeout} s (it is {activity})",
                    hint="Make the handler return promptly, or give stop() more time."
                    if activity == HANDLING
                    else "The server is slow or unreachable; give stop() more time, or close the "
                    "client, which ends the worker's requests at once.",
                )
        self._thread = None
        error, self._error = self._error, None
        if error is not None:
            raise error

    def __enter__(self) -> ConsumerGroup:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.stop()
            return
        try:
            self.stop()
        except Exception as stop_error:
            logger.error("stopping the consumer group after %s failed: %s", exc_type.__name__, stop_error)

    # ================================================================== worker

    def _run(self) -> None:
        consumer = self._consumer
        assert consumer is not None
        handled: dict[TopicPartition, int] = {}
        try:
            while not self._stop.is_set():
                self._activity = POLLING
                try:
                    records = consumer.poll(timeout_ms=self._poll_timeout_ms)
                except (DecryptionError, SerializationError) as exc:
                    if not self._skip_unreadable(consumer, exc):
                        raise
                    continue
                except FlyMQError as exc:
                    self.last_error = exc
                    if self._client.closed:
                        # No retry can help; the application closed the client, so stop() has
                        # nothing to report beyond this (last_error keeps it).
                        logger.warning(
                            "consumer group %r: its client was closed; the worker stops", self._group_id
                        )
                        break
                    logger.error("consumer group %r: poll failed: %s", self._group_id, exc)
                    self._stop.wait(ERROR_BACKOFF_S)
                    continue
                if not records:
                    continue
                handled.clear()
                self._activity = HANDLING
                try:
                    for message in records:
                        if self._stop.is_set():
                            break  # stop after the record in progress; the rest is re-read later
                        self._handle(message)
                        handled[TopicPartition(message.topic, message.partition)] = message.offset + 1
                finally:
                    # Commit what was handled, even when stopping mid-batch or failing; the rest of
                    # the batch is re-read from the committed offset on the next start.
                    self._activity = COMMITTING
                    self._commit(consumer, handled)
                if len(handled) != len({(m.topic, m.partition) for m in records}) or self._stop.is_set():
                    self._rewind(consumer, records, handled)
        except _Stopped:
            logger.info(
                "consumer group %r stopped while retrying a record (it was not committed)", self._group_id
            )
        except BaseException as exc:
            self._error = exc
            logger.error("consumer group %r stopped: %s", self._group_id, exc)
        finally:
            self._activity = CLOSING
            try:
                consumer.close()
            except FlyMQError as exc:
                logger.error("consumer group %r: closing the consumer failed: %s", self._group_id, exc)
                if self._error is None:
                    self._error = exc

    def _handle(self, message: ConsumedMessage) -> None:
        """Call the handler with retries; dead-letter the record when they are exhausted."""
        first_failed_at = 0.0
        for attempt in range(self._max_retries + 1):
            try:
                self._handler(message)
            except Exception as exc:
                now = time.time()
                first_failed_at = first_failed_at or now
                self.failures += 1
                self.last_error = exc
                logger.warning(
                    "consumer group %r: handler failed on %s[%d]@%d (attempt %d of %d): %s",
                    self._group_id,
                    message.topic,
                    message.partition,
                    message.offset,
                    attempt + 1,
                    self._max_retries + 1,
                    exc,
                    exc_info=True,
                )
                if attempt < self._max_retries:
                    if self._stop.wait(self._backoff):
                        raise _Stopped from exc
                    continue
                self._dead_letter(message, exc, first_failed_at, now)
                return
            else:
                self.processed += 1
                return

    def _skip_unreadable(
        self, consumer: HighLevelConsumer, error: DecryptionError | SerializationError
    ) -> bool:
        """A record the consumer stopped at (not decryptable / deserializable): dead-letter it as
        stored and continue after it.  ``False`` when it is not one (the error is raised)."""
        if error.topic is None or error.partition is None:
            return False
        tp = TopicPartition(error.topic, error.partition)
        failed = consumer._failed_record(tp)
        if failed is None or failed.error is not error:
            return False
        self.failures += 1
        self.last_error = error
        now = time.time()
        reason = (
            REASON_DECRYPTION_FAILED if isinstance(error, DecryptionError) else REASON_DESERIALIZATION_FAILED
        )
        logger.warning("consumer group %r: cannot read a record: %s", self._group_id, error)
        self._dead_letter(failed.message, error, now, now, reason=reason, retries=0)
        offset = failed.message.offset + 1
        consumer.seek(tp, offset)
        self._commit(consumer, {tp: offset})
        return True

    def _dead_letter(
        self,
        message: ConsumedMessage,
        error: Exception,
        first: float,
        last: float,
        *,
        reason: str = REASON_MAX_RETRIES,
        retries: int | None = None,
    ) -> None:
        writer = self._dlq
        retry_count = self._max_retries if retries is None else retries
        if writer is None:
            if reason != REASON_MAX_RETRIES:
                raise HandlerFailedError(
                    f"cannot read {message.topic}[{message.partition}]@{message.offset} and "
                    f"dead-lettering is off: {error}",
                    hint="Fix the record or the deserializer, or seek past it; with dead_letter=True "
                    "such records go to <topic>.dlq.",
                ) from error
            raise HandlerFailedError(
                f"handler failed on {message.topic}[{message.partition}]@{message.offset} after "
                f"{self._max_retries} retries and dead-lettering is off: {error}"
            ) from error
        record_id = f"{message.topic}-{message.partition}-{message.offset}-{time.time_ns()}"
        while True:
            try:
                writer.write(
                    message,
                    error,
                    retry_count=retry_count,
                    first_failed_at=first,
                    last_failed_at=last,
                    record_id=record_id,
                    reason=reason,
                    as_stored=reason == REASON_DECRYPTION_FAILED,
                )
            except FlyMQError as exc:
                self.last_error = exc
                logger.error(
                    "consumer group %r: writing %s[%d]@%d to the dead-letter topic failed (%s); retrying",
                    self._group_id,
                    message.topic,
                    message.partition,
                    message.offset,
                    exc,
                )
                if self._stop.wait(max(self._backoff, ERROR_BACKOFF_S)):
                    raise _Stopped from exc
                continue
            self.dead_lettered += 1
            self.processed += 1
            return

    def _commit(self, consumer: HighLevelConsumer, handled: dict[TopicPartition, int]) -> None:
        if not handled:
            return
        try:
            consumer.commit(dict(handled))
        except FlyMQError as exc:
            self.last_error = exc
            logger.error(
                "consumer group %r: commit failed (%s); records may be handled again", self._group_id, exc
            )

    @staticmethod
    def _rewind(
        consumer: HighLevelConsumer, records: list[ConsumedMessage], handled: dict[TopicPartition, int]
    ) -> None:
        """After a partial batch: move each partition back to just after its last handled record."""
        firsts: dict[TopicPartition, int] = {}
        for message in records:
            firsts.setdefault(TopicPartition(message.topic, message.partition), message.offset)
        for tp, first in firsts.items():
            consumer.seek(tp, handled.get(tp, first))
