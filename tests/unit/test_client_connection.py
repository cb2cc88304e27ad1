"""Connection: FIFO matching, pipelining from many threads, timeouts, closes, dead idle connections.

The server side is scripted in the test over one end of a socketpair, so response order and timing
are exact; the client side is the real TcpTransport wrapped around the other end.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from pyflymq_core.client import connection as connection_module
from pyflymq_core.client.calls import complete
from pyflymq_core.client.calls import produce as produce_call
from pyflymq_core.client.connection import Connection, NotSentError, PendingBatch, PendingResponse
from pyflymq_core.errors import ConnectionError, TimeoutError
from pyflymq_core.models import RecordMetadata
from pyflymq_core.protocol import (
    Frame,
    FrameParser,
    OpCode,
    decode_request,
    encode_frame,
    encode_response,
)
from pyflymq_transports.base import ServerAddress, TransportOptions
from pyflymq_transports.tcp import TcpTransport


class ScriptedServer:
    """The far end of a socketpair: read request frames, answer when and how the test says."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.parser = FrameParser()
        self.frames: list[Frame] = []

    def read(self, count: int, timeout: float = 5.0) -> list[Frame]:
        """Read until ``count`` more request frames arrived."""
        self.sock.settimeout(timeout)
        got: list[Frame] = []
        while len(got) < count:
            data = self.sock.recv(65536)
            if not data:
                raise EOFError("client closed")
            got.extend(self.parser.feed(data))
        self.frames.extend(got)
        return got

    def answer(self, request: Frame, fields: dict[str, Any]) -> None:
        self.sock.sendall(encode_frame(*encode_response(request.op, fields)))

    def echo_produce(self, request: Frame) -> None:
        """Answer a PRODUCE with metadata derived from the request (topic + value size)."""
        fields = decode_request(request.op, request.payload)
        self.answer(
            request,
            {
                "topic": fields["topic"],
                "partition": 0,
                "offset": len(fields["value"]),
                "timestamp": 0,
                "key_size": -1,
                "value_size": len(fields["value"]),
            },
        )


@pytest.fixture
def pair() -> Iterator[tuple[Connection, ScriptedServer]]:
    client_sock, server_sock = socket.socketpair()
    transport = TcpTransport.from_socket(client_sock, ServerAddress("scripted", 1))
    conn = Connection(transport)
    server = ScriptedServer(server_sock)
    yield conn, server
    conn.close()
    server_sock.close()


def _produce(conn: Connection, topic: str, value: bytes, timeout: float | None = 5.0) -> RecordMetadata:
    call = produce_call(topic, value)
    return complete(call, conn.request(call.op, call.payload, timeout=timeout))


def _submit_produce(conn: Connection, topic: str, value: bytes) -> PendingResponse:
    call = produce_call(topic, value)
    return conn.submit(call.op, call.payload)


def _run_threads(
    serve: Callable[[], None], worker: Callable[[int], None], threads: int, limit: float
) -> None:
    """Run the scripted server and ``threads`` workers (``worker(index)``) to completion."""
    server_thread = threading.Thread(target=serve)
    server_thread.start()
    pool = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join(limit)
    server_thread.join(limit)


def test_request_round_trip(pair: tuple[Connection, ScriptedServer]) -> None:
    conn, server = pair
    result: list[RecordMetadata] = []
    thread = threading.Thread(target=lambda: result.append(_produce(conn, "t", b"abc")))
    thread.start()
    (request,) = server.read(1)
    assert request.op == OpCode.PRODUCE and request.flags == 0x01
    server.echo_produce(request)
    thread.join(5)
    assert result[0].topic == "t" and result[0].value_size == 3
    assert conn.in_flight == 0


def test_responses_are_matched_by_order_whatever_order_they_are_waited_for(
    pair: tuple[Connection, ScriptedServer],
) -> None:
    conn, server = pair
    pendings = [_submit_produce(conn, f"topic-{i}", b"x" * i) for i in range(5)]
    requests = server.read(5)
    for request in requests:
        server.echo_produce(request)
    for index in reversed(range(5)):
        frame = pendings[index].wait(5)
        fields = decode_request(OpCode.PRODUCE, requests[index].payload)
        assert fields["topic"] == f"topic-{index}"
        assert frame.op == OpCode.PRODUCE
    assert all(p.done() for p in pendings)


