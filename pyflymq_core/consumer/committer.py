"""Committing offsets: pipelined COMMIT requests, and a background thread for ``commit_async``.

The COMMITs are written to the connection directly (one batch per commit) and still go through the
client's request counters and lifecycle hooks (``pyflymq_before_request`` /
``pyflymq_after_response``).

COMMIT stores an absolute value (the next offset to read), so sending it twice is harmless; a
commit whose answer was lost is therefore sent once more on a fresh connection before it fails.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future
from concurrent.futures import wait as futures_wait
from typing import TYPE_CHECKING, Any, TypeVar

from pyflymq_core.client import calls
from pyflymq_core.client.calls import Call
from pyflymq_core.client.connection import PendingResponse
from pyflymq_core.consumer.assignment import TopicPartition
from pyflymq_core.errors import ConnectionError, FlyMQError, TimeoutError

if TYPE_CHECKING:
    from pyflymq_core.client.sync_client import FlyMQClient

__all__ = ["COMMIT_ATTEMPTS", "CommitCallback", "Committer", "commit_offsets", "commits_to_resend"]

T = TypeVar("T")

#: A commit is sent at most this many times (see the module docstring).
COMMIT_ATTEMPTS = 2

logger = logging.getLogger("pyflymq.consumer")

#: ``callback(offsets, error)``: ``error`` is ``None`` when every offset was stored.
CommitCallback = Callable[[dict[TopicPartition, int], "Exception | None"], Any]


def commit_offsets(
    client: FlyMQClient, group_id: str, offsets: Mapping[TopicPartition, int], timeout: float
) -> None:
    """Store ``offsets`` for ``group_id`` (pipelined); raises the first failure."""
    todo = [calls.commit_offset(tp.topic, group_id, tp.partition, offset) for tp, offset in offsets.items()]
    for attempt in range(1, COMMIT_ATTEMPTS + 1):
        failures = _send_commits(client, todo, timeout)
        if not failures:
            return
        todo = commits_to_resend(failures, attempt)


def commits_to_resend(failures: Sequence[tuple[T, BaseException]], attempt: int) -> list[T]:
    """After attempt ``attempt`` of a commit, the commits to send again: those lost on the way
    (connection loss, timeout) while attempts remain — COMMIT stores an absolute value, so a second
    copy is harmless.  Raises the first failure when the commit fails for good: a server error, or
    no attempt left.  The decision of both consumers (the I/O is theirs)."""
    first = failures[0][1]
    retriable = [item for item, error in failures if isinstance(error, (ConnectionError, TimeoutError))]
    if attempt >= COMMIT_ATTEMPTS or len(retriable) != len(failures):
        raise first
    logger.info("committing %d offset(s) failed (%s); sending them again", len(retriable), first)
    return retriable


def _send_commits(
    client: FlyMQClient, todo: list[Call[None]], timeout: float
) -> list[tuple[Call[None], FlyMQError]]:
    """Write every COMMIT, then collect the answers; the failures, in order.

    The requests go to the connection directly (pipelined), so they are counted and reported to the
    lifecycle hooks through the client's :class:`~pyflymq_core.client.observer.RequestObserver`,
    like any request.
    """
    observer = client.observer
    failures: list[tuple[Call[None], FlyMQError]] = []
    sent: list[tuple[Call[None], PendingResponse, float]] = []
    # Not connecting is not a lost COMMIT: the client already searched every server for
    # (1 + max_retries) rounds, and a second search would only double the wait.
    conn = client._primary_connection()
    try:
        for call in todo:
            started = observer.start(call)
            try:
                pending = conn.submit(call.op, call.payload, timeout=timeout)
            except FlyMQError as exc:
                observer.end(started, call, None, exc)
                raise
            sent.append((call, pending, started))
    except FlyMQError as exc:
        failures.extend((call, exc) for call in todo[len(sent) :])
    for call, pending, started in sent:
        try:
            try:
                frame = pending.wait(timeout)
            except FlyMQError as exc:
                observer.end(started, call, None, exc)
                raise
            observer.completed(started, call, frame)  # raises the server's error, observed
        except FlyMQError as exc:
            failures.append((call, exc))
    return failures


class Committer:
    """Runs asynchronous commits in order on one lazily started daemon thread."""

    def __init__(self, commit: Callable[[dict[TopicPartition, int]], None], name: str) -> None:
        self._commit = commit
        self._name = name
        self._jobs: queue.SimpleQueue[
            tuple[dict[TopicPartition, int], CommitCallback | None, Future[dict[TopicPartition, int]]] | None
        ] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._last: Future[dict[TopicPartition, int]] | None = None

    def submit(
        self, offsets: dict[TopicPartition, int], callback: CommitCallback | None
    ) -> Future[dict[TopicPartition, int]]:
        """Queue a commit of ``offsets`` for the worker thread; the future (and ``callback``) get its
        outcome, so ``commit_async`` never blocks the poll loop."""
        future: Future[dict[TopicPartition, int]] = Future()
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
                self._thread.start()
            self._last = future
            self._jobs.put((offsets, callback, future))
        return future

    def wait(self, timeout: float | None) -> bool:
        """Wait until every commit submitted so far has finished (their errors are the futures');
        ``False`` if some are still running after ``timeout`` seconds."""
        last = self._last
        if last is None:
            return True
        done, _ = futures_wait([last], timeout)
        return bool(done)

    def stop(self, timeout: float | None) -> None:
        """Finish the queued commits (up to ``timeout`` s) and end the worker thread."""
        with self._lock:
            thread = self._thread
            if thread is None:
                return
            self._jobs.put(None)
        thread.join(timeout)

    def _run(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            offsets, callback, future = job
            error: Exception | None = None
            try:
                self._commit(offsets)
            except Exception as exc:
                error = exc
                logger.warning("asynchronous commit of %d offset(s) failed: %s", len(offsets), exc)
                future.set_exception(exc)
            else:
                future.set_result(offsets)
            if callback is not None:
                try:
                    callback(offsets, error)
                except Exception:
                    logger.exception("commit_async callback %r raised", callback)
