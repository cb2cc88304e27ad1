"""``HighLevelConsumer`` and ``Consumer``: Kafka-style polling consumers over a FlyMQ client.

What the server gives and what the client adds (SEMANTICS_NOTES #13-#17):

* **Groups store offsets, nothing more.**  No membership protocol, no assignment, no rebalancing:
  partitions are discovered from CLUSTER_METADATA and assigned by the client
  (:mod:`pyflymq_core.consumer.assignment`): every partition by default, or a static share with
  ``member_index``/``member_count`` or explicit ``partitions`` (a partition the topic does not
  have raises ``PartitionNotFoundError``).  Two consumers of one group without static membership
  both read everything.
* **Start position**: the group's committed offset (SUBSCRIBE ``commit``), else
  ``auto_offset_reset`` — with the server's off-by-ones worked around
  (:mod:`pyflymq_core.consumer.offsets`).
* **Commits store the next offset to read** (the position: last returned record + 1), so a restart
  resumes exactly after the last record the application received.  Auto-commit (on by default for
  ``HighLevelConsumer``) commits asynchronously from ``poll()`` every ``auto_commit_interval_ms``
  and synchronously on ``close()``: at-least-once — records returned after the last commit are
  delivered again after a crash.
* **FETCH is pipelined**: one request in flight per partition, issued as soon as the previous
  answer is taken in (:mod:`pyflymq_core.consumer.fetcher`); ``poll(timeout_ms)`` never waits on
  it longer than its timeout.
* **Deserializers** (``deserializer=``, ``key_deserializer=``) and decryption run once per record
  as it is fetched (:mod:`pyflymq_core.consumer.records`); a record that fails is raised
  (``SerializationError`` / ``DecryptionError``) once the records before it were returned, with the
  position left *at* it.
* **Iteration** hands out each fetched chunk through a C-level list iterator (no Python code per
  record); the position of the chunk being iterated is worked out from that iterator when something
  reads it (``position``, ``commit``, auto-commit, ``pause``, ``seek``, ``poll``, ``close``) or
  when the next chunk starts.

One thread uses a consumer; ``close()`` may be called from any thread (it stops iteration).
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections import deque
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future
from operator import length_hint
from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol, cast

from pyflymq_core import validation as v
from pyflymq_core.config import ConsumerConfig
from pyflymq_core.consumer.arguments import commit_offsets_argument, poll_arguments, require_group
from pyflymq_core.consumer.assignment import (
    PartitionSpec,
    TopicPartition,
    not_assigned_error,
    partition_specs,
    subscription_topics,
    topic_partition,
)
from pyflymq_core.consumer.buffer import first_failure
from pyflymq_core.consumer.committer import CommitCallback, Committer, commit_offsets
from pyflymq_core.consumer.discovery import METADATA_RETRY_S, TopicDiscovery
from pyflymq_core.consumer.fetcher import Fetcher, PartitionState
from pyflymq_core.consumer.offsets import end_offsets, start_offsets
from pyflymq_core.consumer.records import FailedRecord, build_pipeline
from pyflymq_core.errors import (
    ConfigurationError,
    ConsumerClosedError,
    FlyMQError,
    TopicNotFoundError,
)
from pyflymq_core.models import ConsumedMessage

if TYPE_CHECKING:
    from pyflymq_core.client.sync_client import FlyMQClient

__all__ = ["METADATA_RETRY_S", "Consumer", "ConsumerClosedError", "HighLevelConsumer", "PartitionSpec"]

logger = logging.getLogger("pyflymq.consumer")

_monotonic = time.monotonic
_consumer_ids = itertools.count(1)
_chain = itertools.chain.from_iterable

#: How long one internal poll of the iterator waits (bounds how late it notices close()).
ITER_WAIT_S = 0.1


def build_consumer_config(
    config: ConsumerConfig | None,
    group_id: str | None,
    auto_commit: bool | None,
    options: dict[str, Any],
    *,
    default_auto_commit: bool = True,
) -> ConsumerConfig:
    """The effective :class:`ConsumerConfig`: ``config`` + ``group_id`` + keyword options.

    ``auto_commit`` is the seed's spelling of ``enable_auto_commit``; both may be given if equal.
    """
    if config is not None and not isinstance(config, ConsumerConfig):
        raise ConfigurationError(
            f"config must be a ConsumerConfig, got {type(config).__name__}",
            hint="Build it with pyflymq.ConsumerConfig(...), or pass the options as keywords.",
        )
    changes = dict(options)
    if auto_commit is not None:
        explicit = changes.get("enable_auto_commit")
        if explicit is not None and bool(explicit) != bool(auto_commit):
            raise ConfigurationError(
                "auto_commit and enable_auto_commit are the same setting; give one of them"
            )
        changes["enable_auto_commit"] = auto_commit
    if group_id is not None:
        changes["group_id"] = group_id
    explicit_commit = "enable_auto_commit" in changes or (
        config is not None and "enable_auto_commit" in config.model_fields_set
    )
    if not explicit_commit and not default_auto_commit:
        changes["enable_auto_commit"] = False
    if config is None:
        return ConsumerConfig(**changes)
    return config.with_options(**changes) if changes else config


class _ListIterator(Protocol):
    """A ``list`` iterator: how far it got (``length_hint``) and cutting it short (``__setstate__``)."""

    def __next__(self) -> ConsumedMessage: ...

    def __iter__(self) -> Iterator[ConsumedMessage]: ...

    def __length_hint__(self) -> int: ...

    def __setstate__(self, index: int) -> None: ...


class _Active:
    """The chunk an iteration is handing out: its records and the C-level iterator over them."""

    __slots__ = ("epoch", "iterator", "records", "state")

    def __init__(self, state: PartitionState, records: list[ConsumedMessage]) -> None:
        self.state = state
        self.records = records
        self.epoch = state.epoch
        self.iterator = cast(_ListIterator, iter(records))

    def handed_out(self) -> int:
        """How many of the records the application received so far."""
        return len(self.records) - length_hint(self.iterator)

    def sync_position(self) -> None:
        """Move the partition's position past the records handed out so far."""
        done = self.handed_out()
        state = self.state
        if done and state.epoch == self.epoch:
            state.position = self.records[done - 1].offset + 1

    def cut(self) -> list[ConsumedMessage]:
        """Stop the iterator (it hands out nothing more) and return the records it did not hand out."""
        self.sync_position()
        done = self.handed_out()
        self.iterator.__setstate__(len(self.records))
        return self.records[done:]


