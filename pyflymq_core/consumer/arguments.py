"""Argument checks shared by the sync and the asyncio consumer.

A consumer's methods are called in tight loops and by users coming from other Kafka clients, whose
spellings differ (``poll(timeout=None)`` to wait forever, ``commit([TopicPartition(...)])``): each
check turns a wrong spelling into a typed error with a hint instead of a ``TypeError`` from deep
inside, and never lets a closed consumer look as if it worked.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from typing import Any

from pyflymq_core import validation as v
from pyflymq_core.errors import ConsumerClosedError, InvalidArgumentError, InvalidArgumentTypeError

__all__ = ["commit_offsets_argument", "poll_arguments", "require_group"]

#: The largest ``max_records`` (a u32 count on the wire is far beyond any useful batch).
MAX_RECORDS = 2**31 - 1


def poll_arguments(timeout_ms: Any, max_records: Any, default_max: int) -> tuple[float | None, int]:
    """``(timeout in seconds or None to wait until records arrive, max_records)`` for ``poll``.

    A negative timeout is 0 (look without waiting); ``None`` waits as long as needed.
    """
    if timeout_ms is None:
        timeout = None
    elif isinstance(timeout_ms, bool) or not isinstance(timeout_ms, numbers.Real) or math.isnan(timeout_ms):
        raise InvalidArgumentTypeError(
            f"timeout_ms must be a number of milliseconds or None, got {type(timeout_ms).__name__} "
            f"({timeout_ms!r})",
            hint="poll(timeout_ms=1000) waits up to a second; poll(timeout_ms=None) until records arrive.",
        )
    else:
        timeout = max(float(timeout_ms), 0.0) / 1000.0
        if math.isinf(timeout):
            timeout = None
    if max_records is None:
        return timeout, default_max
    limit = v.check_int(max_records, "max_records", 1, MAX_RECORDS, hint="Pass a positive record count.")
    return timeout, limit


def require_group(group_id: str | None, closed: bool, what: str) -> str:
    """The consumer's group id for a commit: refused on a closed consumer or without a group."""
    if closed:
        raise ConsumerClosedError(f"{what} on a closed consumer", hint="Create a new consumer.")
    if group_id is None:
        raise InvalidArgumentError(
            f"{what} needs a group_id: FlyMQ stores committed offsets per consumer group",
            hint="Create the consumer with group_id='...'.",
        )
    return group_id


def commit_offsets_argument(offsets: Any) -> Mapping[Any, int] | None:
    """``commit(offsets=...)``: ``None`` (the positions) or a ``{partition: next offset}`` mapping."""
    if offsets is None or isinstance(offsets, Mapping):
        return offsets
    raise InvalidArgumentTypeError(
        f"offsets must be a mapping of partition to the next offset to read, got {type(offsets).__name__}",
        hint="commit() stores the current positions; commit({TopicPartition('t', 0): 42}) or "
        "commit({0: 42}) stores given ones.",
    )
