"""The producer's retry, ordering, failure-reporting and shutdown rules, against a scripted connection.

The fake connection decodes every PRODUCE frame the producer writes (one ``submit_batches`` per
write), asks a script what happens to it, and keeps the log of what was "written" — so the tests can
check exactly which records reached the server, how often and in which order.
"""

from __future__ import annotations

import itertools
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from pyflymq_core.client import calls
from pyflymq_core.client.connection import NotSentError
from pyflymq_core.client.observer import RequestObserver
from pyflymq_core.config import ProducerConfig
from pyflymq_core.errors import (
    BufferFullError,
    ConfigurationError,
    ConnectionError,
    FlyMQError,
    NotLeaderError,
    SerializationError,
    TimeoutError,
)
from pyflymq_core.producer import DeliveryError, Producer, ProducerClosedError
from pyflymq_core.protocol import (
    Frame,
    FrameParser,
    OpCode,
    decode_request,
    encode_request_frame,
    encode_response,
)

ROOT = Path(__file__).resolve().parents[2]

#: What the script answers for one record: "ok", an error to put on the pending, or a server error
#: text (a str starting with "server:").  ``None`` = never answer.
Outcome = Any


class FakeBatch:
    """What ``Connection.submit_batches`` returns for one run of frames: the answers received, in
    order, and — when the run was cut — the error of the requests after them."""

    def __init__(self, conn: FakeConnection, count: int) -> None:
        self.connection = conn
        self.count = count
        self.frames: list[Frame] = []
        self._error: FlyMQError | None = None
        self._done = threading.Event()

    def finish(self, error: FlyMQError | None = None) -> None:
        self._error = error
        self._done.set()

    def done(self) -> bool:
        return self._done.is_set()

    def exception(self) -> FlyMQError | None:
        return self._error

    def wait(self, timeout: float | None = None) -> Frame:
        if not self._done.wait(timeout):
            self._error = TimeoutError("no answer in time (fake)")
            self._done.set()
        if self._error is not None:
            raise self._error
        return self.frames[-1]

    def wait_for(self, timeout: float) -> Frame | None:
        """The real non-fatal wait: ``None`` when still unanswered after ``timeout``."""
        if not self._done.wait(max(timeout, 0.001)):
            return None
        return self.wait()


@dataclass(eq=False)
class FakeConnection:
    """Answers each PRODUCE frame as ``script(fields, attempt)`` says, in order, like one
    connection: an answer that is lost (or never comes) cuts the write there, and the frames after
    it get no answer either."""

    script: Callable[[dict[str, Any], int], Outcome]
    label: str = "fake:1"
    closed: bool = False
    #: every record the fake server "wrote", in order: (key, value)
    log: list[tuple[bytes, bytes]] = field(default_factory=list)
    attempts: dict[bytes, int] = field(default_factory=dict)
    writes: int = 0
    submit_error: FlyMQError | None = None
    raw: list[bytes] = field(default_factory=list)

    def submit_batches(
        self, op: int, data: bytes, counts: list[int], *, timeout: float | None = None
    ) -> list[Any]:
        self.raw.append(data)
        if self.submit_error is not None:
            error, self.submit_error = self.submit_error, None
            raise error
        self.writes += 1
        frames = iter(FrameParser().feed(data))
        assert sum(counts) == len(FrameParser().feed(data))
        batches = [FakeBatch(self, count) for count in counts]
        cut: FlyMQError | None = None
        silent = False  # an answer that never comes: everything behind it waits forever too
        for batch in batches:
            for frame in itertools.islice(frames, batch.count):
                if cut is not None or silent:
                    continue
                fields = decode_request(frame.op, frame.payload)
                value = fields["value"]
                attempt = self.attempts[value] = self.attempts.get(value, 0) + 1
                outcome = self.script(fields, attempt)
                if outcome is None:
                    silent = True
                elif outcome == "ok" or outcome == "written-then-lost":
                    self.log.append((fields["key"], value))
                    if outcome == "ok":
                        meta = {
                            "topic": fields["topic"],
                            "partition": 0,
                            "offset": len(self.log) - 1,
                            "timestamp": 1,
                            "key_size": len(fields["key"]) or -1,
                            "value_size": len(value),
                        }
                        batch.frames.append(Frame(*encode_response(op, meta)))
                    else:
                        cut = ConnectionError("connection lost (fake)")
                elif isinstance(outcome, str) and outcome.startswith("server:"):
                    resp = encode_response(op, {"error_encoding": "raw_unflagged", "message": outcome[7:]})
                    batch.frames.append(Frame(*resp))
                else:
                    cut = outcome
            if cut is not None:
                batch.finish(cut)
            elif not silent:
                batch.finish()
        return batches

    def close(self, reason: str | None = None) -> None:
        self.closed = True