def test_responses_split_across_reads_and_batched_in_one_read(
    pair: tuple[Connection, ScriptedServer],
) -> None:
    conn, server = pair
    pendings = [_submit_produce(conn, "t", b"v" * i) for i in range(1, 4)]
    requests = server.read(3)
    raw = b"".join(
        encode_frame(
            *encode_response(
                OpCode.PRODUCE,
                {"topic": "t", "partition": 0, "offset": i, "timestamp": 0, "key_size": -1, "value_size": i},
            )
        )
        for i in range(1, 4)
    )
    server.sock.sendall(raw[:5])  # a partial header first
    time.sleep(0.05)
    server.sock.sendall(raw[5:])
    assert [complete(produce_call("t", b"v"), p.wait(5)).offset for p in pendings] == [1, 2, 3]
    assert len(requests) == 3


def test_many_threads_each_get_their_own_response(pair: tuple[Connection, ScriptedServer]) -> None:
    conn, server = pair
    threads, per_thread = 8, 50
    errors: list[BaseException] = []
    results: dict[int, list[str]] = {}

    def serve() -> None:
        answered = 0
        while answered < threads * per_thread:
            for request in server.read(1, timeout=20):
                server.echo_produce(request)
                answered += 1

    def worker(index: int) -> None:
        try:
            results[index] = [_produce(conn, f"thread-{index}", b"x").topic for _ in range(per_thread)]
        except BaseException as exc:
            errors.append(exc)

    # Responses are read by whichever thread holds the reader role and handed to their owners.
    _run_threads(serve, worker, threads, 30)
    assert not errors
    assert all(results[i] == [f"thread-{i}"] * per_thread for i in range(threads))


def test_a_waiter_is_woken_by_another_threads_read(pair: tuple[Connection, ScriptedServer]) -> None:
    conn, server = pair
    first = _submit_produce(conn, "first", b"1")
    second = _submit_produce(conn, "second", b"22")
    requests = server.read(2)
    woke: list[float] = []

    def wait_first() -> None:
        first.wait(5)
        woke.append(time.monotonic())

    reader = threading.Thread(target=lambda: second.wait(5))
    reader.start()  # takes the reader role, waiting for the second response
    time.sleep(0.05)
    sleeper = threading.Thread(target=wait_first)
    sleeper.start()
    time.sleep(0.05)
    server.echo_produce(requests[0])
    sleeper.join(5)
    assert woke, "the first waiter was not woken when its response was read by the reader thread"
    assert not second.done()
    server.echo_produce(requests[1])
    reader.join(5)
    assert second.done()


def test_timeout_closes_the_connection_and_fails_the_others(pair: tuple[Connection, ScriptedServer]) -> None:
    conn, _server = pair
    earlier = _submit_produce(conn, "t", b"a")
    call = produce_call("t", b"b")
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        conn.request(call.op, call.payload, timeout=0.2)
    assert 0.15 < time.monotonic() - started < 2
    assert conn.closed
    with pytest.raises(ConnectionError, match="may or may not"):
        earlier.wait(1)
    with pytest.raises(NotSentError):
        conn.submit(call.op, call.payload)


def test_pending_wait_timeout_also_closes(pair: tuple[Connection, ScriptedServer]) -> None:
    conn, _server = pair
    pending = _submit_produce(conn, "t", b"a")
    with pytest.raises(TimeoutError):
        pending.wait(0.1)
    assert conn.closed and pending.done()
    assert isinstance(pending.exception(), TimeoutError)


def test_server_close_fails_pending_requests(pair: tuple[Connection, ScriptedServer]) -> None:
    conn, server = pair
    pending = _submit_produce(conn, "t", b"a")
    server.read(1)
    server.sock.shutdown(socket.SHUT_RDWR)
    with pytest.raises(ConnectionError, match="closed the connection"):
        pending.wait(5)
    assert conn.closed and conn.close_reason == "closed by the server"


