"""The bounded buffers of pyflymq_rx and their three policies (block, drop_oldest, error)."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from pyflymq_core.errors import BufferFullError, ConfigurationError
from pyflymq_rx.backpressure import (
    EMPTY,
    END,
    AsyncBuffer,
    Backpressure,
    BoundedBuffer,
    ThreadBuffer,
    backpressure_policy,
)


def test_policy_names() -> None:
    assert backpressure_policy("block") is Backpressure.BLOCK
    assert backpressure_policy(Backpressure.DROP_OLDEST) is Backpressure.DROP_OLDEST
    with pytest.raises(ConfigurationError, match="unknown backpressure policy 'latest'"):
        backpressure_policy("latest")
    with pytest.raises(ConfigurationError, match="buffer_size"):
        BoundedBuffer(0)


def test_block_refuses_when_full() -> None:
    buffer: BoundedBuffer[int] = BoundedBuffer(2, "block")
    assert buffer.offer(1) and buffer.offer(2)
    assert not buffer.offer(3) and len(buffer) == 2
    assert buffer.take() == 1
    assert buffer.offer(3)
    assert [buffer.take(), buffer.take()] == [2, 3]


def test_drop_oldest_keeps_the_newest_and_counts() -> None:
    buffer: BoundedBuffer[int] = BoundedBuffer(3, "drop_oldest")
    for i in range(10):
        assert buffer.offer(i)
    assert buffer.dropped == 7 and [buffer.take() for _ in range(3)] == [7, 8, 9]


def test_error_raises_buffer_full() -> None:
    buffer: BoundedBuffer[int] = BoundedBuffer(1, "error")
    buffer.offer(1)
    with pytest.raises(BufferFullError, match="1 messages behind") as info:
        buffer.offer(2)
    assert info.value.hint is not None and "drop_oldest" in info.value.hint
    assert len(buffer) == 1


def test_thread_buffer_blocks_the_producer_until_the_consumer_takes() -> None:
    freed: list[int] = []
    buffer: ThreadBuffer[int] = ThreadBuffer(2, "block", on_space=lambda: freed.append(1))
    assert buffer.put(1) and buffer.put(2)
    assert not buffer.put(3, timeout=0.05)  # full: waits, then gives up
    done = threading.Event()

    def producer() -> None:
        buffer.put(3)
        done.set()

    thread = threading.Thread(target=producer)
    thread.start()
    assert not done.wait(0.05)
    assert buffer.get(1) == 1
    assert done.wait(5)
    thread.join(5)
    assert freed  # the loop-side producer's wake-up
    assert [buffer.get(1), buffer.get(1)] == [2, 3]
    assert buffer.get(0.01) is EMPTY


def test_thread_buffer_delivers_what_is_buffered_then_the_error() -> None:
    buffer: ThreadBuffer[int] = ThreadBuffer(5)
    buffer.offer(1)
    buffer.finish(RuntimeError("fetch failed"))
    buffer.finish(ValueError("second error is ignored"))
    assert buffer.get(1) == 1
    with pytest.raises(RuntimeError, match="fetch failed"):
        buffer.get(1)
    assert buffer.get(1) is END


def test_thread_buffer_finish_with_discard() -> None:
    buffer: ThreadBuffer[int] = ThreadBuffer(5)
    for i in range(3):
        buffer.offer(i)
    assert buffer.finish(discard=True) == 3
    assert buffer.get(1) is END
    assert buffer.offer(9)  # accepted and ignored: the stream is over
    assert len(buffer) == 0


def test_async_buffer_policies() -> None:
    async def main() -> None:
        blocking: AsyncBuffer[int] = AsyncBuffer(1, "block")
        assert await blocking.put(1)
        waiter = asyncio.ensure_future(blocking.put(2))
        await asyncio.sleep(0.01)
        assert not waiter.done()
        assert await blocking.get() == 1
        assert await asyncio.wait_for(waiter, 1)
        assert await blocking.get() == 2
        getter = asyncio.ensure_future(blocking.get())
        await asyncio.sleep(0.01)
        blocking.finish()
        with pytest.raises(StopAsyncIteration):
            await getter

        dropping: AsyncBuffer[int] = AsyncBuffer(2, "drop_oldest")
        for i in range(5):
            await dropping.put(i)
        assert dropping.dropped == 3 and [await dropping.get(), await dropping.get()] == [3, 4]

        failing: AsyncBuffer[int] = AsyncBuffer(1, "error")
        await failing.put(1)
        with pytest.raises(BufferFullError):
            await failing.put(2)
        failing.finish(BufferFullError("behind"))
        assert await failing.get() == 1
        with pytest.raises(BufferFullError, match="behind"):
            await failing.get()

    asyncio.run(asyncio.wait_for(main(), 10))


def test_thread_buffer_get_waits_for_an_item() -> None:
    buffer: ThreadBuffer[str] = ThreadBuffer(3)
    threading.Timer(0.05, lambda: buffer.offer("late")).start()
    started = time.monotonic()
    assert buffer.get(5) == "late"
    assert time.monotonic() - started < 4