class _Metadata:
    standalone = True

    def __init__(self) -> None:
        self.invalidated: list[str | None] = []

    def invalidate(self, topic: str | None = None) -> None:
        self.invalidated.append(topic)


class _Config:
    request_timeout = 0.5


class _Lifecycle:
    """The plugins' lifecycle front door, without plugins (``active``: whether one listens)."""

    def __init__(self, active: bool = False) -> None:
        self.active = active

    def before_request(self, client: Any, op: int, payload_size: int) -> None:
        pass

    def after_response(self, client: Any, op: int, answer: int | None, seconds: float, error: Any) -> None:
        pass


class FakeClient:
    def __init__(self, conn: FakeConnection) -> None:
        self.conn = conn
        self.config = _Config()
        self._metadata = _Metadata()
        self._value_encoder = None
        self._compress = False
        self.observer = RequestObserver(self, _Lifecycle())  # type: ignore[arg-type]
        self.connect_failures = 0
        self.closed = False

    def _check_open(self) -> None:
        assert not self.closed

    def _primary_connection(self) -> FakeConnection:
        if self.connect_failures:
            self.connect_failures -= 1
            raise ConnectionError("no server (fake)")
        return self.conn


def _producer(
    script: Callable[[dict[str, Any], int], Outcome], **options: Any
) -> tuple[Producer, FakeConnection]:
    conn = FakeConnection(script)
    options.setdefault("retry_backoff_ms", 1)
    producer = Producer(FakeClient(conn), **options)  # type: ignore[arg-type]
    return producer, conn


def _always_ok(fields: dict[str, Any], attempt: int) -> Outcome:
    return "ok"


def test_not_leader_records_are_retried_and_keep_their_order_per_key() -> None:
    rejected = {b"a-10", b"b-25", b"a-40"}
    blocked: dict[bytes, bool] = {}

    def script(fields: dict[str, Any], attempt: int) -> Outcome:
        key, value = fields["key"], fields["value"]
        if value in rejected and attempt == 1:
            blocked[key] = True  # the partition refuses until the rejected record comes back
            return "server:not leader: no leader elected"
        if blocked.get(key):
            if value in rejected:
                blocked[key] = False
                return "ok"
            return "server:not leader: no leader elected"
        return "ok"

    producer, conn = _producer(script, max_in_flight=5, max_batch_messages=4)
    futures = [producer.send("t", f"{k}-{i}".encode(), key=k) for i in range(60) for k in ("a", "b")]
    producer.close(timeout=10)
    assert all(f.succeeded() for f in futures)
    for key in (b"a", b"b"):
        written = [value for k, value in conn.log if k == key]
        assert written == [f"{key.decode()}-{i}".encode() for i in range(60)]  # once each, in order
    assert producer.metrics()["retried"] >= 3
    assert max(f.attempts for f in futures) == 2


def test_records_not_sent_on_a_dead_connection_are_retried() -> None:
    producer, conn = _producer(_always_ok)
    conn.submit_error = NotSentError("connection closed before the write (fake)")
    futures = [producer.send("t", f"v{i}".encode()) for i in range(20)]
    producer.flush(timeout=5)
    assert all(f.succeeded() for f in futures)
    assert [v for _, v in conn.log] == [f"v{i}".encode() for i in range(20)]
    producer.close()