def test_unsolicited_response_puts_the_connection_out_of_step(
    pair: tuple[Connection, ScriptedServer],
) -> None:
    conn, server = pair
    pending = _submit_produce(conn, "t", b"a")
    (request,) = server.read(1)
    server.echo_produce(request)
    server.echo_produce(request)  # one answer too many
    pending.wait(5)
    time.sleep(0.05)
    with pytest.raises(ConnectionError, match=r"out of step|nobody asked"):
        _submit_produce(conn, "t", b"b").wait(5)


def test_bad_magic_from_the_server_is_a_connection_error(pair: tuple[Connection, ScriptedServer]) -> None:
    conn, server = pair
    pending = _submit_produce(conn, "t", b"a")
    server.read(1)
    server.sock.sendall(b"\x00" * 16)
    with pytest.raises(ConnectionError):
        pending.wait(5)
    assert conn.closed


def test_done_callbacks_run_once_on_completion_and_failure(pair: tuple[Connection, ScriptedServer]) -> None:
    conn, server = pair
    seen: list[tuple[str, bool]] = []
    ok = _submit_produce(conn, "ok", b"a")
    ok.add_done_callback(lambda p: seen.append(("ok", p.exception() is None)))
    (request,) = server.read(1)
    server.echo_produce(request)
    ok.wait(5)
    ok.add_done_callback(lambda p: seen.append(("late", True)))  # already done: runs now
    failing = _submit_produce(conn, "bad", b"b")
    failing.add_done_callback(lambda p: seen.append(("bad", p.exception() is None)))
    conn.close()
    assert seen == [("ok", True), ("late", True), ("bad", False)]


def test_close_is_idempotent_and_refuses_new_requests(pair: tuple[Connection, ScriptedServer]) -> None:
    conn, _server = pair
    conn.close()
    conn.close("again")
    assert conn.closed and conn.close_reason == "closed by the client"
    with pytest.raises(NotSentError):
        _submit_produce(conn, "t", b"a")


