"""Running coroutines in tests: bounded, and strict about errors the event loop would only log."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def run(coro: Coroutine[Any, Any, T], timeout: float = 30.0) -> T:
    """``asyncio.run`` with a bound, failing on anything the loop reports to its exception handler.

    A hang fails the test instead of stalling the suite, and a future whose exception nobody
    retrieved (a swallowed error) fails it too: ``gc.collect()`` before the loop closes makes such
    futures report while the handler still listens.
    """
    problems: list[dict[str, Any]] = []

    async def guarded() -> T:
        asyncio.get_running_loop().set_exception_handler(lambda loop, context: problems.append(context))
        try:
            return await asyncio.wait_for(coro, timeout)
        finally:
            gc.collect()
            await asyncio.sleep(0)

    result = asyncio.run(guarded())
    assert not problems, problems
    return result