def test_a_lost_answer_fails_the_record_instead_of_resending_it() -> None:
    producer, conn = _producer(lambda f, a: "written-then-lost" if f["value"] == b"v3" else "ok")
    errors: list[Exception] = []
    futures = [producer.send("t", f"v{i}".encode(), on_error=errors.append) for i in range(6)]
    producer.close(timeout=5)
    assert [f.succeeded() for f in futures[:4]] == [True, True, True, False]
    error = errors[0]
    assert isinstance(error, ConnectionError)
    assert "may or may not have been written" in str(error) and "retry_unacknowledged" in str(error)
    assert futures[3].exception() is error
    assert conn.attempts[b"v3"] == 1  # written once, never re-sent
    # Records written behind it on the same (lost) connection share its fate; later writes succeed.
    for fut in futures[4:]:
        assert fut.succeeded() or fut.exception() in errors
    assert len(errors) == 1 + sum(f.failed() for f in futures[4:])
    assert all(count == 1 for count in conn.attempts.values())


def test_retry_unacknowledged_resends_at_least_once() -> None:
    producer, conn = _producer(
        lambda f, a: "written-then-lost" if f["value"] == b"v3" and a == 1 else "ok",
        retry_unacknowledged=True,
    )
    futures = [producer.send("t", f"v{i}".encode()) for i in range(6)]
    producer.close(timeout=5)
    assert all(f.succeeded() for f in futures)
    assert [v for _, v in conn.log].count(b"v3") == 2  # the server has no deduplication


def test_retries_are_bounded_by_max_retries() -> None:
    producer, conn = _producer(lambda f, a: "server:not leader: no leader elected", max_retries=2)
    fut = producer.send("t", b"x")
    with pytest.raises(DeliveryError) as info:
        producer.close(timeout=5)
    assert info.value.futures == [fut]
    assert isinstance(fut.exception(), NotLeaderError)
    assert fut.attempts == 3 and conn.attempts[b"x"] == 3
    assert conn.log == []


def test_non_retriable_server_errors_fail_at_once() -> None:
    producer, conn = _producer(lambda f, a: "server:EOF")
    fut = producer.send("t", b"x", on_error=lambda e: None)
    producer.close(timeout=5)  # reported to on_error: no DeliveryError
    assert fut.failed() and conn.attempts[b"x"] == 1
    assert "partition is full" in str(fut.exception())
    with pytest.raises(FlyMQError, match="partition is full"):
        fut.get(timeout_ms=0)


def test_flush_raises_delivery_error_only_for_failures_nobody_saw() -> None:
    producer, _ = _producer(lambda f, a: "server:EOF" if f["value"].startswith(b"bad") else "ok")
    seen = producer.send("t", b"bad-1")
    producer.send("t", b"good")
    silent = producer.send("t", b"bad-2")
    while not (seen.done() and silent.done()):
        time.sleep(0.001)
    assert seen.exception() is not None  # observed by the application
    with pytest.raises(DeliveryError, match="1 record") as info:
        producer.flush(timeout=5)
    assert info.value.futures == [silent]
    producer.flush(timeout=5)  # reported once
    producer.close()


def test_no_server_reachable_fails_records_after_max_retries_attempts() -> None:
    producer, conn = _producer(_always_ok, max_retries=1)
    producer._client.connect_failures = 100  # type: ignore[attr-defined]
    fut = producer.send("t", b"x", on_error=lambda e: None)
    assert isinstance(fut.exception() if fut.done() else None, (type(None), NotSentError))
    producer.flush(timeout=5)
    assert isinstance(fut.exception(), NotSentError)
    assert "not sent" in str(fut.exception())
    assert conn.log == []
    producer.close()


