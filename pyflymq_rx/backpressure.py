"""Bounded buffers between a fetch loop and a slower subscriber, and what to do when they are full.

The fetch loop reads from the server as fast as it can; a subscriber may be slower.  Between them is
always a bounded buffer (``buffer_size`` messages) — never an unbounded queue — and a policy for the
moment it is full:

* ``block`` (default): the fetch loop waits for room.  Nothing is lost; fetching simply follows the
  subscriber's pace (the server keeps the rest).
* ``drop_oldest``: the oldest buffered message is dropped to make room (counted in ``dropped`` and
  logged).  The stream stays live; dropped messages are skipped — the consumer's committed offset
  moves past them once a later message of the same partition is delivered.
* ``error``: the stream fails with :class:`~pyflymq_core.errors.BufferFullError` (delivered to
  ``on_error`` / raised from ``async for`` after the messages already buffered).

:class:`BoundedBuffer` holds the policy logic (no locking); :class:`ThreadBuffer` and
:class:`AsyncBuffer` add the waiting, for threads and for asyncio.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Generic, TypeVar

from pyflymq_core.errors import BufferFullError, ConfigurationError

__all__ = ["AsyncBuffer", "Backpressure", "BoundedBuffer", "ThreadBuffer", "backpressure_policy"]

logger = logging.getLogger("pyflymq.rx")

T = TypeVar("T")

#: Default bound of the buffers, in messages.
DEFAULT_BUFFER_SIZE = 1000


class Backpressure(str, enum.Enum):
    """What a full buffer does (see the module documentation)."""

    BLOCK = "block"
    DROP_OLDEST = "drop_oldest"
    ERROR = "error"


def backpressure_policy(value: Backpressure | str) -> Backpressure:
    """``"block"`` / ``"drop_oldest"`` / ``"error"`` (or the enum) -> :class:`Backpressure`."""
    try:
        return Backpressure(value)
    except ValueError:
        raise ConfigurationError(
            f"unknown backpressure policy {value!r}",
            hint="Use 'block' (default), 'drop_oldest' or 'error'.",
        ) from None


def _check_size(size: int) -> int:
    if isinstance(size, bool) or not isinstance(size, int) or size <= 0:
        raise ConfigurationError(f"buffer_size must be a positive int, got {size!r}")
    return size


class BoundedBuffer(Generic[T]):
    """A FIFO of at most ``maxsize`` items applying ``policy`` when full.  Not thread-safe."""

    def __init__(
        self, maxsize: int = DEFAULT_BUFFER_SIZE, policy: Backpressure | str = Backpressure.BLOCK
    ) -> None:
        self.maxsize = _check_size(maxsize)
        self.policy = backpressure_policy(policy)
        self._items: deque[T] = deque()
        #: Messages discarded by ``drop_oldest``.
        self.dropped = 0

    def __len__(self) -> int:
        return len(self._items)

    def full(self) -> bool:
        """Whether the next :meth:`offer` meets the policy."""
        return len(self._items) >= self.maxsize

    def offer(self, item: T) -> bool:
        """Add ``item``; ``False`` when full under ``block`` (wait for room and offer again).

        Raises :class:`BufferFullError` when full under ``error``.
        """
        items = self._items
        if len(items) < self.maxsize:
            items.append(item)
            return True
        if self.policy is Backpressure.DROP_OLDEST:
            items.popleft()
            items.append(item)
            self.dropped += 1
            if self.dropped == 1 or self.dropped % 1000 == 0:
                logger.warning(
                    "subscriber too slow: %d message(s) dropped so far (backpressure=drop_oldest, "
                    "buffer_size=%d)",
                    self.dropped,
                    self.maxsize,
                )
            return True
        if self.policy is Backpressure.ERROR:
            raise BufferFullError(
                f"the subscriber fell {self.maxsize} messages behind (backpressure='error')",
                hint="Process messages faster, raise buffer_size, or use backpressure='block' "
                "(fetching waits) or 'drop_oldest' (old messages are skipped).",
            )
        return False

    def take(self) -> T:
        """The oldest item (``IndexError`` when empty)."""
        return self._items.popleft()

    def clear(self) -> int:
        """Drop everything buffered; how many items that was."""
        count = len(self._items)
        self._items.clear()
        return count


_END = object()


class _Stream(Generic[T]):
    """What the thread and asyncio buffers share: the bounded buffer and how the stream ended.

    The end is sticky and the first error wins; the error is handed out once, after the items
    still buffered, so the subscriber sees every message that was fetched before the failure.
    """

    def __init__(self, maxsize: int, policy: Backpressure | str) -> None:
        self._buffer: BoundedBuffer[T] = BoundedBuffer(maxsize, policy)
        self._finished = False
        self._error: BaseException | None = None

    @property
    def dropped(self) -> int:
        """Messages discarded by ``drop_oldest``."""
        return self._buffer.dropped

    def __len__(self) -> int:
        return len(self._buffer)

    @property
    def pending_error(self) -> BaseException | None:
        """The error the stream was finished with, not yet handed out."""
        return self._error

    def _end(self, error: BaseException | None, discard: bool) -> int:
        """Mark the stream finished (the first error wins); how many items ``discard`` dropped."""
        dropped = self._buffer.clear() if discard else 0
        if not self._finished:
            self._finished = True
            self._error = error
        return dropped

    def _take_error(self) -> BaseException | None:
        """The finishing error, once (later calls see a clean end)."""
        error, self._error = self._error, None
        return error


class ThreadBuffer(_Stream[T]):
    """:class:`BoundedBuffer` shared by a producing thread (or loop) and one consuming thread.

    ``on_space`` is called (outside the lock, on the consuming thread) when an item is taken from a
    full buffer: the ``block`` policy's producer uses it to wake up.  ``finish(error)`` ends the
    stream: the consumer gets the items still buffered, then the error (or the end).
    """

    def __init__(
        self,
        maxsize: int = DEFAULT_BUFFER_SIZE,
        policy: Backpressure | str = Backpressure.BLOCK,
        on_space: Callable[[], None] | None = None,
    ) -> None:
        super().__init__(maxsize, policy)
        self._cond = threading.Condition()
        self._on_space = on_space

    def offer(self, item: T) -> bool:
        """Non-blocking add (see :meth:`BoundedBuffer.offer`)."""
        with self._cond:
            if self._finished:
                return True  # the stream is over: nothing to deliver to
            added = self._buffer.offer(item)
            if added:
                self._cond.notify()
            return added

    def put(self, item: T, timeout: float | None = None) -> bool:
        """Blocking add for a producing *thread*: waits for room under ``block``; ``False`` on
        timeout or when the stream finished meanwhile."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while True:
                if self._finished:
                    return False
                if self._buffer.offer(item):
                    self._cond.notify()
                    return True
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                self._cond.wait(remaining)

    def get(self, timeout: float | None = None) -> T | object:
        """The next item; :data:`END` when the stream finished without error and is drained;
        :data:`EMPTY` after ``timeout``.  Raises the finishing error once drained."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while not len(self._buffer):
                if self._finished:
                    error = self._take_error()
                    if error is not None:
                        raise error
                    return END
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return EMPTY
                self._cond.wait(remaining)
            was_full = self._buffer.full()
            item = self._buffer.take()
            if was_full:
                self._cond.notify_all()  # a thread blocked in put()
        if was_full and self._on_space is not None:
            self._on_space()
        return item

    def finish(self, error: BaseException | None = None, *, discard: bool = False) -> int:
        """End the stream (idempotent; the first error wins); ``discard`` drops what is buffered.
        Returns how many buffered items were discarded."""
        with self._cond:
            dropped = self._end(error, discard)
            self._cond.notify_all()
        if self._on_space is not None:
            self._on_space()
        return dropped


class AsyncBuffer(_Stream[T]):
    """:class:`BoundedBuffer` between two tasks of one event loop."""

    def __init__(
        self, maxsize: int = DEFAULT_BUFFER_SIZE, policy: Backpressure | str = Backpressure.BLOCK
    ) -> None:
        super().__init__(maxsize, policy)
        self._readable: asyncio.Future[None] | None = None
        self._writable: asyncio.Future[None] | None = None

    @staticmethod
    def _wake(future: asyncio.Future[None] | None) -> None:
        if future is not None and not future.done():
            future.set_result(None)

    async def put(self, item: T, timeout: float | None = None) -> bool | None:
        """Add ``item``, waiting for room under ``block``; ``False`` when the stream finished,
        ``None`` when ``timeout`` s passed without room (nothing was added: call again)."""
        while True:
            if self._finished:
                return False
            if self._buffer.offer(item):
                self._wake(self._readable)
                return True
            waiter = self._writable = asyncio.get_running_loop().create_future()
            try:
                done, _ = await asyncio.wait((waiter,), timeout=timeout)
            finally:
                self._writable = None
            if not done:
                return None

    async def get(self) -> T:
        """The next item; ``StopAsyncIteration`` at the end, or the finishing error once drained."""
        while not len(self._buffer):
            if self._finished:
                error = self._take_error()
                if error is not None:
                    raise error
                raise StopAsyncIteration
            waiter = self._readable = asyncio.get_running_loop().create_future()
            try:
                await waiter
            finally:
                self._readable = None
        item = self._buffer.take()
        self._wake(self._writable)
        return item

    def finish(self, error: BaseException | None = None, *, discard: bool = False) -> int:
        """End the stream (idempotent; the first error wins); ``discard`` drops what is buffered."""
        dropped = self._end(error, discard)
        self._wake(self._readable)
        self._wake(self._writable)
        return dropped


#: :meth:`ThreadBuffer.get` results.
END = _END
EMPTY = object()