def test_dead_idle_connection_is_detected_before_writing(
    pair: tuple[Connection, ScriptedServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    conn, server = pair
    monkeypatch.setattr(connection_module, "STALE_CHECK_AFTER_S", 0.0)
    server.sock.shutdown(socket.SHUT_RDWR)  # the server dropped the idle connection
    time.sleep(0.05)
    with pytest.raises(NotSentError, match="idle"):
        _submit_produce(conn, "t", b"a")
    assert conn.closed


def _count_sends(conn: Connection) -> list[int]:
    """Record the size of every ``send_timeout`` of ``conn``'s transport (the list is filled in place)."""
    sends: list[int] = []
    real = conn.transport.send_timeout

    def counting(data: bytes, timeout: float | None) -> None:
        sends.append(len(data))
        real(data, timeout)

    conn.transport.send_timeout = counting  # type: ignore[method-assign]
    return sends


def test_each_frame_is_written_in_one_send(pair: tuple[Connection, ScriptedServer]) -> None:
    conn, server = pair
    sends = _count_sends(conn)
    pending = _submit_produce(conn, "t", b"x" * 100)
    (request,) = server.read(1)
    assert sends == [8 + len(request.payload)]
    server.echo_produce(request)
    pending.wait(5)


def test_tcp_transport_sets_nodelay_and_large_buffers() -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    transport = TcpTransport(ServerAddress("127.0.0.1", port), TransportOptions())
    try:
        transport.connect()
        sock = transport.socket
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
        assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF) >= 4 * 1024 * 1024
    finally:
        transport.close()
        listener.close()


def test_tcp_transport_reports_refused_connections_clearly() -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    listener.close()
    transport = TcpTransport(ServerAddress("127.0.0.1", port), TransportOptions())
    with pytest.raises(ConnectionError, match=f"127.0.0.1:{port}"):
        transport.connect()


def test_tcp_recv_timeout_honours_short_deadlines() -> None:
    a, b = socket.socketpair()
    transport = TcpTransport.from_socket(a, ServerAddress("pair", 1))
    try:
        started = time.monotonic()
        with pytest.raises(OSError):  # builtin TimeoutError
            transport.recv_timeout(1024, 0.1)
        assert 0.08 < time.monotonic() - started < 1.0
        b.sendall(b"hello")
        assert transport.recv_timeout(1024, 5.0) == b"hello"
        b.sendall(b"again")
        assert transport.recv_timeout(1024, None) == b"again"
    finally:
        transport.close()
        b.close()


# ---------------------------------------------------------------------------------- submit_frames


def _produce_frames(count: int, topic: str = "batch") -> bytes:
    frames = []
    for index in range(count):
        call = produce_call(topic, f"v{index}".encode())
        frames.append(encode_frame(call.op, 0x01, call.payload))
    return b"".join(frames)


def test_submit_frames_writes_a_batch_in_one_send_with_one_pending_each(
    pair: tuple[Connection, ScriptedServer],
) -> None:
    conn, server = pair
    sends = _count_sends(conn)
    data = _produce_frames(3)
    pendings = conn.submit_frames(int(OpCode.PRODUCE), data, 3, timeout=5)
    after = _submit_produce(conn, "after", b"later")  # FIFO order continues behind the batch
    assert sends == [len(data), sends[1]] and len(pendings) == 3
    assert conn.in_flight == 4
    requests = server.read(4)
    for request in requests:
        server.echo_produce(request)
    values = [complete(produce_call("x", b""), p.wait(5)).value_size for p in pendings]
    assert values == [2, 2, 2]
    assert complete(produce_call("x", b""), after.wait(5)).topic == "after"
    assert all(p.op == OpCode.PRODUCE and p.connection is conn for p in pendings)
    assert conn.in_flight == 0


def test_submit_frames_on_a_closed_connection_sends_nothing(pair: tuple[Connection, ScriptedServer]) -> None:
    conn, _server = pair
    conn.close()
    with pytest.raises(NotSentError, match="closed"):
        conn.submit_frames(int(OpCode.PRODUCE), _produce_frames(2), 2)
    assert conn.in_flight == 0


def test_submit_frames_detects_a_dead_idle_connection_before_writing(
    pair: tuple[Connection, ScriptedServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    conn, server = pair
    monkeypatch.setattr(connection_module, "STALE_CHECK_AFTER_S", 0.0)
    server.sock.shutdown(socket.SHUT_RDWR)
    time.sleep(0.05)
    with pytest.raises(NotSentError, match="idle"):
        conn.submit_frames(int(OpCode.PRODUCE), _produce_frames(2), 2)
    assert conn.closed and conn.in_flight == 0


def test_submit_frames_write_timeout_closes_and_fails_everything(
    pair: tuple[Connection, ScriptedServer],
) -> None:
    conn, _server = pair  # the server never reads: the socket buffers fill up
    earlier = _submit_produce(conn, "t", b"a")
    big = encode_frame(int(OpCode.PRODUCE), 0x01, b"\x00" * (16 * 1024 * 1024))
    with pytest.raises(TimeoutError, match=r"2 PRODUCE requests.*part of it may have been sent"):
        conn.submit_frames(int(OpCode.PRODUCE), big * 2, 2, timeout=0.2)
    assert conn.closed and conn.close_reason == "write timed out"
    with pytest.raises(ConnectionError, match="could not be written"):
        earlier.wait(1)


def test_submit_frames_write_failure_is_a_connection_error(pair: tuple[Connection, ScriptedServer]) -> None:
    conn, server = pair
    earlier = _submit_produce(conn, "t", b"a")
    server.sock.close()  # the peer is gone: the write fails (EPIPE / ECONNRESET)
    with pytest.raises(ConnectionError, match="failed while writing"):
        conn.submit_frames(int(OpCode.PRODUCE), _produce_frames(2), 2, timeout=1)
    assert conn.closed
    with pytest.raises(ConnectionError):
        earlier.wait(1)


# ------------------------------------------------------------------------------------- wait_for


def test_wait_for_returns_none_in_time_and_leaves_the_request_in_flight(
    pair: tuple[Connection, ScriptedServer],
) -> None:
    conn, server = pair
    pending = _submit_produce(conn, "t", b"abc")
    started = time.monotonic()
    assert pending.wait_for(0.1) is None
    assert 0.08 < time.monotonic() - started < 1.0
    assert not conn.closed and not pending.done() and conn.in_flight == 1
    (request,) = server.read(1)
    server.echo_produce(request)
    assert complete(produce_call("t", b""), pending.wait(5)).value_size == 3
    assert pending.wait_for(0) is not None  # done: returns the frame at once


def test_wait_for_zero_picks_up_a_response_that_already_arrived(
    pair: tuple[Connection, ScriptedServer],
) -> None:
    conn, server = pair
    pending = _submit_produce(conn, "t", b"abcd")
    (request,) = server.read(1)
    server.echo_produce(request)
    time.sleep(0.05)
    frame = pending.wait_for(0)
    assert frame is not None and complete(produce_call("t", b""), frame).value_size == 4


def test_wait_for_timeouts_do_not_disturb_other_pendings(pair: tuple[Connection, ScriptedServer]) -> None:
    conn, server = pair
    first = _submit_produce(conn, "first", b"1")
    second = _submit_produce(conn, "second", b"22")
    assert second.wait_for(0.05) is None
    assert first.wait_for(0.05) is None
    requests = server.read(2)
    server.echo_produce(requests[0])
    server.echo_produce(requests[1])
    assert complete(produce_call("t", b""), second.wait(5)).topic == "second"
    assert complete(produce_call("t", b""), first.wait(5)).topic == "first"
    assert not conn.closed


def test_wait_for_raises_the_requests_failure(pair: tuple[Connection, ScriptedServer]) -> None:
    conn, server = pair
    pending = _submit_produce(conn, "t", b"a")
    server.read(1)
    server.sock.shutdown(socket.SHUT_RDWR)
    with pytest.raises(ConnectionError, match="closed the connection"):
        pending.wait_for(5)


def test_a_reader_that_gives_up_hands_the_reader_role_on(pair: tuple[Connection, ScriptedServer]) -> None:
    conn, server = pair
    first = _submit_produce(conn, "first", b"1")
    second = _submit_produce(conn, "second", b"22")
    requests = server.read(2)
    gave_up: list[object] = []
    got: list[str] = []
    reader = threading.Thread(target=lambda: gave_up.append(first.wait_for(0.3)))
    reader.start()  # takes the reader role
    time.sleep(0.05)
    sleeper = threading.Thread(
        target=lambda: got.append(complete(produce_call("t", b""), second.wait(5)).topic)
    )
    sleeper.start()  # sleeps: the reader role is taken
    reader.join(5)
    assert gave_up == [None] and not second.done()
    server.echo_produce(requests[0])
    server.echo_produce(requests[1])
    sleeper.join(5)  # it must have taken over the reader role to get its response
    assert got == ["second"] and first.done() and not conn.closed


def test_a_sleeper_that_gives_up_does_not_swallow_the_reader_role(
    pair: tuple[Connection, ScriptedServer],
) -> None:
    conn, server = pair
    first = _submit_produce(conn, "first", b"1")
    second = _submit_produce(conn, "second", b"22")
    third = _submit_produce(conn, "third", b"333")
    requests = server.read(3)
    results: dict[str, str] = {}

    def wait(name: str, pending: PendingResponse, timeout: float) -> None:
        results[name] = complete(produce_call("t", b""), pending.wait(timeout)).topic

    holder = threading.Thread(target=wait, args=("first", first, 5))
    holder.start()  # the reader, until the first response
    time.sleep(0.05)
    assert second.wait_for(0.05) is None  # a sleeper that gives up
    late = threading.Thread(target=wait, args=("third", third, 2))
    late.start()  # another sleeper
    time.sleep(0.05)
    server.echo_produce(requests[0])
    holder.join(5)  # the reader leaves: the role must go to the live sleeper, not the one that left
    time.sleep(0.05)
    server.echo_produce(requests[1])
    server.echo_produce(requests[2])
    late.join(5)
    assert results == {"first": "first", "third": "third"}
    assert complete(produce_call("t", b""), second.wait(5)).topic == "second"


def test_wait_for_under_load_from_many_threads(pair: tuple[Connection, ScriptedServer]) -> None:
    conn, server = pair
    threads, per_thread = 6, 30
    errors: list[BaseException] = []
    results: dict[int, list[str]] = {}
    misses = [0]

    def serve() -> None:
        answered = 0
        while answered < threads * per_thread:
            for request in server.read(1, timeout=20):
                time.sleep(0.002 * (answered % 3))
                server.echo_produce(request)
                answered += 1

    def worker(index: int) -> None:
        try:
            got = []
            for _ in range(per_thread):
                pending = _submit_produce(conn, f"thread-{index}", b"x")
                while (frame := pending.wait_for(0.001)) is None:
                    misses[0] += 1
                got.append(complete(produce_call("t", b""), frame).topic)
            results[index] = got
        except BaseException as exc:
            errors.append(exc)

    _run_threads(serve, worker, threads, 60)
    assert not errors
    assert all(results[i] == [f"thread-{i}"] * per_thread for i in range(threads))
    assert misses[0] > 0  # the short waits really did give up (and came back) along the way
    assert not conn.closed and conn.in_flight == 0


# ------------------------------------------------------------------------- request(): the solo path


def test_solo_request_write_timeout_closes_and_says_it_may_have_been_sent(
    pair: tuple[Connection, ScriptedServer],
) -> None:
    conn, _server = pair  # the server never reads: the socket buffers fill up
    big = b"\x00" * (24 * 1024 * 1024)
    with pytest.raises(TimeoutError, match=r"could not write PRODUCE .* within 0.2 s; part of it may"):
        conn.request(int(OpCode.PRODUCE), big, timeout=0.2)
    assert conn.closed and conn.close_reason == "write timed out"
    with pytest.raises(NotSentError):  # the write lock was released
        conn.request(int(OpCode.PRODUCE), b"", timeout=1)


def test_solo_request_write_failure_is_a_connection_error(pair: tuple[Connection, ScriptedServer]) -> None:
    conn, server = pair
    server.sock.close()  # the peer is gone: the write fails (EPIPE / ECONNRESET)
    with pytest.raises(ConnectionError, match="failed while writing") as info:
        _produce(conn, "t", b"a" * 300_000)
    assert isinstance(info.value.__cause__, OSError)
    assert conn.closed and conn.in_flight == 0


def test_solo_request_reads_a_reply_split_across_reads(pair: tuple[Connection, ScriptedServer]) -> None:
    conn, server = pair
    result: list[RecordMetadata] = []
    thread = threading.Thread(target=lambda: result.append(_produce(conn, "t", b"abc")))
    thread.start()
    (request,) = server.read(1)
    raw = encode_frame(
        *encode_response(
            OpCode.PRODUCE,
            {"topic": "t", "partition": 0, "offset": 9, "timestamp": 0, "key_size": -1, "value_size": 3},
        )
    )
    server.sock.sendall(raw[:3])
    time.sleep(0.05)
    server.sock.sendall(raw[3:])
    thread.join(5)
    assert result[0].offset == 9 and conn.in_flight == 0 and not conn.closed
    assert request.op == OpCode.PRODUCE


def test_solo_request_then_pipelined_requests_keep_their_order(
    pair: tuple[Connection, ScriptedServer],
) -> None:
    conn, server = pair
    results: dict[int, RecordMetadata] = {}

    def worker(index: int) -> None:
        results[index] = _produce(conn, "t", b"v" * (index + 1))

    first = threading.Thread(target=worker, args=(0,))
    first.start()
    (request0,) = server.read(1)  # the first request is in flight (solo: it holds the reader role)
    others = [threading.Thread(target=worker, args=(i,)) for i in range(1, 4)]
    for t in others:
        t.start()
    later = server.read(3)
    for request in (request0, *later):
        server.echo_produce(request)
    for t in (first, *others):
        t.join(5)
    assert {i: r.value_size for i, r in results.items()} == {0: 1, 1: 2, 2: 3, 3: 4}
    assert conn.in_flight == 0 and not conn.closed


def test_solo_request_interrupted_mid_read_closes_and_propagates(
    pair: tuple[Connection, ScriptedServer],
) -> None:
    conn, _server = pair

    def interrupted(max_bytes: int, timeout: float | None) -> bytes | memoryview:
        raise KeyboardInterrupt

    conn.transport.recv_view = interrupted  # type: ignore[method-assign]
    with pytest.raises(KeyboardInterrupt):
        _produce(conn, "t", b"a")
    assert conn.closed and conn.close_reason == "interrupted"


def test_solo_request_times_out_and_closes(pair: tuple[Connection, ScriptedServer]) -> None:
    conn, server = pair
    with pytest.raises(TimeoutError, match="no response to PRODUCE"):
        _produce(conn, "t", b"a", timeout=0.1)
    assert conn.closed and conn.close_reason == "a request timed out"
    assert len(server.read(1)) == 1


def test_solo_request_interrupted_mid_send_does_not_keep_the_reader_role(
    pair: tuple[Connection, ScriptedServer],
) -> None:
    conn, _server = pair

    def interrupted(data: bytes, timeout: float | None) -> None:
        raise KeyboardInterrupt

    conn.transport.send_timeout = interrupted  # type: ignore[method-assign]
    with pytest.raises(KeyboardInterrupt):
        _produce(conn, "t", b"a")
    assert not conn._reading and conn.in_flight == 1 and not conn.closed
    assert conn._write_lock.acquire(blocking=False)  # released
    conn._write_lock.release()


def test_tcp_recv_view_reads_into_the_transport_buffer_and_recv_timeout_copies() -> None:
    a, b = socket.socketpair()
    transport = TcpTransport.from_socket(a, ServerAddress("pair", 1))
    try:
        b.sendall(b"first")
        view = transport.recv_view(1024, 5.0)
        assert isinstance(view, memoryview) and bytes(view) == b"first"
        b.sendall(b"again")
        copied = transport.recv_timeout(1024, 5.0)
        assert type(copied) is bytes and copied == b"again"
        assert bytes(view) == b"again"  # the view was only valid until the next read
    finally:
        transport.close()
        b.close()


# ---------------------------------------------------------------------------------- submit_batches


def test_submit_batches_gives_one_pending_per_run_completed_by_its_last_answer(
    pair: tuple[Connection, ScriptedServer],
) -> None:
    conn, server = pair
    sends = _count_sends(conn)
    data = _produce_frames(2) + _produce_frames(3, topic="second")
    first, second = conn.submit_batches(int(OpCode.PRODUCE), data, [2, 3], timeout=5)
    after = _submit_produce(conn, "after", b"later")  # FIFO order continues behind the runs
    assert sends[0] == len(data) and conn.in_flight == 6
    requests = server.read(6)
    server.echo_produce(requests[0])
    server.echo_produce(requests[1])
    first.wait(5)
    assert first.done() and not second.done() and len(first.frames) == 2
    for request in requests[2:]:
        server.echo_produce(request)
    assert complete(produce_call("x", b""), after.wait(5)).topic == "after"
    assert second.done() and second.exception() is None
    assert [complete(produce_call("x", b""), frame).topic for frame in second.frames] == ["second"] * 3
    assert isinstance(first, PendingBatch) and "3 x PRODUCE done (3 answered)" in repr(second)
    assert conn.in_flight == 0


def test_a_batch_cut_by_a_closed_connection_keeps_the_answers_it_got(
    pair: tuple[Connection, ScriptedServer],
) -> None:
    conn, server = pair
    (batch,) = conn.submit_batches(int(OpCode.PRODUCE), _produce_frames(3), [3], timeout=5)
    requests = server.read(3)
    server.echo_produce(requests[0])
    server.sock.shutdown(socket.SHUT_RDWR)  # the rest is never answered
    with pytest.raises(ConnectionError):
        batch.wait(5)
    assert len(batch.frames) == 1 and isinstance(batch.exception(), ConnectionError)
    assert conn.closed


def test_a_batch_on_a_closed_connection_sends_nothing(pair: tuple[Connection, ScriptedServer]) -> None:
    conn, _server = pair
    conn.close()
    with pytest.raises(NotSentError, match="closed"):
        conn.submit_batches(int(OpCode.PRODUCE), _produce_frames(2), [2])
    assert conn.in_flight == 0
