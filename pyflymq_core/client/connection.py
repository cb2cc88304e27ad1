"""One pipelined connection to one server: a transport, a frame parser and a FIFO of pending requests.

The FlyMQ server answers the requests of a connection strictly in order and has no correlation id
(SEMANTICS_NOTES #8), so responses are matched to requests by position:

* **Writes** are serialised by a lock; a request joins the FIFO and its frame is written in one
  ``send`` under that lock, so FIFO order is wire order.
* **Reads** use a leader/follower scheme instead of a reader thread: the first thread that waits for
  a response becomes the *reader*; it reads frames and completes pendings in FIFO order (its own and
  any earlier ones) until its own response has arrived, then hands the role to another waiter.  A
  single-threaded caller therefore reads its answer itself with no thread hand-off (the latency a
  reader thread would add), and a call never blocks on anything but its own response.
* **Timeouts**: a response that does not come within the caller's timeout leaves the connection out
  of step (a late answer would be taken for the next request's), so the connection is closed: the
  caller gets :class:`~pyflymq_core.errors.TimeoutError`, every other pending request a
  :class:`~pyflymq_core.errors.ConnectionError`, and the client above reconnects on the next call.
* Frames are parsed without a size cap: the server may answer with more than 32 MiB (a large FETCH).

:meth:`Connection.submit` / :meth:`Connection.submit_frames` are the pipelining primitives; they
return :class:`PendingResponse` objects to ``wait()`` on.  :meth:`Connection.submit_batches` writes
runs of frames in one ``send`` with one :class:`PendingBatch` per run (the high-level producer's
batches: no object per record).  ``PendingResponse.wait_for(timeout)`` waits without
the timeout being fatal: it returns ``None`` and leaves the request in flight (a consumer's ``poll``
returns on time while its FETCH is still out).  :meth:`Connection.request` is submit + wait.
"""

from __future__ import annotations

import _thread
import builtins
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence

from pyflymq_core.errors import ConnectionError, FlyMQError, ProtocolError, TimeoutError
from pyflymq_core.protocol import (
    FLAG_BINARY,
    HEADER_SIZE,
    HEADER_STRUCT,
    MAGIC,
    MAX_REQUEST_PAYLOAD,
    VERSION,
    Frame,
    FrameParser,
    OpCode,
    encode_request_frame,
)
from pyflymq_transports.base import Transport

__all__ = ["Connection", "NotSentError", "PendingBatch", "PendingResponse"]

logger = logging.getLogger("pyflymq.connection")

#: Bytes asked from the transport per read.
RECV_SIZE = 256 * 1024
#: A connection idle longer than this is checked for a server-side close before the next write (one
#: non-blocking peek, a few µs, and only after an idle moment: never in a busy loop).  A server that
#: went away is then noticed before anything is written, so the request fails over as "not sent"
#: instead of failing as "may or may not have been applied".  Requests within this long of the
#: server's death cannot be saved that way.
STALE_CHECK_AFTER_S = 0.1
#: The shortest wait of :meth:`PendingResponse.wait_for`: long enough to read what already arrived.
MIN_WAIT_S = 0.001

_monotonic = time.monotonic
_allocate_lock = _thread.allocate_lock
_LockType = _thread.LockType
_tuple_new = tuple.__new__
_pack_header = HEADER_STRUCT.pack
_unpack_header = HEADER_STRUCT.unpack_from

_PENDING = 0
_DONE = 1
_FAILED = 2


def op_name(op: int) -> str:
    """``PRODUCE`` for 0x01, ``0x99`` for unknown opcodes (log and error text)."""
    try:
        return OpCode(op).name
    except ValueError:
        return f"0x{op:02x}"


def _whole_frame(data: bytes | memoryview) -> Frame | None:
    """The frame a read holds when it is exactly one well-formed frame (the common case: one
    answer per read), else ``None`` (the parser then takes the read)."""
    size = len(data)
    if size < HEADER_SIZE:
        return None
    magic, version, op, flags, length = _unpack_header(data)
    if size - HEADER_SIZE != length or magic != MAGIC or version != VERSION:
        return None
    payload = data[HEADER_SIZE:]
    if type(payload) is memoryview:
        payload = payload.tobytes()
    return _tuple_new(Frame, (op, flags, payload))