def test_close_timeout_fails_what_was_not_acknowledged() -> None:
    producer, conn = _producer(lambda f, a: None if f["value"] == b"stuck" else "ok", max_in_flight=1)
    stuck = producer.send("t", b"stuck")
    time.sleep(0.05)
    later = producer.send("t", b"later")  # queued behind the unanswered batch (window of 1)
    started = time.monotonic()
    with pytest.raises(TimeoutError, match=r"1 record\(s\) were not sent and 1 were awaiting"):
        producer.close(timeout=0.2)
    assert time.monotonic() - started < 2
    assert isinstance(later.exception(), ProducerClosedError)
    assert isinstance(stuck.exception(), TimeoutError)
    assert "may or may not" in str(stuck.exception())
    assert conn.log == []


def test_flush_timeout_reports_counts_and_keeps_the_records() -> None:
    producer, _ = _producer(lambda f, a: None, max_in_flight=1)
    producer.send("t", b"a")
    with pytest.raises(TimeoutError, match="flush\\(\\) timed out"):
        producer.flush(timeout=0.05)
    assert len(producer) == 1


def test_callbacks_run_once_on_the_io_thread_and_may_not_block_on_the_producer() -> None:
    producer, _ = _producer(_always_ok, buffer_memory=200)
    threads: list[str] = []
    problems: list[Exception] = []

    def on_success(metadata: Any) -> None:
        threads.append(threading.current_thread().name)
        try:
            producer.flush()
        except FlyMQError as exc:
            problems.append(exc)
        try:
            producer.close()
        except FlyMQError as exc:
            problems.append(exc)
        try:
            for _ in range(10):
                producer.send("t", b"y" * 100)
        except BufferFullError as exc:
            problems.append(exc)

    fut = producer.send("t", b"x", on_success=on_success)
    fut.get(timeout_ms=5_000)
    deadline = time.monotonic() + 5
    while len(problems) < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(threads) == 1 and threads[0].startswith("pyflymq-producer-recv")
    assert "flush() cannot be called from a producer callback" in str(problems[0])
    assert "close() cannot be called from a producer callback" in str(problems[1])
    assert isinstance(problems[2], BufferFullError)
    assert not producer.closed
    assert producer.send("t", b"after").get(timeout_ms=5_000).offset >= 1  # still working
    producer.close(timeout=5)


def test_send_after_close_is_refused() -> None:
    producer, _ = _producer(_always_ok)
    producer.close()
    producer.close()  # idempotent
    with pytest.raises(ProducerClosedError):
        producer.send("t", b"x")


def test_sent_frames_are_the_core_produce_layout() -> None:
    records: list[tuple[str, Any, Any]] = [
        ("t", b"v0", None),  # first record of the topic: full validation
        ("t", b"v1", None),  # fast path, keyless
        ("t", b"v2", b"k"),  # fast path, bytes key
        ("t", b"v3", "user-123"),  # fast path, ASCII str key
        ("t", b"v4", "ключ"),  # general path, non-ASCII key
        ("t", "värde", None),  # general path, str value
        ("u", b"v6", b"k"),  # another topic
    ]
    producer, conn = _producer(_always_ok, linger_ms=60_000, batch_size=1 << 20)
    for topic, value, key in records:
        producer.send(topic, value, key=key)
    producer.close(timeout=5)
    expected = b"".join(
        encode_request_frame(call.op, call.payload)
        for call in (calls.produce(topic, value, key) for topic, value, key in records)
    )
    assert b"".join(conn.raw) == expected
    assert conn.writes == 1  # one write for the whole lingered batch


