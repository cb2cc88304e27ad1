"""The producers' shared rules (pyflymq_core/producer/policy.py): retry or fail, and the wording.

Both the sync and the asyncio producer decide with :class:`RetryRule`; these tests pin the rule
itself, the producers' own tests check that they follow it.
"""

from __future__ import annotations

from collections import deque

import pytest

from pyflymq import ProducerConfig
from pyflymq_core.client.connection import NotSentError
from pyflymq_core.errors import (
    ConnectionError,
    FlyMQError,
    NotLeaderError,
    ProtocolError,
    TimeoutError,
    TopicNotFoundError,
)
from pyflymq_core.producer.policy import (
    ROUND_ROBIN_RETRIES,
    RetryRule,
    answer_error,
    frames_bytes,
    split_batches,
)
from pyflymq_core.protocol import OpCode, encode_response


class _Metadata:
    def __init__(self) -> None:
        self.invalidated: list[str | None] = []

    def invalidate(self, topic: str | None = None) -> None:
        self.invalidated.append(topic)


def _decide(
    error: FlyMQError,
    *,
    attempts: int = 1,
    retry_unacknowledged: bool = False,
    metadata: _Metadata | None = None,
    shown: dict[int, FlyMQError] | None = None,
) -> FlyMQError | None:
    rule = RetryRule(
        max_retries=3, retry_unacknowledged=retry_unacknowledged, metadata=metadata or _Metadata()
    )
    return rule.decide(error, "orders", attempts, shown)


def test_round_robin_refusals_get_extra_attempts_beyond_max_retries() -> None:
    # A multi-node node writes a keyless record only when its round-robin falls on a partition it
    # leads: a refusal is not a failure, and a pipelined batch needs several rounds to drain.
    def refused() -> NotLeaderError:
        return NotLeaderError(
            "not partition leader: partition=1 leader_addr=10.0.0.2:9093",
            leader_addr="10.0.0.2:9093",
            partition=1,
            partition_leader=True,
        )

    assert _decide(refused(), attempts=4) is None  # max_retries is 3
    assert _decide(refused(), attempts=3 + ROUND_ROBIN_RETRIES) is None
    last = refused()
    assert _decide(last, attempts=4 + ROUND_ROBIN_RETRIES) is last
    plain = NotLeaderError("not leader: leader_addr=10.0.0.1:9092", leader_addr="10.0.0.1:9092")
    assert _decide(plain, attempts=4) is plain  # a metadata redirect gets no extra rounds


def test_the_safe_no_duplicate_choice_is_the_default() -> None:
    assert ProducerConfig().retry_unacknowledged is False
    assert ProducerConfig(retry_unacknowledged=True).retry_unacknowledged is True


def test_records_provably_not_written_are_retried_while_attempts_remain() -> None:
    assert _decide(NotSentError("dead connection")) is None
    metadata = _Metadata()
    assert _decide(NotLeaderError("not leader"), metadata=metadata) is None
    assert metadata.invalidated == ["orders"]  # the retry goes to the new leader
    exhausted = NotSentError("dead connection")
    assert _decide(exhausted, attempts=4) is exhausted


def test_a_lost_answer_fails_at_most_once_by_default() -> None:
    for lost in (ConnectionError("connection reset"), TimeoutError("no answer in time")):
        final = _decide(lost)
        assert type(final) is type(lost) and final.__cause__ is lost
        text = str(final)
        assert "'orders' may or may not have been written" in text and "retry_unacknowledged=True" in text


def test_retry_unacknowledged_resends_lost_answers_at_least_once() -> None:
    lost = ConnectionError("connection reset")
    assert _decide(lost, retry_unacknowledged=True) is None
    final = _decide(lost, attempts=4, retry_unacknowledged=True)
    assert final is not None and "it was retried 3 times" in str(final)


def test_other_errors_end_the_record_as_they_are() -> None:
    refused = TopicNotFoundError("unknown topic")
    assert _decide(refused) is refused


def test_one_wrapper_per_lost_connection() -> None:
    lost = ConnectionError("reset")
    shown: dict[int, FlyMQError] = {}
    assert _decide(lost, shown=shown) is _decide(lost, shown=shown)


class _Queued:
    def __init__(self, attempts: int, frame: bytes = b"x") -> None:
        self._frame = frame
        self._attempts = attempts


def test_batches_close_at_the_byte_or_record_limit_and_their_bytes_add_up() -> None:
    records = [_Queued(0, b"x" * size) for size in (40, 40, 30, 100, 5, 5, 5)]
    batches = split_batches(records, batch_size=80, max_messages=2)
    assert [[len(r._frame) for r in batch] for batch in batches] == [[40, 40], [30], [100], [5, 5], [5]]
    assert split_batches(records, 80, 2, max_batches=2) == batches[:2]
    assert frames_bytes(records) == 225 and frames_bytes([]) == 0
    assert sum(frames_bytes(batch) for batch in batches) == 225


def test_no_server_uses_up_one_attempt_of_every_queued_record() -> None:
    rule = RetryRule(max_retries=2, retry_unacknowledged=False, metadata=_Metadata())
    retry, queue = [_Queued(2), _Queued(0)], deque([_Queued(1), _Queued(2)])
    give_up, error = rule.no_server(
        ConnectionError("refused", hint="start it"), (retry, queue), backoff_s=0.1, client_closed=False
    )
    assert [r._attempts for r in give_up] == [3, 3]
    assert [r._attempts for r in retry] == [1] and [r._attempts for r in queue] == [2]
    assert isinstance(error, NotSentError) and "after 3 attempts (refused)" in str(error)
    assert error.hint == "start it"


def test_a_closed_client_fails_every_queued_record_at_once() -> None:
    # A closed client never comes back: waiting out the retries would only delay the failure.
    rule = RetryRule(max_retries=5, retry_unacknowledged=False, metadata=_Metadata())
    first, second, third = _Queued(0), _Queued(1), _Queued(0)
    retry, queue = [first], deque([second, third])
    give_up, error = rule.no_server(
        ConnectionError("the client is closed"), (retry, queue), backoff_s=0.1, client_closed=True
    )
    assert give_up == [first, second, third] and not retry and not queue
    assert isinstance(error, NotSentError) and "client is closed" in str(error)
    assert error.hint is not None and "before its client" in error.hint


@pytest.mark.parametrize(
    ("op", "expected"),
    [(int(OpCode.ERROR), TopicNotFoundError), (0x42, ProtocolError)],
)
def test_answers_other_than_an_acknowledgement_map_to_typed_errors(op: int, expected: type) -> None:
    if op == OpCode.ERROR:
        _, flags, payload = encode_response(
            op, {"error_encoding": "raw_unflagged", "message": "topic not found"}
        )
    else:
        flags, payload = 0, b""
    error = answer_error(op, flags, payload, "orders")
    assert isinstance(error, expected)