class NotSentError(ConnectionError):
    """The request was never written: the connection was already closed, or found dead before the
    write.  Retrying it on a new connection is always safe, even for writes."""


class PendingResponse:
    """The response to one submitted request, to ``wait()`` for (from any one thread).

    ``wait`` returns the raw :class:`~pyflymq_core.protocol.Frame`; the operation layer
    (:mod:`pyflymq_core.client.calls`) turns it into a result or a typed error.
    """

    __slots__ = ("_callbacks", "_conn", "_error", "_frame", "_signal", "_state", "op")

    def __init__(self, conn: Connection, op: int) -> None:
        self.op = op
        self._conn = conn
        self._state = _PENDING
        self._frame: Frame | None = None
        self._error: FlyMQError | None = None
        self._callbacks: list[Callable[[PendingResponse], None]] | None = None
        #: A lock held while a non-reading waiter sleeps; released to wake it (see Connection).
        self._signal: _LockType | None = None

    @property
    def connection(self) -> Connection:
        """The connection the request was written to."""
        return self._conn

    def done(self) -> bool:
        """Whether the response (or a failure) is in."""
        return self._state != _PENDING

    def wait(self, timeout: float | None = None) -> Frame:
        """The response frame; ``TimeoutError`` after ``timeout`` s (the connection is then closed),
        ``ConnectionError`` when the connection failed before the response came."""
        if self._state == _PENDING:
            self._conn._await(self, None if timeout is None else _monotonic() + timeout, True)
        if self._state == _DONE:
            return self._frame  # type: ignore[return-value]
        assert self._error is not None
        raise self._error

    def wait_for(self, timeout: float) -> Frame | None:
        """The response frame if it arrives within ``timeout`` s, else ``None`` — harmlessly.

        Unlike :meth:`wait`, running out of time is not an error: the request stays in flight, the
        connection stays open and in step, and a later ``wait()``/``wait_for()`` still gets this
        response (other pending requests are not affected).  The wait lasts at least
        :data:`MIN_WAIT_S`, so ``wait_for(0)`` still picks up a response that already arrived.
        Raises the request's error if it failed (e.g. ``ConnectionError`` when the connection
        broke).
        """
        if self._state == _PENDING:
            self._conn._await(self, _monotonic() + max(timeout, MIN_WAIT_S), False)
            if self._state == _PENDING:
                return None
        if self._state == _DONE:
            return self._frame
        assert self._error is not None
        raise self._error

    def exception(self) -> FlyMQError | None:
        """The failure, once done (``None`` while pending or after success)."""
        return self._error

    def add_done_callback(self, fn: Callable[[PendingResponse], None]) -> None:
        """Call ``fn(self)`` once done, on the thread that completes it (immediately if done).

        Responses are read by waiting threads, so callbacks run when *some* thread waits on this
        connection.  A callback must not block; its exceptions are logged, not propagated.
        """
        with self._conn._state:
            if self._state == _PENDING:
                if self._callbacks is None:
                    self._callbacks = []
                self._callbacks.append(fn)
                return
        _run_callback(fn, self)

    def __repr__(self) -> str:
        state = ("pending", "done", "failed")[self._state]
        return f"<PendingResponse {op_name(self.op)} {state} on {self._conn.label}>"


class PendingBatch(PendingResponse):
    """The answers to ``count`` requests written together (:meth:`Connection.submit_batches`):
    done when the last one is in, or when the connection failed first.

    One object for a run of requests instead of one :class:`PendingResponse` each: the high-level
    producer writes thousands of PRODUCE frames a second, and a pending object per record (its
    allocation, completion, ``wait()`` and its share of garbage collection) cost about a
    microsecond per record.  :attr:`frames` holds the answers received, in request order: all
    ``count`` of them once succeeded; on a failure, the answered prefix, while the requests after
    it get :meth:`exception`'s error (they may or may not have been received).
    """

    __slots__ = ("count", "frames")

    def __init__(self, conn: Connection, op: int, count: int) -> None:
        super().__init__(conn, op)
        self.count = count
        self.frames: list[Frame] = []

    def __repr__(self) -> str:
        state = ("pending", "done", "failed")[self._state]
        return (
            f"<PendingBatch {self.count} x {op_name(self.op)} {state} ({len(self.frames)} answered) "
            f"on {self._conn.label}>"
        )