class HighLevelConsumer:
    """A polling consumer of one or more topics (``client.consumer(...)``).

    ``HighLevelConsumer(client, "orders", "billing")`` or ``(client, topics=[...], group_id=...)``,
    plus any :class:`ConsumerConfig` option as a keyword (``auto_offset_reset="earliest"``,
    ``max_poll_records=100``, ``member_index=0, member_count=2``, ...); ``auto_commit`` is the
    seed's spelling of ``enable_auto_commit``.  Connects to the topics on construction; a topic that
    does not exist yet is looked up again every second while polling.

    ``deserializer`` / ``key_deserializer``: a codec name (``"json"``, ``"string"``, ``"avro"``, a
    plugin's), a codec object, a pydantic model class or a protobuf message class, resolved like
    ``client.consume_object(deserializer=...)``; each record's ``deserialized`` /
    ``deserialized_key`` then holds the decoded object (``value``/``key`` stay bytes).  A record
    that does not deserialize raises ``SerializationError`` (with its topic, partition and offset)
    once the records before it were returned; the position stays at it until a ``seek``.
    """

    _default_auto_commit = True

    def __init__(
        self,
        client: FlyMQClient,
        topics: str | Iterable[str] | None = None,
        group_id: str | None = None,
        *,
        config: ConsumerConfig | None = None,
        auto_commit: bool | None = None,
        deserializer: Any = None,
        key_deserializer: Any = None,
        **options: Any,
    ) -> None:
        self._topics = subscription_topics(topics)
        v.open_client(client, "HighLevelConsumer")
        self._config = cfg = build_consumer_config(
            config, group_id, auto_commit, options, default_auto_commit=self._default_auto_commit
        )
        self._client = client
        self._group_id = cfg.group_id
        self._id = next(_consumer_ids)
        self._lock = threading.RLock()
        self._wakeup = threading.Event()
        self._closed = False
        self._request_timeout = client.config.request_timeout
        self._fetcher = Fetcher(
            client,
            fetch_max_messages=cfg.fetch_max_messages,
            request_timeout=self._request_timeout,
            pipeline=build_pipeline(client._value_decoder, deserializer, key_deserializer),
        )
        #: Iteration: the chunk being handed out, and the chunks collected for it but not started.
        self._active: _Active | None = None
        self._held: deque[tuple[PartitionState, list[ConsumedMessage], int]] = deque()
        self._committed: dict[TopicPartition, int] = {}
        self._committed_lock = threading.Lock()
        self._committer = Committer(self._commit_now, name=f"pyflymq-consumer-{self._id}-commit")
        self._auto_commit = cfg.enable_auto_commit and self._group_id is not None
        self._commit_interval = cfg.auto_commit_interval_ms / 1000.0
        self._next_auto_commit = _monotonic() + self._commit_interval
        self._discovery = TopicDiscovery(self._id, cfg)
        for topic in self._topics:
            self._discover(topic, late=False)

    # ================================================================== properties

    @property
    def config(self) -> ConsumerConfig:
        """The validated options this consumer runs with (read-only: changing them means a new consumer)."""
        return self._config

    @property
    def group_id(self) -> str | None:
        """The consumer group whose offsets are committed; ``None`` for a group-less consumer."""
        return self._group_id

    @property
    def topics(self) -> list[str]:
        """The subscribed topics."""
        return list(self._topics)

    subscription = topics

    @property
    def closed(self) -> bool:
        """Whether ``close()`` has run; a closed consumer raises ``ConsumerClosedError``."""
        return self._closed

    def assignment(self) -> set[TopicPartition]:
        """The partitions this consumer reads (see :mod:`pyflymq_core.consumer.assignment`)."""
        with self._lock:
            return set(self._fetcher.states)

    # ================================================================== assignment

    def _discover(self, topic: str, late: bool = True) -> bool:
        """Look ``topic`` up and start reading its assigned partitions; ``False`` if it is missing.

        ``late``: the topic did not exist when the consumer was created (see
        :mod:`pyflymq_core.consumer.discovery`).
        """
        client = self._client
        try:
            metadata = client.cluster_metadata(topic)
        except TopicNotFoundError:
            metadata = None
        discovery = self._discovery
        assigned = discovery.assignment(topic, metadata)
        if assigned is None:
            return False
        tps = [tp for tp, _ in assigned]
        offsets, committed = start_offsets(client, self._group_id, tps, discovery.reset_policy(late))
        for tp, leader in assigned:
            self._fetcher.add(tp, offsets[tp], leader)
        with self._committed_lock:
            for tp in committed:
                self._committed[tp] = offsets[tp]
        discovery.found(topic, tps, offsets)
        return True

    # ================================================================== polling

    def poll(self, timeout_ms: float | None = 1000, max_records: int | None = None) -> list[ConsumedMessage]:
        """Records from the assigned partitions, waiting up to ``timeout_ms`` for some (``[]`` then;
        ``None`` waits until records arrive or the consumer is closed).

        At most ``max_records`` (default ``max_poll_records``).  Returning records advances the
        position past them (what ``commit()`` stores).  A FETCH still in flight when the time is up
        stays in flight (its answer is kept for the next call).  Raises the ``SerializationError``
        / ``DecryptionError`` of a record that could not be handled, once the records before it
        were returned (its position stays at it: ``seek(partition, error.offset + 1)`` skips it).
        """
        timeout, limit = poll_arguments(timeout_ms, max_records, self._config.max_poll_records)
        with self._lock:
            if self._closed:
                raise ConsumerClosedError("poll() on a closed consumer")
            self._settle_iteration()
            if timeout is None:
                chunks: list[tuple[PartitionState, list[ConsumedMessage]]] = []
                while not chunks and not self._closed:
                    chunks = self._poll_chunks(limit, ITER_WAIT_S)
            else:
                chunks = self._poll_chunks(limit, timeout)
            if not chunks:
                return []
            if len(chunks) == 1:
                state, records = chunks[0]
                state.position = records[-1].offset + 1
                return records
            out: list[ConsumedMessage] = []
            for state, records in chunks:
                state.position = records[-1].offset + 1
                out.extend(records)
            return out

    def _poll_chunks(self, limit: int, timeout: float) -> list[tuple[PartitionState, list[ConsumedMessage]]]:
        """Under the lock: buffered records, fetching and waiting until some arrive or ``timeout``."""
        fetcher = self._fetcher
        deadline = _monotonic() + timeout
        last_look = False
        client = self._client
        while True:
            if client.closed:  # permanent, unlike a lost connection: fetching again cannot help
                raise client._closed_error()
            now = _monotonic()
            if self._auto_commit and now >= self._next_auto_commit:
                self._auto_commit_now(now)
            for topic in self._discovery.due(now):
                self._discover(topic)
            failed = first_failure(fetcher.order)
            if failed is not None:
                raise failed.error.with_traceback(None)
            chunks = fetcher.collect(limit)
            fetcher.send_fetches(now, deadline)
            if chunks or self._closed:
                return chunks
            now = _monotonic()
            if now >= deadline:
                if fetcher.inflight and not last_look:
                    last_look = True  # take in the answers already there, leave the rest in flight
                    fetcher.wait_front(0.0)
                    continue
                return chunks
            wake_at = self._wake_at(deadline)
            if fetcher.inflight:
                fetcher.wait_front(max(wake_at - now, 0.0))
            elif wake_at > now:
                self._wakeup.wait(wake_at - now)

    def _wake_at(self, deadline: float) -> float:
        """When the poll loop must look again: an idle partition's next FETCH, a missing topic's
        next lookup, the next auto-commit, or the deadline."""
        wake_at = deadline
        next_fetch = self._fetcher.next_fetch_at()
        if next_fetch is not None:
            wake_at = min(wake_at, next_fetch)
        if self._discovery.pending:
            wake_at = min(wake_at, self._discovery.next_lookup)
        if self._auto_commit:
            wake_at = min(wake_at, self._next_auto_commit)
        return wake_at

    # ================================================================== iteration

    def __iter__(self) -> Iterator[ConsumedMessage]:
        """Yield records as they arrive, blocking while there are none, until :meth:`close`.

        The position advances record by record, so ``commit()`` inside the loop stores exactly what
        was yielded; records fetched but not yet yielded are kept when the loop stops early
        (``break``, a ``seek``, a ``pause``) and returned by the next ``poll`` or iteration.
        """
        return _chain(self._iteration_chunks())

    def _iteration_chunks(self) -> Iterator[Iterator[ConsumedMessage]]:
        """The chunks an iteration hands out, one list iterator each (``chain`` runs them in C)."""
        limit = self._config.max_poll_records
        held = self._held
        while True:
            with self._lock:
                self._settle_active()
                if self._closed:
                    return
                while held:
                    state, records, epoch = held.popleft()
                    if state.epoch != epoch:
                        continue  # a seek dropped them
                    if state.paused:
                        state.push_back(records, epoch)
                        continue
                    active = self._active = _Active(state, records)
                    break
                else:
                    held.extend(
                        (state, records, state.epoch)
                        for state, records in self._poll_chunks(limit, ITER_WAIT_S)
                    )
                    continue
            yield active.iterator

    def _settle_active(self) -> None:
        """Under the lock: end the chunk being iterated — position past what was handed out, the
        rest back into the partition's buffer."""
        active = self._active
        if active is None:
            return
        self._active = None
        active.state.push_back(active.cut(), active.epoch)

    def _settle_iteration(self) -> None:
        """Under the lock: end any iteration in progress (``poll`` after a ``break``): every record
        it took but did not hand out goes back to its partition's buffer, in order."""
        self._settle_active()
        held = self._held
        while held:
            state, records, epoch = held.pop()
            state.push_back(records, epoch)

    def _sync_positions(self) -> None:
        """Under the lock: bring the position of the partition being iterated up to date."""
        active = self._active
        if active is not None:
            active.sync_position()

    def _release(self, states: Iterable[PartitionState]) -> None:
        """Under the lock: before a seek or pause of ``states``, stop iterating a chunk of theirs."""
        active = self._active
        if active is not None and active.state in states:
            self._settle_active()

    # ================================================================== positions

    def _partitions(self, partitions: PartitionSpec | Iterable[PartitionSpec] | None) -> list[PartitionState]:
        """The states named by ``partitions`` (``None`` = every assigned partition)."""
        if partitions is None:
            return list(self._fetcher.order)
        return [self._state(item) for item in partition_specs(partitions)]

    def _state(self, spec: PartitionSpec, topic: str | None = None) -> PartitionState:
        tp = topic_partition(spec, topic, self._topics)
        states = self._fetcher.states
        state = states.get(tp)
        if state is None and tp.topic in self._discovery.pending:
            self._discover(tp.topic)
            state = states.get(tp)
        if state is None:
            raise not_assigned_error(tp, states)
        return state

    def _reset(self, states: list[PartitionState], offsets: Iterable[int]) -> None:
        self._release(states)
        for state, offset in zip(states, offsets, strict=True):
            state.reset(offset)

    def seek(self, partition: PartitionSpec, offset: int, topic: str | None = None) -> None:
        """Continue ``partition`` from ``offset`` (the next record returned has that offset)."""
        offset = v.check_offset(offset)
        with self._lock:
            self._reset([self._state(partition, topic)], [offset])

    def seek_to_beginning(self, partitions: PartitionSpec | Iterable[PartitionSpec] | None = None) -> None:
        """Continue from offset 0 (FlyMQ never truncates a log)."""
        with self._lock:
            states = self._partitions(partitions)
            self._reset(states, [0] * len(states))

    def seek_to_end(self, partitions: PartitionSpec | Iterable[PartitionSpec] | None = None) -> None:
        """Continue after the last record currently stored (only new records are returned)."""
        with self._lock:
            states = self._partitions(partitions)
            ends = end_offsets(self._client, [s.tp for s in states])
            self._reset(states, [ends[s.tp] for s in states])

    def position(self, partition: PartitionSpec, topic: str | None = None) -> int:
        """The offset of the next record ``poll()`` will return for ``partition``."""
        with self._lock:
            self._sync_positions()
            return self._state(partition, topic).position

    def end_offsets(
        self, partitions: PartitionSpec | Iterable[PartitionSpec] | None = None
    ) -> dict[TopicPartition, int]:
        """The offset the next record written to each partition will get."""
        with self._lock:
            tps = [s.tp for s in self._partitions(partitions)]
        return end_offsets(self._client, tps)

    def pause(self, partitions: PartitionSpec | Iterable[PartitionSpec] | None = None) -> None:
        """Stop fetching and returning records of ``partitions`` (their buffered records are kept)."""
        with self._lock:
            states = self._partitions(partitions)
            self._release(states)
            for state in states:
                state.paused = True

    def resume(self, partitions: PartitionSpec | Iterable[PartitionSpec] | None = None) -> None:
        """Undo :meth:`pause`."""
        with self._lock:
            for state in self._partitions(partitions):
                state.paused = False
                state.idle_until = 0.0

    def paused(self) -> set[TopicPartition]:
        """The paused partitions."""
        with self._lock:
            return {s.tp for s in self._fetcher.order if s.paused}

    def _failed_record(self, tp: TopicPartition) -> FailedRecord | None:
        """The record ``tp`` stopped at (decryption or deserialisation failed), if any."""
        with self._lock:
            state = self._fetcher.states.get(tp)
            return None if state is None else state.failed

    # ================================================================== commits

    def _offsets_to_commit(
        self, offsets: Mapping[Any, int] | None, *, changed_only: bool
    ) -> dict[TopicPartition, int]:
        if offsets is not None:
            result: dict[TopicPartition, int] = {}
            for spec, offset in offsets.items():
                result[self._state(spec).tp] = v.check_offset(offset)
            return result
        self._sync_positions()
        with self._committed_lock:
            committed = dict(self._committed)
        return {
            s.tp: s.position
            for s in self._fetcher.order
            if not changed_only or committed.get(s.tp) != s.position
        }

    def _commit_now(self, offsets: dict[TopicPartition, int]) -> None:
        """Store ``offsets`` (any thread) and remember them as committed."""
        if not offsets:
            return
        group = require_group(self._group_id, False, "commit()")  # close() commits after closing
        commit_offsets(self._client, group, offsets, self._request_timeout)
        with self._committed_lock:
            self._committed.update(offsets)

    def commit(self, offsets: Mapping[Any, int] | None = None) -> None:
        """Commit synchronously: the position of every assigned partition (the offset after the
        last record returned), or the given ``{partition: offset}`` (offset = next to read)."""
        require_group(self._group_id, self._closed, "commit()")
        offsets = commit_offsets_argument(offsets)
        with self._lock:
            todo = self._offsets_to_commit(offsets, changed_only=offsets is None)
        self._commit_now(todo)

    def commit_async(
        self, callback: CommitCallback | None = None, offsets: Mapping[Any, int] | None = None
    ) -> Future[dict[TopicPartition, int]]:
        """Commit on a background thread; returns at once.  ``callback(offsets, error)`` runs there
        when done (``error`` is ``None`` on success); the returned future has the same outcome."""
        require_group(self._group_id, self._closed, "commit_async()")
        offsets = commit_offsets_argument(offsets)
        v.check_callbacks("the consumer's commit thread", callback=callback)
        with self._lock:
            todo = self._offsets_to_commit(offsets, changed_only=offsets is None)
        return self._committer.submit(todo, callback)

    def _auto_commit_now(self, now: float) -> None:
        self._next_auto_commit = now + self._commit_interval
        todo = self._offsets_to_commit(None, changed_only=True)
        if todo:
            self._committer.submit(todo, None)

    def committed(self, partition: PartitionSpec, topic: str | None = None) -> int | None:
        """The offset this consumer last committed (or started from a commit) for ``partition``."""
        with self._lock:
            tp = self._state(partition, topic).tp
        with self._committed_lock:
            return self._committed.get(tp)

    # ================================================================== closing

    def close(self, timeout: float | None = None) -> None:
        """Stop consuming (idempotent; stops iteration in other threads).  With auto-commit, commits
        the positions first; waits up to ``timeout`` s for pending asynchronous commits."""
        if self._closed:
            return
        self._closed = True
        self._wakeup.set()
        error: BaseException | None = None
        with self._lock:
            try:
                self._settle_iteration()
                if self._auto_commit:
                    self._commit_now(self._offsets_to_commit(None, changed_only=True))
            except FlyMQError as exc:
                logger.warning("consumer %d: final commit failed: %s", self._id, exc)
                error = exc
            finally:
                if not self._committer.wait(timeout):
                    logger.warning("consumer %d: asynchronous commits still running after close()", self._id)
                self._committer.stop(0 if timeout is None else timeout)
                self._fetcher.abandon()
        if error is not None:
            raise error

    def __enter__(self) -> HighLevelConsumer:
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
        except FlyMQError as close_error:
            logger.error("closing the consumer after %s failed: %s", exc_type.__name__, close_error)

    def __repr__(self) -> str:
        state = "closed" if self._closed else f"{len(self._fetcher.states)} partitions"
        return f"<{type(self).__name__} #{self._id} {self._topics} group={self._group_id!r} {state}>"


class Consumer(HighLevelConsumer):
    """The seed's low-level consumer: ``Consumer(client, "topic", group_id="g")``.

    Same engine as :class:`HighLevelConsumer`, with manual offset management by default
    (``enable_auto_commit=False`` unless given): call :meth:`commit` when records are processed.
    ``partition=N`` reads only that partition.
    """

    _default_auto_commit = False

    def __init__(
        self,
        client: FlyMQClient,
        topic: str | Sequence[str],
        *,
        group_id: str | None = None,
        partition: int | None = None,
        config: ConsumerConfig | None = None,
        auto_commit: bool | None = None,
        **options: Any,
    ) -> None:
        if partition is not None:
            if "partitions" in options:
                raise ConfigurationError("give either partition or partitions, not both")
            options["partitions"] = (v.check_partition(partition),)
        super().__init__(client, topic, group_id, config=config, auto_commit=auto_commit, **options)
