"""RequestObserver: the one place a client's requests are counted and shown to the lifecycle hooks."""

from __future__ import annotations

from typing import Any

import pytest

from pyflymq_core.client import calls
from pyflymq_core.client.observer import RequestObserver
from pyflymq_core.errors import TopicNotFoundError
from pyflymq_core.protocol import Frame, OpCode, encode_response


class _Lifecycle:
    def __init__(self, active: bool) -> None:
        self.active = active
        self.seen: list[tuple[Any, ...]] = []

    def before_request(self, client: Any, op: int, payload_size: int) -> None:
        self.seen.append(("before", client, op, payload_size))

    def after_response(self, client: Any, op: int, answer: int | None, seconds: float, error: Any) -> None:
        self.seen.append(("after", client, op, answer, seconds >= 0, type(error).__name__ if error else None))


def _observer(active: bool) -> tuple[RequestObserver, _Lifecycle]:
    lifecycle = _Lifecycle(active)
    return RequestObserver("client", lifecycle), lifecycle  # type: ignore[arg-type]


def _topics_answer() -> Frame:
    op, flags, payload = encode_response(int(OpCode.LIST_TOPICS), {"topics": ["a"]})
    return Frame(op, flags, payload)


def test_without_listeners_it_only_counts() -> None:
    observer, lifecycle = _observer(active=False)
    call = calls.list_topics()
    started = observer.start(call)
    assert started == 0.0
    assert observer.completed(started, call, _topics_answer()) == ["a"]
    observer.sent(3)
    observer.failed(2)
    observer.end(started, call, None, TimeoutError())
    assert (observer.requests, observer.errors) == (4, 3)
    assert lifecycle.seen == [] and not observer.active


def test_listeners_see_each_request_and_its_outcome() -> None:
    observer, lifecycle = _observer(active=True)
    call = calls.list_topics()
    started = observer.start(call)
    assert started > 0 and observer.active
    observer.completed(started, call, _topics_answer())
    error_answer = Frame(0xFF, 0, b"topic not found")
    started = observer.start(call)
    with pytest.raises(TopicNotFoundError):
        observer.completed(started, call, error_answer)
    op = call.op
    assert lifecycle.seen == [
        ("before", "client", op, len(call.payload)),
        ("after", "client", op, op, True, None),
        ("before", "client", op, len(call.payload)),
        ("after", "client", op, 0xFF, True, "TopicNotFoundError"),
    ]
    assert (observer.requests, observer.errors) == (2, 1)