def _run_callback(fn: Callable[[PendingResponse], None], pending: PendingResponse) -> None:
    try:
        fn(pending)
    except Exception:
        logger.exception("done-callback of %r raised", pending)


class Connection:
    """A pipelined, thread-safe request/response channel over one :class:`Transport`.

    Locking (all plain locks; ``threading.Condition`` costs several µs per request in Python):
    ``_write_lock`` orders FIFO appends with wire writes; ``_state`` guards completions, the reader
    role, sleeping waiters and closing.  A waiter that cannot take the reader role sleeps on its own
    signal lock and is woken when its response is in, or when the reader leaves and it should take
    over.
    """

    def __init__(self, transport: Transport, *, label: str | None = None) -> None:
        self.transport = transport
        self.address = transport.address
        self.label = label or str(transport.address)
        self._parser = FrameParser()
        self._pending: deque[PendingResponse] = deque()
        self._sleepers: deque[PendingResponse] = deque()
        self._state = threading.Lock()
        self._write_lock = threading.Lock()
        self._io_lock: threading.Lock | None = None if transport.full_duplex else threading.Lock()
        self._reading = False
        #: Whether the parser holds part of a frame (the one-whole-frame fast path is then off).
        self._partial = False
        self._closed = False
        self.close_reason: str | None = None
        self.last_activity = _monotonic()
        #: Identity bound to this connection by a successful AUTH (``None`` = anonymous).
        self.username: str | None = None
        #: Whether the server has authentication enabled, once probed (``None`` = unknown).
        self.auth_enabled: bool | None = None

    # -- state ------------------------------------------------------------------------------------

    @property
    def closed(self) -> bool:
        """Whether the connection can no longer be used (a new one is needed)."""
        return self._closed

    @property
    def in_flight(self) -> int:
        """Requests written whose response has not been read yet."""
        return len(self._pending)

    def idle_for(self) -> float:
        """Seconds since the last request was written."""
        return _monotonic() - self.last_activity

    # -- sending ----------------------------------------------------------------------------------

    def submit(
        self,
        op: int,
        payload: bytes,
        *,
        flags: int = FLAG_BINARY,
        compress: bool = False,
        timeout: float | None = None,
    ) -> PendingResponse:
        """Write one request and return its pending response without waiting for it.

        ``timeout`` bounds the write only.  Raises :class:`NotSentError` when nothing was written
        (closed or dead connection), ``ConnectionError``/``TimeoutError`` when the write failed part
        way (the connection is then closed and the request may or may not have been received).
        """
        frame = encode_request_frame(op, payload, flags=flags, compress=compress)
        return self.submit_frame(op, frame, timeout=timeout)

    def submit_frame(self, op: int, frame: bytes, timeout: float | None = None) -> PendingResponse:
        """Like :meth:`submit` for an already encoded frame (header included)."""
        pending = PendingResponse(self, op)
        self._write(op, frame, (pending,), timeout, _monotonic())
        return pending

    def submit_frames(
        self, op: int, data: bytes, count: int, *, timeout: float | None = None
    ) -> list[PendingResponse]:
        """Write ``count`` already encoded request frames of opcode ``op`` (concatenated in ``data``)
        in one send; return their pending responses, in order.

        The server answers each frame separately, in order, so each gets its own
        :class:`PendingResponse`.  ``timeout`` bounds the write only.  Raises :class:`NotSentError`
        when nothing was written (closed or dead connection), ``ConnectionError``/``TimeoutError``
        when the write failed part way (the connection is then closed and every pending request
        fails; any of the frames may have been received).
        """
        pendings = [PendingResponse(self, op) for _ in range(count)]
        self._write(op, data, pendings, timeout, _monotonic())
        return pendings

    def submit_batches(
        self, op: int, data: bytes, counts: Sequence[int], *, timeout: float | None = None
    ) -> list[PendingBatch]:
        """Write runs of already encoded request frames of opcode ``op`` (concatenated in ``data``,
        ``counts[i]`` frames in run ``i``) in one send; return one :class:`PendingBatch` per run.

        What :meth:`submit_frames` does, without a pending object per frame.  ``timeout`` bounds
        the write only; the errors are those of :meth:`submit_frames`.
        """
        batches = [PendingBatch(self, op, count) for count in counts]
        entries: list[PendingResponse] = []
        for batch in batches:
            entries += [batch] * batch.count  # one FIFO entry per frame: answers match by position
        self._write(op, data, entries, timeout, _monotonic())
        return batches

    def request(self, op: int, payload: bytes, timeout: float | None = None, compress: bool = False) -> Frame:
        """Send one request and wait for its response frame; ``timeout`` covers both."""
        if compress or len(payload) > MAX_REQUEST_PAYLOAD:
            frame = encode_request_frame(op, payload, compress=compress)  # compresses / refuses
        else:
            frame = _pack_header(MAGIC, VERSION, op, FLAG_BINARY, len(payload)) + payload
        return self.request_frame(op, frame, timeout)

    def request_frame(self, op: int, frame: bytes, timeout: float | None = None) -> Frame:
        """:meth:`request` for an already encoded frame (header included, within the size limit).

        The solo path (issue 4: a sync ``produce()`` is one round trip, and this is most of its
        client CPU): when the connection is idle — nothing in flight, nobody reading — the caller
        takes the reader role as it writes, under the write lock, and reads its answer right away;
        an answer that is exactly one whole frame is completed here, without the reader loop.  That
        saves a lock round trip, two calls and the loop's bookkeeping.  Taking the role without the
        state lock is safe: every thread that takes it has a request in the FIFO, appended under
        the write lock held here, so nobody can race for it; a reader that just completed the last
        request may still show ``_reading`` (the caller then waits the normal way).  Anything else
        (contention, a partial or multi-frame read, a failure) goes through :meth:`_write_locked`
        (in the same hold of the write lock: a contended lock is taken once), :meth:`_await` and
        :meth:`_read`, which make the same decisions.
        """
        now = _monotonic()
        pending = PendingResponse(self, op)
        deadline = None if timeout is None else now + timeout
        lock = self._write_lock
        lock.acquire()
        solo = not (
            self._closed
            or self._pending
            or self._reading
            or self._io_lock is not None
            or now - self.last_activity > STALE_CHECK_AFTER_S
        )
        if not solo:
            try:
                self._write_locked(op, frame, (pending,), timeout, now)
            finally:
                lock.release()
            self._await(pending, deadline, True)
        else:
            self._reading = True
            self._pending.append(pending)
            try:
                self.transport.send_timeout(frame, timeout)
            except (OSError, ValueError) as exc:
                try:
                    error = self._write_failed(exc, op, 1, timeout)  # closes under the write lock
                finally:
                    lock.release()
                raise error from exc
            except BaseException:  # KeyboardInterrupt mid-send: as _write, the request stays queued
                self._reading = False  # nobody else could see the role taken (write lock held)
                lock.release()
                raise
            self.last_activity = now
            lock.release()
            try:
                if deadline is None:
                    data = self.transport.recv_view(RECV_SIZE, None)
                else:
                    left = deadline - _monotonic()
                    if left <= 0:
                        raise builtins.TimeoutError("timed out")
                    data = self.transport.recv_view(RECV_SIZE, left)
            except BaseException as exc:
                self._read_failed(exc, pending, deadline, True)
            else:
                answer = None if self._partial else _whole_frame(data)
                if answer is not None:
                    state = self._state
                    state.acquire()
                    queue = self._pending
                    if queue and queue[0] is pending:  # else closed meanwhile: the reader loop says so
                        queue.popleft()
                        self._reading = False
                        if self._sleepers:
                            self._wake_next_reader()
                        state.release()
                        return answer
                    state.release()
                self._read(pending, deadline, True, data)
        if pending._state == _DONE:
            return pending._frame  # type: ignore[return-value]
        assert pending._error is not None
        raise pending._error

    def _write(
        self, op: int, data: bytes, entries: Sequence[PendingResponse], timeout: float | None, now: float
    ) -> None:
        """FIFO-append ``entries`` and write ``data`` (their frames) in one send, under the write lock.

        The one write path of :meth:`submit_frame`, :meth:`submit_frames` and (through
        :meth:`_write_locked`, besides its solo path) :meth:`request_frame`; ``now`` is the
        caller's monotonic clock reading.  (Locks
        are taken with acquire/release rather than ``with``: a lock's ``__exit__`` costs a few
        hundred ns per request.)
        """
        lock = self._write_lock
        lock.acquire()
        try:
            self._write_locked(op, data, entries, timeout, now)
        finally:
            lock.release()

    def _write_locked(
        self, op: int, data: bytes, entries: Sequence[PendingResponse], timeout: float | None, now: float
    ) -> None:
        """:meth:`_write` with the write lock already held by the caller."""
        if self._closed:
            raise NotSentError(f"connection to {self.label} is closed ({self.close_reason or 'closed'})")
        if (
            now - self.last_activity > STALE_CHECK_AFTER_S
            and not self._pending
            and self.transport.peer_closed()
        ):
            reason = "the server closed the idle connection"
            self.close(reason)
            raise NotSentError(f"connection to {self.label}: {reason}")
        self._pending.extend(entries)
        try:
            if self._io_lock is None:
                self.transport.send_timeout(data, timeout)
            else:
                with self._io_lock:
                    self.transport.send_timeout(data, timeout)
        except (OSError, ValueError) as exc:
            raise self._write_failed(exc, op, len(entries), timeout) from exc
        self.last_activity = now

    def _write_failed(
        self, exc: OSError | ValueError, op: int, count: int, timeout: float | None
    ) -> FlyMQError:
        """A write of ``count`` requests failed part way: close the connection (failing every
        pending request) and return the error the writer raises."""
        if isinstance(exc, builtins.TimeoutError):
            shown = "the timeout" if timeout is None else f"{timeout:g} s"
            self._fail_all(
                ConnectionError(
                    f"connection to {self.label} closed: a request could not be written within {shown}"
                ),
                reason="write timed out",
                cause=exc,
            )
            what = op_name(op) if count == 1 else f"{count} {op_name(op)} requests"
            return TimeoutError(
                f"could not write {what} to {self.label} within {shown}; part of it may have been sent"
            )
        error = ConnectionError(f"connection to {self.label} failed while writing: {exc}")
        self._fail_all(error, reason=f"write failed: {exc}", cause=exc)
        return error

    # -- receiving --------------------------------------------------------------------------------

    def _await(self, pending: PendingResponse, deadline: float | None, expire: bool) -> None:
        """Wait until ``pending`` is done, reading the socket ourselves when nobody else is.

        At ``deadline``, ``expire`` fails the request with TimeoutError and closes the connection
        (:meth:`PendingResponse.wait`); without it the wait just ends, leaving everything in flight
        (:meth:`PendingResponse.wait_for`).

        The first waiter takes the reader role (:meth:`_read`); the others sleep until their
        response is in, or until the reader leaves and one of them should take over.
        """
        state = self._state
        while True:
            state.acquire()
            try:
                if pending._state != _PENDING:
                    return
                if self._closed:
                    # Appended while the connection was being closed: fail it like the others.
                    self._drain(
                        ConnectionError(f"connection to {self.label} is closed ({self.close_reason})")
                    )
                    return
                if not self._reading:
                    self._reading = True
                    break
                signal = pending._signal
                if signal is None:
                    signal = pending._signal = _allocate_lock()
                    signal.acquire()
                self._sleepers.append(pending)
            finally:
                state.release()
            if deadline is None:
                signal.acquire()
            else:
                remaining = deadline - _monotonic()
                if remaining <= 0 or not signal.acquire(timeout=remaining):
                    if not expire:
                        self._stop_sleeping(pending)
                        return
                    state.acquire()
                    try:
                        if pending._state != _PENDING:
                            return
                    finally:
                        state.release()
                    self._expire(pending, deadline)
                    return
        self._read(pending, deadline, expire)

    def _read(
        self,
        pending: PendingResponse,
        deadline: float | None,
        expire: bool,
        data: bytes | memoryview | None = None,
    ) -> None:
        """The reader role, held by the caller: read frames and complete pendings in FIFO order (its
        own and any earlier ones) until ``pending`` is done, then hand the role on.

        ``deadline`` and ``expire`` as for :meth:`_await`; ``data`` is a read the caller already
        made (the solo path of :meth:`request_frame`).  Reads are ``Transport.recv_view`` results,
        possibly views of the transport's buffer: each is parsed before the next read, and every
        payload is copied out of it once.  Failures close the connection and fail every pending
        request.
        """
        state = self._state
        recv = self.transport.recv_view
        queue = self._pending
        io_lock = self._io_lock
        try:
            while True:
                if data is None:
                    if deadline is None:
                        left = None
                    else:
                        left = deadline - _monotonic()
                        if left <= 0:
                            raise builtins.TimeoutError("timed out")
                    if io_lock is None:
                        data = recv(RECV_SIZE, left)
                    else:
                        with io_lock:
                            data = recv(RECV_SIZE, left)
                if not data:
                    raise EOFError
                frames: Sequence[Frame] | None = None
                if not self._partial:
                    # Fast path: the read holds exactly one whole frame (the common case).  A
                    # bad header goes to the parser, which raises the framing error.
                    frame = _whole_frame(data)
                    if frame is not None:
                        frames = (frame,)
                if frames is None:
                    parser = self._parser
                    frames = parser.feed(data)
                    self._partial = parser.buffered != 0
                    if not frames:
                        data = None
                        continue
                data = None
                callbacks: list[tuple[Callable[[PendingResponse], None], PendingResponse]] | None = None
                state.acquire()
                try:
                    for frame in frames:
                        if not queue:
                            raise ProtocolError(
                                f"{self.label} sent a response nobody asked for (opcode 0x{frame.op:02x}); "
                                "the connection is out of step"
                            )
                        done = queue.popleft()
                        if type(done) is PendingBatch:
                            answered = done.frames
                            answered.append(frame)
                            if len(answered) < done.count:
                                continue
                        done._frame = frame
                        done._state = _DONE
                        signal = done._signal
                        if signal is not None and signal.locked():
                            signal.release()
                        if done._callbacks:
                            if callbacks is None:
                                callbacks = []
                            callbacks.extend((fn, done) for fn in done._callbacks)
                    finished = pending._state != _PENDING
                    if finished:
                        self._reading = False
                        if self._sleepers:
                            self._wake_next_reader()
                finally:
                    state.release()
                if callbacks:
                    for fn, done in callbacks:
                        _run_callback(fn, done)
                if finished:
                    return
        except BaseException as exc:
            self._read_failed(exc, pending, deadline, expire)

    def _read_failed(
        self, exc: BaseException, pending: PendingResponse, deadline: float | None, expire: bool
    ) -> None:
        """The reader's read failed with ``exc``: a timeout expires ``pending`` (closing the
        connection) or, for ``wait_for``, just hands the role on; anything else closes the
        connection and fails every pending request.  An interruption (``KeyboardInterrupt``) is
        re-raised after that: the stream position is unknown."""
        if isinstance(exc, builtins.TimeoutError):
            if expire:
                self._expire(pending, deadline)
            else:
                with self._state:
                    self._reading = False
                    if self._sleepers:
                        self._wake_next_reader()
        elif isinstance(exc, EOFError):
            self._fail_all(
                ConnectionError(
                    f"{self.label} closed the connection before answering "
                    "(server restart, idle timeout or a request it could not handle)"
                ),
                reason="closed by the server",
            )
        elif isinstance(exc, ProtocolError):
            self._fail_all(
                ConnectionError(f"connection to {self.label} is out of step: {exc}"),
                reason=f"protocol error: {exc}",
                cause=exc,
            )
        elif isinstance(exc, (OSError, ValueError)):
            self._fail_all(
                ConnectionError(f"connection to {self.label} failed while reading: {exc}"),
                reason=f"read failed: {exc}",
                cause=exc,
            )
        else:
            self._fail_all(
                ConnectionError(f"connection to {self.label} abandoned mid-read ({type(exc).__name__})"),
                reason="interrupted",
                cause=exc,
            )
            raise exc

    def _stop_sleeping(self, pending: PendingResponse) -> None:
        """A waiter that is not reading gives up (``wait_for``): leave no trace, hand on the reader role."""
        with self._state:
            if pending in self._sleepers:
                self._sleepers.remove(pending)
            # else a waker popped it: it may have handed us the reader role, passed on below
            signal = pending._signal
            if signal is not None and not signal.locked():
                signal.acquire()  # a wake-up came after the timeout: re-arm for the next wait
            if not self._reading and self._sleepers:
                self._wake_next_reader()

    def _wake_next_reader(self) -> None:
        """Under ``_state``: wake the first sleeping waiter still pending, to take the reader role."""
        sleepers = self._sleepers
        while sleepers:
            waiter = sleepers.popleft()
            if waiter._state == _PENDING and waiter._signal is not None:
                if waiter._signal.locked():
                    waiter._signal.release()
                return

    def _expire(self, pending: PendingResponse, deadline: float | None) -> None:
        """``pending`` timed out: fail it with TimeoutError and close the (now out-of-step) connection."""
        error = TimeoutError(
            f"no response to {op_name(pending.op)} from {self.label} in time",
            hint="The server is slow or unreachable. Raise request_timeout_ms if large requests are "
            "expected; the connection was closed and the next call reconnects.",
        )
        with self._state:
            if pending._state != _PENDING:
                return
            self._complete_failed(pending, error)
            callbacks = pending._callbacks
        if callbacks:
            for fn in callbacks:
                _run_callback(fn, pending)
        logger.warning("%s; closing the connection", error)
        self._fail_all(
            ConnectionError(
                f"connection to {self.label} closed after another request timed out; "
                "this request may or may not have been processed"
            ),
            reason="a request timed out",
        )

    # -- closing ----------------------------------------------------------------------------------

    def _complete_failed(self, pending: PendingResponse, error: FlyMQError) -> None:
        """Under ``_state``: mark ``pending`` failed and wake its waiter."""
        pending._error = error
        pending._state = _FAILED
        signal = pending._signal
        if signal is not None and signal.locked():
            signal.release()

    def _drain(self, error: FlyMQError) -> list[tuple[Callable[[PendingResponse], None], PendingResponse]]:
        """Under ``_state``: fail every pending request and wake every sleeper."""
        callbacks: list[tuple[Callable[[PendingResponse], None], PendingResponse]] = []
        self._reading = False
        while self._pending:
            failed = self._pending.popleft()
            if failed._state != _PENDING:  # e.g. the request that timed out keeps its TimeoutError
                continue
            self._complete_failed(failed, error)
            if failed._callbacks:
                callbacks.extend((fn, failed) for fn in failed._callbacks)
        while self._sleepers:
            sleeper = self._sleepers.popleft()
            signal = sleeper._signal
            if signal is not None and signal.locked():
                signal.release()
        return callbacks

    def _fail_all(self, error: FlyMQError, *, reason: str, cause: BaseException | None = None) -> None:
        """Close the connection and fail every pending request with ``error``."""
        if cause is not None and error.__cause__ is None:
            error.__cause__ = cause
        with self._state:
            already = self._closed
            self._closed = True
            if not already:
                self.close_reason = reason
            callbacks = self._drain(error)
        if not already:
            if reason != "closed by the client":
                logger.info("connection to %s closed: %s", self.label, reason)
            try:
                self.transport.close()
            except OSError as exc:
                logger.warning("closing the transport to %s failed: %s", self.label, exc)
        for fn, failed in callbacks:
            _run_callback(fn, failed)

    def close(self, reason: str | None = None) -> None:
        """Close the connection (idempotent); pending requests fail with ConnectionError."""
        text = reason or "closed by the client"
        self._fail_all(
            ConnectionError(
                f"connection to {self.label} was closed ({text}) before the response arrived; "
                "the request may or may not have been processed"
            ),
            reason=text,
        )

    def __repr__(self) -> str:
        state = "closed" if self._closed else f"open, {len(self._pending)} in flight"
        return f"<Connection {self.label} {state}>"
