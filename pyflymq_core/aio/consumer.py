"""``AsyncConsumer``: the asyncio high-level consumer (``consumer = client.consumer(topics, group)``).

The semantics of the sync :class:`pyflymq_core.consumer.HighLevelConsumer` (see its module and
docs/consumer.md) on one event loop, driving the same I/O-free definitions:
:mod:`~pyflymq_core.consumer.discovery` and :mod:`~pyflymq_core.consumer.assignment` (missing topics,
client-side assignment: all partitions, explicit ``partitions`` — each must exist — or static
membership ``member_index``/``member_count``), the start/end-offset plans of
:mod:`~pyflymq_core.consumer.offsets` (run by :func:`~pyflymq_core.consumer.offsets.run_plan_async`,
each batch pipelined), the per-partition state of :mod:`~pyflymq_core.consumer.buffer` and the
per-record pipeline of :mod:`~pyflymq_core.consumer.records` (decryption, ``deserializer=`` /
``key_deserializer=``; a record that fails is raised once the records before it were returned, its
position left at it):

* ``async for message in consumer`` and ``await consumer.poll(timeout_ms, max_records)``; returning a
  record advances its partition's *position* (the next offset to read), which is what a commit
  stores.  ``seek``/``seek_to_beginning``/``seek_to_end``/``position``/``pause``/``resume``/
  ``assignment``/``commit``/``commit_async``/``committed``/``end_offsets`` as in the sync consumer
  (coroutines where they may need the server).
* **Fetching**: one FETCH per partition in flight ahead of the application (prefetch, on the
  partition leader's connection in a cluster), at most about one response buffered per partition,
  sized like the sync consumer's; an idle partition is fetched again after a pause growing from 2 to
  50 ms; a lost connection means a 100 ms pause and a retry, not an error.  Partitions are served in
  turn (fairness).  FETCH and COMMIT go through the client's request path (``_execute``), so the
  lifecycle hooks see them.
* **Auto-commit** (``enable_auto_commit``, on by default): in the background from ``poll``/iteration
  every ``auto_commit_interval_ms``, and on ``close()`` — at-least-once.

One task uses a consumer at a time; ``close()`` ends an ``async for`` waiting in another task.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any

from pyflymq_core import validation as v
from pyflymq_core.client import calls
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
from pyflymq_core.consumer.buffer import (
    FetchFailures,
    PartitionBuffer,
    first_failure,
    take_round_robin,
)
from pyflymq_core.consumer.committer import COMMIT_ATTEMPTS, CommitCallback, commits_to_resend
from pyflymq_core.consumer.consumer import ConsumerClosedError, build_consumer_config
from pyflymq_core.consumer.discovery import METADATA_RETRY_S, TopicDiscovery
from pyflymq_core.consumer.offsets import end_offsets_plan, run_plan_async, start_offsets_plan
from pyflymq_core.consumer.records import build_pipeline
from pyflymq_core.errors import (
    ConnectionError,
    FlyMQError,
    InvalidArgumentError,
    TimeoutError,
    TopicNotFoundError,
)
from pyflymq_core.models import ConsumedMessage, FetchResult

if TYPE_CHECKING:
    from pyflymq_core.client.async_client import AsyncFlyMQClient
    from pyflymq_core.client.async_connection import AsyncConnection

__all__ = ["AsyncConsumer", "ConsumerClosedError", "TopicPartition"]

logger = logging.getLogger("pyflymq.consumer")

_monotonic = time.monotonic
_consumer_ids = itertools.count(1)
_EMPTY: list[ConsumedMessage] = []

Partitions = PartitionSpec | Iterable[PartitionSpec] | None


class _Partition(PartitionBuffer):
    """A :class:`~pyflymq_core.consumer.buffer.PartitionBuffer` plus the FETCH task in flight."""

    __slots__ = ("task", "task_epoch")

    def __init__(self, tp: TopicPartition, offset: int, leader: str | None, fetch_size: int) -> None:
        super().__init__(tp, offset, leader, fetch_size)
        self.task: asyncio.Task[tuple[FetchResult, int]] | None = None
        self.task_epoch = 0


class AsyncConsumer:
    """The asyncio high-level consumer: ``client.consumer("orders", "billing")`` or
    ``client.consumer(topics=[...], group_id=..., auto_commit=True)``, plus any
    :class:`ConsumerConfig` option as a keyword.  ``async with`` it, or ``await close()``.

    ``deserializer`` / ``key_deserializer`` as for the sync consumer: each record's
    ``deserialized`` / ``deserialized_key`` holds the decoded object; a record that does not
    deserialize raises ``SerializationError`` once the records before it were returned, and the
    position stays at it until a ``seek``.
    """

    _default_auto_commit = True

    def __init__(
        self,
        client: AsyncFlyMQClient,
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
        v.open_client(client, "AsyncConsumer")
        self._config = cfg = build_consumer_config(
            config, group_id, auto_commit, options, default_auto_commit=self._default_auto_commit
        )
        self._client = client
        self._group_id = cfg.group_id
        self._id = next(_consumer_ids)
        self._fetch_size = cfg.fetch_max_messages
        self._pipeline = build_pipeline(client._value_decoder, deserializer, key_deserializer)
        self._states: dict[TopicPartition, _Partition] = {}
        self._order: list[_Partition] = []
        self._rr = 0
        self._committed: dict[TopicPartition, int] = {}
        self._auto_commit = cfg.enable_auto_commit and self._group_id is not None
        self._commit_interval = cfg.auto_commit_interval_ms / 1000.0
        self._next_auto_commit = 0.0
        self._commits: set[asyncio.Task[dict[TopicPartition, int]]] = set()
        self._discovery = TopicDiscovery(self._id, cfg)
        self._failures = FetchFailures()
        self._started = False
        self._start_lock: asyncio.Lock | None = None
        self._closed = False
        self._wakeup: asyncio.Future[None] | None = None
        #: ``async for`` state: records taken from one partition and not yet yielded.
        self._chunk: list[ConsumedMessage] = _EMPTY
        self._chunk_index = 0
        self._chunk_state: _Partition | None = None
        self._chunk_epoch = 0
        self._chunks: list[tuple[_Partition, list[ConsumedMessage]]] = []

    # ================================================================== properties and lifecycle

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

    async def start(self) -> AsyncConsumer:
        """Look the topics up, assign partitions and resolve start offsets (otherwise done by the
        first call that needs them).  Idempotent."""
        if self._started:
            return self
        if self._closed:
            raise ConsumerClosedError("the consumer is closed")
        if self._start_lock is None:
            self._start_lock = asyncio.Lock()
        async with self._start_lock:
            if not self._started:
                for topic in self._topics:
                    await self._discover(topic, late=False)
                self._discovery.next_lookup = _monotonic() + METADATA_RETRY_S
                self._next_auto_commit = _monotonic() + self._commit_interval
                self._started = True
        return self

    async def close(self, timeout: float | None = None) -> None:
        """Stop consuming (idempotent; ends an ``async for`` in another task).  With auto-commit,
        commits the positions first; waits up to ``timeout`` s for commits still running."""
        if self._closed:
            return
        self._closed = True
        self._wake()
        error: FlyMQError | None = None
        try:
            if self._auto_commit and self._started:
                await self._commit_now(self._offsets_to_commit(None, changed_only=True))
        except FlyMQError as exc:
            logger.warning("consumer %d: final commit failed: %s", self._id, exc)
            error = exc
        finally:
            if self._commits:
                _, running = await asyncio.wait(list(self._commits), timeout=timeout)
                for task in running:
                    task.cancel()
                if running:
                    logger.warning("consumer %d: commits still running after close()", self._id)
            fetches = [s.task for s in self._order if s.task is not None]
            for state in self._order:
                state.task = None
            for fetch in fetches:
                fetch.cancel()  # the connection reads and drops their answers
            if fetches:
                await asyncio.wait(fetches)
        if error is not None:
            raise error

    async def __aenter__(self) -> AsyncConsumer:
        return await self.start()

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
        except FlyMQError as close_error:
            logger.error("closing the consumer after %s failed: %s", exc_type.__name__, close_error)

    def __repr__(self) -> str:
        state = "closed" if self._closed else f"{len(self._states)} partitions"
        return f"<AsyncConsumer #{self._id} {self._topics} group={self._group_id!r} {state}>"

    # ================================================================== assignment and start offsets

    async def _discover(self, topic: str, late: bool = True) -> bool:
        """Look ``topic`` up and start reading its assigned partitions; ``False`` if it is missing.

        ``late``: the topic appeared after the consumer started (see
        :mod:`pyflymq_core.consumer.discovery`).
        """
        client = self._client
        try:
            metadata = await client.cluster_metadata(topic)
        except TopicNotFoundError:
            metadata = None
        discovery = self._discovery
        assigned = discovery.assignment(topic, metadata)
        if assigned is None:
            return False
        tps = [tp for tp, _ in assigned]
        plan = start_offsets_plan(self._group_id, tps, discovery.reset_policy(late))
        offsets, committed = await run_plan_async(client, plan)
        for tp, leader in assigned:
            state = _Partition(tp, offsets[tp], leader, self._fetch_size)
            self._states[tp] = state
            self._order.append(state)
        for tp in committed:
            self._committed[tp] = offsets[tp]
        discovery.found(topic, tps, offsets)
        return True

    async def _discover_pending(self, now: float, *, now_or_never: bool = False) -> None:
        """Look the missing topics up when due (``now_or_never``: at once, e.g. before a seek)."""
        discovery = self._discovery
        for topic in list(discovery.pending) if now_or_never else discovery.due(now):
            await self._discover(topic)

    async def _end_offsets(self, tps: Sequence[TopicPartition]) -> dict[TopicPartition, int]:
        """The offset the next record of each partition will get (0 for an empty partition)."""
        return await run_plan_async(self._client, end_offsets_plan(tps))

    # ================================================================== fetching

    async def _connection(self, state: _Partition) -> AsyncConnection:
        client = self._client
        primary = await client._primary_connection()
        address = client._read_address(state.leader, primary)
        if address is None:
            return primary
        try:
            return await client._connection_to(address)
        except (ConnectionError, TimeoutError) as exc:
            client._leader_unreadable(address, exc, primary, state.tp)
            return primary

    async def _fetch(self, state: _Partition, offset: int, size: int) -> tuple[FetchResult, int]:
        """One FETCH on the partition's connection: its result and the answer's payload size (to
        size the next one, as the sync fetcher does).  No retry here: a lost connection pauses
        the partition (:class:`FetchFailures`), and the next FETCH reconnects."""
        call = calls.fetch(state.topic, state.partition, offset, size)
        client = self._client
        started, frame = await client._answer(await self._connection(state), call)
        return client.observer.completed(started, call, frame), len(frame[2])

    def _send_fetches(self, now: float) -> None:
        """Start a FETCH for every partition with none in flight and room to buffer."""
        for state in self._order:
            if state.task is None and state.wants_fetch(now):
                state.task_epoch = state.epoch
                state.task = asyncio.ensure_future(self._fetch(state, state.fetch_offset, state.fetch_size))

    def _take_answered(self) -> None:
        """Take in every finished FETCH; raise a failure that is not a lost connection."""
        now = _monotonic()
        error: BaseException | None = None
        pipeline = self._pipeline
        for state in self._order:
            task = state.task
            if task is None or not task.done():
                continue
            state.task = None
            if task.cancelled():
                continue
            exc = task.exception()
            if isinstance(exc, (ConnectionError, TimeoutError)):
                self._failures.back_off(state, exc, now)
                continue
            if exc is not None:
                error = error or exc
                continue
            if state.task_epoch != state.epoch:
                continue  # a seek happened while this FETCH was in flight
            result, answer_bytes = task.result()
            messages = result.messages
            size = (answer_bytes, len(messages), self._fetch_size)
            failed = None
            if pipeline is not None and messages:
                messages, failed = pipeline.apply(messages)
            state.take_in(messages, result.next_offset, failed, now, size)
        if error is not None:
            raise error

    def _collect(self, max_records: int) -> list[tuple[_Partition, list[ConsumedMessage]]]:
        """Up to ``max_records`` buffered records, partitions taken in turn (fairness)."""
        chunks, self._rr = take_round_robin(self._order, self._rr, max_records)
        return chunks

    def _wake(self) -> None:
        wakeup = self._wakeup
        if wakeup is not None and not wakeup.done():
            wakeup.set_result(None)

    async def _poll_chunks(
        self, limit: int, timeout: float | None
    ) -> list[tuple[_Partition, list[ConsumedMessage]]]:
        """Buffered records, fetching and waiting until some arrive, ``timeout`` s pass or close()."""
        if not self._started:
            await self.start()
        deadline = None if timeout is None else _monotonic() + timeout
        client = self._client
        while True:
            if client.closed:  # permanent, unlike a lost connection: fetching again cannot help
                raise client._closed_error()
            now = _monotonic()
            if self._auto_commit and now >= self._next_auto_commit:
                self._auto_commit_now(now)
            if self._discovery.pending:
                await self._discover_pending(now)
            self._take_answered()
            failed = first_failure(self._order)
            if failed is not None:
                raise failed.error.with_traceback(None)
            chunks = self._collect(limit)
            self._send_fetches(now)
            if chunks or self._closed:
                return chunks
            now = _monotonic()
            if deadline is not None and now >= deadline:
                return chunks
            wake_at = deadline
            idle = [s.idle_until for s in self._order if not s.paused and s.task is None and s.failed is None]
            if idle:
                wake_at = min(idle) if wake_at is None else min(wake_at, min(idle))
            if self._discovery.pending:
                next_lookup = self._discovery.next_lookup
                wake_at = next_lookup if wake_at is None else min(wake_at, next_lookup)
            if self._auto_commit:
                wake_at = self._next_auto_commit if wake_at is None else min(wake_at, self._next_auto_commit)
            waiter = self._wakeup = asyncio.get_running_loop().create_future()
            tasks: list[asyncio.Future[Any]] = [s.task for s in self._order if s.task is not None]
            tasks.append(waiter)
            try:
                await asyncio.wait(
                    tasks,
                    timeout=None if wake_at is None else max(0.0, wake_at - now),
                    return_when=asyncio.FIRST_COMPLETED,
                )
            finally:
                self._wakeup = None
                if not waiter.done():
                    waiter.cancel()

    # ================================================================== consuming

    async def poll(
        self, timeout_ms: float | None = 1000, max_records: int | None = None
    ) -> list[ConsumedMessage]:
        """Records from the assigned partitions, waiting up to ``timeout_ms`` for some (``[]`` then;
        ``None`` waits until records arrive or the consumer is closed).

        At most ``max_records`` (default ``max_poll_records``).  Returning records advances the
        position past them (what ``commit()`` stores).  Raises the ``SerializationError`` /
        ``DecryptionError`` of a record that could not be handled, once the records before it were
        returned (its position stays at it: ``seek(partition, error.offset + 1)`` skips it).
        """
        if self._closed:
            raise ConsumerClosedError("poll() on a closed consumer")
        timeout, limit = poll_arguments(timeout_ms, max_records, self._config.max_poll_records)
        self._push_back_chunks()
        chunks = await self._poll_chunks(limit, timeout)
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

    def __aiter__(self) -> AsyncIterator[ConsumedMessage]:
        """``async for message in consumer``: records as they arrive, until :meth:`close`.

        The position advances record by record, so ``commit()`` inside the loop stores exactly what
        was yielded; records fetched but not yet yielded are kept when the loop stops early.  The
        iteration state lives in the consumer (the async generator returned here only drives it, as
        fast as Python iterates), so leaving a loop and polling or iterating again loses nothing.
        """
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[ConsumedMessage]:
        while True:
            state = self._chunk_state
            if state is not None:
                chunk = self._chunk
                epoch = self._chunk_epoch
                index = self._chunk_index
                end = len(chunk)
                while index < end and state.epoch == epoch and not state.paused:
                    message = chunk[index]
                    index += 1
                    self._chunk_index = index
                    state.position = message.offset + 1
                    yield message
                    if self._chunk_state is not state:  # a poll() took the chunk back meanwhile
                        break
                if self._chunk_state is state:
                    state.push_back(chunk[self._chunk_index :], epoch)
                    self._chunk_state = None
                    self._chunk = _EMPTY
            if self._chunks:
                state, self._chunk = self._chunks.pop(0)
                self._chunk_state, self._chunk_index, self._chunk_epoch = state, 0, state.epoch
                continue
            if self._closed:
                return
            self._chunks = await self._poll_chunks(self._config.max_poll_records, None)

    async def __anext__(self) -> ConsumedMessage:
        """The next record (waits as long as needed); ``StopAsyncIteration`` once closed."""
        while True:
            state = self._chunk_state
            if state is not None:
                chunk = self._chunk
                index = self._chunk_index
                if index < len(chunk) and state.epoch == self._chunk_epoch and not state.paused:
                    message = chunk[index]
                    self._chunk_index = index + 1
                    state.position = message.offset + 1
                    return message
                state.push_back(chunk[index:], self._chunk_epoch)
                self._chunk_state = None
                self._chunk = _EMPTY
            if self._chunks:
                state, self._chunk = self._chunks.pop(0)
                self._chunk_state, self._chunk_index, self._chunk_epoch = state, 0, state.epoch
                continue
            if self._closed:
                raise StopAsyncIteration
            self._chunks = await self._poll_chunks(self._config.max_poll_records, None)

    def _push_back_chunks(self) -> None:
        """``poll`` after an interrupted ``async for``: give back what the iteration held."""
        state = self._chunk_state
        if state is not None:
            state.push_back(self._chunk[self._chunk_index :], self._chunk_epoch)
            self._chunk_state, self._chunk = None, _EMPTY
        for held, records in reversed(self._chunks):
            held.push_back(records, held.epoch)
        self._chunks = []

    # ================================================================== positions

    def _state(self, spec: PartitionSpec, topic: str | None = None) -> _Partition:
        tp = topic_partition(spec, topic, self._topics)
        state = self._states.get(tp)
        if state is None:
            raise not_assigned_error(tp, self._states)
        return state

    async def _partitions(self, partitions: Partitions) -> list[_Partition]:
        await self.start()
        if self._discovery.pending:
            await self._discover_pending(_monotonic(), now_or_never=True)
        if partitions is None:
            return list(self._order)
        return [self._state(item) for item in partition_specs(partitions)]

    async def _one(self, partition: PartitionSpec, topic: str | None) -> _Partition:
        await self.start()
        try:
            return self._state(partition, topic)
        except InvalidArgumentError:
            if not self._discovery.pending:
                raise
            await self._discover_pending(_monotonic(), now_or_never=True)
            return self._state(partition, topic)

    async def assignment(self) -> set[TopicPartition]:
        """The partitions this consumer reads."""
        await self.start()
        return set(self._states)

    async def seek(self, partition: PartitionSpec, offset: int, topic: str | None = None) -> None:
        """Continue ``partition`` from ``offset`` (the next record returned has that offset)."""
        offset = v.check_offset(offset)
        (await self._one(partition, topic)).reset(offset)

    async def seek_to_beginning(self, partitions: Partitions = None) -> None:
        """Continue from offset 0 (FlyMQ never truncates a log)."""
        for state in await self._partitions(partitions):
            state.reset(0)

    async def seek_to_end(self, partitions: Partitions = None) -> None:
        """Continue after the last record currently stored (only new records are returned)."""
        states = await self._partitions(partitions)
        ends = await self._end_offsets([s.tp for s in states])
        for state in states:
            state.reset(ends[state.tp])

    async def position(self, partition: PartitionSpec, topic: str | None = None) -> int:
        """The offset of the next record ``poll()`` will return for ``partition``."""
        return (await self._one(partition, topic)).position

    async def end_offsets(self, partitions: Partitions = None) -> dict[TopicPartition, int]:
        """The offset the next record written to each partition will get."""
        return await self._end_offsets([s.tp for s in await self._partitions(partitions)])

    async def pause(self, partitions: Partitions = None) -> None:
        """Stop fetching and returning records of ``partitions`` (their buffered records are kept)."""
        for state in await self._partitions(partitions):
            state.paused = True

    async def resume(self, partitions: Partitions = None) -> None:
        """Undo :meth:`pause`."""
        for state in await self._partitions(partitions):
            state.paused = False
            state.idle_until = 0.0
        self._wake()

    def paused(self) -> set[TopicPartition]:
        """The paused partitions."""
        return {s.tp for s in self._order if s.paused}

    # ================================================================== commits

    def _offsets_to_commit(
        self, offsets: Mapping[Any, int] | None, *, changed_only: bool
    ) -> dict[TopicPartition, int]:
        if offsets is not None:
            return {self._state(spec).tp: v.check_offset(offset) for spec, offset in offsets.items()}
        committed = self._committed
        return {
            s.tp: s.position for s in self._order if not changed_only or committed.get(s.tp) != s.position
        }

    async def _commit_now(self, offsets: dict[TopicPartition, int]) -> dict[TopicPartition, int]:
        """Store ``offsets`` (pipelined) and remember them as committed.

        COMMIT stores an absolute value, so offsets whose answer was lost are sent once more before
        the commit fails (as the sync consumer does).
        """
        if not offsets:
            return offsets
        group = require_group(self._group_id, False, "commit()")  # close() commits after closing
        client = self._client
        todo = list(offsets.items())
        for attempt in range(1, COMMIT_ATTEMPTS + 1):
            outcomes = await asyncio.gather(
                *(client._execute(calls.commit_offset(tp.topic, group, tp.partition, o)) for tp, o in todo),
                return_exceptions=True,
            )
            failures = [
                (item, o) for item, o in zip(todo, outcomes, strict=True) if isinstance(o, BaseException)
            ]
            if not failures:
                break
            todo = commits_to_resend(failures, attempt)
        self._committed.update(offsets)
        return offsets

    async def commit(self, offsets: Mapping[Any, int] | None = None) -> None:
        """Commit: the position of every assigned partition (the offset after the last record
        returned), or the given ``{partition: offset}`` (offset = next to read)."""
        require_group(self._group_id, self._closed, "commit()")
        offsets = commit_offsets_argument(offsets)
        await self.start()
        await self._commit_now(self._offsets_to_commit(offsets, changed_only=offsets is None))

    def commit_async(
        self, callback: CommitCallback | None = None, offsets: Mapping[Any, int] | None = None
    ) -> asyncio.Future[dict[TopicPartition, int]]:
        """Commit in the background; returns at once.  ``callback(offsets, error)`` runs when done
        (``error`` is ``None`` on success); the returned future has the same outcome."""
        require_group(self._group_id, self._closed, "commit_async()")
        offsets = commit_offsets_argument(offsets)
        v.check_callbacks("the event loop", callback=callback)
        todo = self._offsets_to_commit(offsets, changed_only=offsets is None)
        return self._submit_commit(todo, callback)

    def _submit_commit(
        self, todo: dict[TopicPartition, int], callback: CommitCallback | None
    ) -> asyncio.Task[dict[TopicPartition, int]]:
        task = asyncio.ensure_future(self._commit_now(todo))
        self._commits.add(task)

        def done(finished: asyncio.Task[dict[TopicPartition, int]]) -> None:
            self._commits.discard(finished)
            if finished.cancelled():
                return
            error = finished.exception()
            if callback is not None:
                try:
                    callback(todo, error if isinstance(error, Exception) else None)
                except Exception:
                    logger.exception("commit callback %r raised", callback)
            elif error is not None:
                logger.warning("consumer %d: background commit failed: %s", self._id, error)

        task.add_done_callback(done)
        return task

    def _auto_commit_now(self, now: float) -> None:
        self._next_auto_commit = now + self._commit_interval
        todo = self._offsets_to_commit(None, changed_only=True)
        if todo:
            self._submit_commit(todo, None)

    async def committed(self, partition: PartitionSpec, topic: str | None = None) -> int | None:
        """The offset this consumer last committed (or started from a commit) for ``partition``."""
        return self._committed.get((await self._one(partition, topic)).tp)