def test_a_producer_left_open_is_flushed_at_exit() -> None:
    script = textwrap.dedent(
        f"""
        import atexit, sys
        sys.path.insert(0, {str(ROOT)!r})
        from tests.unit.test_producer_sender import _producer
        holder = []
        atexit.register(lambda: print("stored", len(holder[0].log)))  # runs after the producer's hook
        producer, conn = _producer(lambda f, a: "ok", linger_ms=60_000, batch_size=1 << 20)
        holder.append(conn)
        for i in range(10):
            producer.send("t", b"x")
        """
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "stored 10"
    assert "was not closed: delivering 10 record(s) at exit" in result.stderr


def test_keyed_records_go_to_the_connection_their_key_routes_to() -> None:
    leaders = {
        b"a": FakeConnection(_always_ok, label="node-a"),
        b"b": FakeConnection(_always_ok, label="node-b"),
    }
    primary = FakeConnection(_always_ok, label="bootstrap")
    client = FakeClient(primary)
    client._metadata.standalone = False

    class _Entry:
        topic = object()
        cluster_id = "node-1"

    client._metadata.get = lambda topic: _Entry()  # type: ignore[attr-defined]
    routed: list[bytes] = []

    def route(call: Any) -> FakeConnection:
        routed.append(call.key)
        return leaders[call.key]

    client._route = route  # type: ignore[attr-defined]
    producer = Producer(client, max_batch_messages=7, retry_backoff_ms=1)  # type: ignore[arg-type]
    futures = [producer.send("t", f"{k}-{i}".encode(), key=k) for i in range(50) for k in ("a", "b")]
    futures += [producer.send("t", f"none-{i}".encode()) for i in range(5)]
    producer.close(timeout=5)
    assert all(f.succeeded() for f in futures)
    for key, conn in leaders.items():
        assert [v for _, v in conn.log] == [f"{key.decode()}-{i}".encode() for i in range(50)]
    assert [v for _, v in primary.log] == [f"none-{i}".encode() for i in range(5)]
    assert set(routed) == {b"a", b"b"}


# --------------------------------------------------------------------------- lifecycle hooks


class _RecordingObserver(RequestObserver):
    """A client's observer with a listening plugin: records what the producer reports."""

    def __init__(self, client: Any) -> None:
        super().__init__(client, _Lifecycle(active=True))  # type: ignore[arg-type]
        self.started: list[tuple[int, int, str | None, bytes | None]] = []
        self.ended: list[tuple[int, int | None, str | None]] = []

    def start(self, call: Any) -> float:
        self.started.append((call.op, len(call.payload), call.topic, call.key))
        return super().start(call)

    def end(self, started: float, call: Any, frame: Any, error: BaseException | None) -> None:
        self.ended.append(
            (call.op, None if frame is None else frame[0], None if error is None else type(error).__name__)
        )
        super().end(started, call, frame, error)


def test_each_produce_frame_goes_through_the_lifecycle_hooks() -> None:
    conn = FakeConnection(lambda f, a: "server:EOF" if f["value"] == b"bad" else "ok")
    client = FakeClient(conn)
    observer = client.observer = _RecordingObserver(client)
    producer = Producer(client, retry_backoff_ms=1)  # type: ignore[arg-type]
    producer.send("t", b"v1", key=b"k")
    producer.send("t", b"bad", on_error=lambda e: None)
    producer.send("t", b"v3")
    producer.close(timeout=5)
    frame_payload = len(encode_request_frame(*_produce_payload("t", b"v1", b"k"))) - 8
    assert observer.started[0] == (OpCode.PRODUCE, frame_payload, "t", b"k")
    assert [s[2:] for s in observer.started] == [("t", b"k"), ("t", None), ("t", None)]
    produce, error = int(OpCode.PRODUCE), int(OpCode.ERROR)
    assert observer.ended == [
        (produce, produce, None),
        (produce, error, "PartitionFullError"),
        (produce, produce, None),
    ]
    assert (observer.requests, observer.errors) == (3, 1)


def test_without_listeners_the_client_still_counts_the_records() -> None:
    producer, _ = _producer(lambda f, a: "server:EOF" if f["value"] == b"bad" else "ok")
    for value in (b"a", b"bad", b"c"):
        producer.send("t", value, on_error=lambda e: None)
    producer.close(timeout=5)
    observer = producer._client.observer
    assert (observer.requests, observer.errors) == (3, 1)


def _produce_payload(topic: str, value: bytes, key: bytes) -> tuple[int, bytes]:
    call = calls.produce(topic, value, key)
    return call.op, call.payload


# --------------------------------------------------------------------------- settling


def test_callbacks_of_mixed_outcomes_run_in_send_order() -> None:
    order: list[str] = []
    producer, _ = _producer(lambda f, a: "server:EOF" if f["value"].startswith(b"bad") else "ok")
    for value in (b"ok-1", b"bad-2", b"ok-3", b"bad-4"):
        producer.send(
            "t",
            value,
            on_success=lambda m, v=value: order.append(f"{v.decode()}@{m.offset}"),
            on_error=lambda e, v=value: order.append(f"{v.decode()}!"),
        )
    producer.close(timeout=5)
    assert order == ["ok-1@0", "bad-2!", "ok-3@1", "bad-4!"]


def test_close_timeout_stops_the_receiver_without_waiting_for_the_request_timeout() -> None:
    producer, conn = _producer(lambda f, a: None)  # the server never answers
    conn_config = producer._client.config  # type: ignore[attr-defined]
    conn_config.request_timeout = 60.0  # type: ignore[misc]
    stuck = producer.send("t", b"stuck")
    time.sleep(0.05)
    with pytest.raises(TimeoutError):
        producer.close(timeout=0.1)
    assert isinstance(stuck.exception(), TimeoutError)
    threads = [producer._sender.thread, *(p.thread for p in producer._sender.pipelines.values())]
    deadline = time.monotonic() + 2  # WAIT_SLICE_S is 0.25 s
    while any(t.is_alive() for t in threads) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not any(t.is_alive() for t in threads)
    assert not conn.closed  # the connection is the client's: left open, the answer still owed


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_an_unexpected_error_while_writing_fails_the_records_instead_of_hanging() -> None:
    producer, conn = _producer(_always_ok)

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("bug in the connection (fake)")

    conn.submit_batches = broken  # type: ignore[method-assign]
    fut = producer.send("t", b"x")
    with pytest.raises(DeliveryError) as info:
        producer.close(timeout=5)
    assert info.value.futures == [fut]
    assert "sender thread failed" in str(fut.exception())


def test_retry_unacknowledged_can_come_from_the_config() -> None:
    conn = FakeConnection(lambda f, a: "written-then-lost" if a == 1 else "ok")
    config = ProducerConfig(retry_unacknowledged=True, retry_backoff_ms=1)
    producer = Producer(FakeClient(conn), config=config)  # type: ignore[arg-type]
    assert producer.config.retry_unacknowledged
    fut = producer.send("t", b"x")
    producer.close(timeout=5)
    assert fut.succeeded() and fut.attempts == 2


# --------------------------------------------------------------------------- serializers


def test_serializer_and_key_serializer_encode_objects_in_send() -> None:
    producer, conn = _producer(_always_ok, serializer="json", key_serializer="string")
    producer.send("t", {"event": "click", "n": 1}, key="user-1")
    producer.send("t", [1, 2], key=None)
    producer.close(timeout=5)
    assert conn.log == [(b"user-1", b'{"event":"click","n":1}'), (b"", b"[1,2]")]


def test_a_value_the_codec_cannot_serialize_raises_before_anything_is_queued() -> None:
    producer, conn = _producer(_always_ok, serializer="json")
    with pytest.raises(SerializationError) as info:
        producer.send("t", {"when": object()})
    assert info.value.codec == "json" and info.value.direction == "serialize"
    assert len(producer) == 0 and producer.metrics()["queued"] == 0
    producer.close(timeout=5)
    assert conn.writes == 0


def test_codec_objects_are_used_as_given_and_their_failures_are_typed() -> None:
    class Upper:
        name = "upper"

        def serialize(self, obj: Any) -> bytes:
            if not isinstance(obj, str):
                raise TypeError("strings only")
            return obj.upper().encode()

        def deserialize(self, data: bytes) -> Any:
            return data.decode()

    producer, conn = _producer(_always_ok, serializer=Upper())
    producer.send("t", "hello")
    with pytest.raises(SerializationError, match="'upper' codec could not serialize the value for topic 't'"):
        producer.send("t", 42)
    producer.close(timeout=5)
    assert [v for _, v in conn.log] == [b"HELLO"]


def test_an_unknown_codec_name_is_refused_when_the_producer_is_made() -> None:
    with pytest.raises(ConfigurationError, match="nosuchcodec"):
        _producer(_always_ok, serializer="nosuchcodec")
