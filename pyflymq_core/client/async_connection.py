"""One pipelined asyncio connection: a transport, a frame parser, a FIFO of pending responses and
one reader task.

The asyncio twin of :class:`pyflymq_core.client.connection.Connection`.  The FlyMQ server answers
the requests of a connection strictly in order and has no correlation id (SEMANTICS_NOTES #8), so
responses are matched to requests by position:

* **Writing**: a request joins the FIFO and its frame is handed to the transport in one synchronous
  step (``write_nowait``, or under a write lock for transports without it), so FIFO order is wire
  order whatever the tasks interleave.  Flow control (``drain``) happens afterwards, outside that
  step.
* **Reading**: frames are parsed and the FIFO's entries completed in order, right in the event loop's
  ``data_received`` when the transport offers ``set_receiver`` (the built-in ones do), else by one
  reader task per connection looping over ``transport.read()``.  Any number of tasks may await their
  responses at the same time (pipelining).
* **Cancellation**: an awaiting caller that is cancelled (``task.cancel()``, ``asyncio.timeout``,
  ``wait_for``) leaves its entry in the FIFO; the reader still reads that response and drops it, so
  the connection stays in step and usable.
* **Request timeout** (``timeout=``, the client passes ``request_timeout_ms``): a response that does
  not come in time means the server is stuck or gone, as in the sync client: the caller gets
  :class:`~pyflymq_core.errors.TimeoutError`, the connection is closed, every other pending request
  fails with :class:`~pyflymq_core.errors.ConnectionError`, and the client reconnects on the next
  call.  One timer per connection watches the deadlines (not one per request).
* A server close is seen at once (EOF), so a dead idle connection is replaced on the next call
  without a failed request.

FIFO entries are *sinks*: anything with ``done()``, ``set_result(frame)`` and ``set_exception(exc)``
— an :class:`asyncio.Future`, or a lighter object of the high-level producer that turns the frame into
a record's result itself (no future and no task wake-up per record).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from pyflymq_core.client.connection import STALE_CHECK_AFTER_S, NotSentError, op_name
from pyflymq_core.errors import ConnectionError, FlyMQError, ProtocolError, TimeoutError
from pyflymq_core.protocol import (
    FLAG_BINARY,
    HEADER_SIZE,
    Frame,
    FrameParser,
    encode_request_frame,
    parse_header,
)
from pyflymq_transports.base import AsyncTransport

__all__ = ["AsyncConnection", "Entry", "ResponseSink", "wait_for_response"]

logger = logging.getLogger("pyflymq.connection")

#: Bytes asked from the transport per read.
RECV_SIZE = 256 * 1024
_monotonic = time.monotonic


class ResponseSink(Protocol):
    """What a FIFO entry must offer: the protocol of :class:`asyncio.Future` the reader uses."""

    def done(self) -> bool:
        """Whether the entry is settled (a cancelled caller's future is, and is then skipped)."""
        ...

    def set_result(self, result: Frame, /) -> None:
        """Deliver the response frame matched to this entry by FIFO position."""
        ...

    def set_exception(self, exception: BaseException, /) -> None:
        """Fail the entry (connection lost or closed before its response came)."""
        ...


#: A FIFO entry: the sink, the response deadline (monotonic, or ``None``) and the request opcode.
Entry = tuple[ResponseSink, "float | None", int]


class AsyncConnection:
    """A pipelined request/response channel over one :class:`AsyncTransport`, bound to one loop.

    Open it with :meth:`open` (connect the transport, start the reader).  ``request`` is
    submit + await; ``submit`` returns the future without awaiting it; ``submit_sinks`` writes many
    pre-encoded frames in one write (the producer's batches).
    """

    def __init__(self, transport: AsyncTransport, *, label: str | None = None) -> None:
        self.transport = transport
        self.address = transport.address
        self.label = label or str(transport.address)
        self._parser = FrameParser()
        #: ``(sink, deadline or None, op)`` in wire order.
        self._pending: deque[Entry] = deque()
        self._write_nowait: Callable[[bytes], None] | None = getattr(transport, "write_nowait", None)
        drain = getattr(transport, "drain", None)
        self._drain: Callable[[], Awaitable[None]] | None = drain if self._write_nowait else None
        self._peer_closed: Callable[[], bool] | None = getattr(transport, "peer_closed", None)
        self._write_lock = asyncio.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._reader: asyncio.Task[None] | None = None
        self._direct = False  # the transport calls _received itself (no reader task)
        self._closer: asyncio.Task[None] | None = None
        self._watchdog: asyncio.TimerHandle | None = None
        self._closed = False
        self.close_reason: str | None = None
        self.last_activity = _monotonic()
        #: Identity bound to this connection by a successful AUTH (``None`` = anonymous).
        self.username: str | None = None
        #: Whether the server has authentication enabled, once probed (``None`` = unknown).
        self.auth_enabled: bool | None = None

    # -- lifecycle --------------------------------------------------------------------------------

    async def open(self) -> AsyncConnection:
        """Connect the transport and start reading (on the running loop): received data is handed
        to :meth:`_received` directly by transports that can (``set_receiver``), else by a reader
        task looping over ``transport.read()``."""
        self._loop = asyncio.get_running_loop()
        await self.transport.connect()
        set_receiver = getattr(self.transport, "set_receiver", None)
        if set_receiver is not None:
            self._direct = True
            set_receiver(self._received, self._stream_ended)
        else:
            self._reader = self._loop.create_task(self._read_loop(), name=f"pyflymq-reader-{self.label}")
        self.last_activity = _monotonic()
        return self

    @property
    def closed(self) -> bool:
        """Whether the connection can no longer be used (a new one is needed)."""
        return self._closed

    @property
    def in_flight(self) -> int:
        """Requests written whose response has not been read yet."""
        return len(self._pending)

    @property
    def loop(self) -> asyncio.AbstractEventLoop | None:
        """The event loop the connection lives on (``None`` before :meth:`open`)."""
        return self._loop

    def idle_for(self) -> float:
        """Seconds since the last request was written."""
        return _monotonic() - self.last_activity

    # -- sending ----------------------------------------------------------------------------------

    def _check_writable(self) -> None:
        """Raise :class:`NotSentError` when a request cannot be written (nothing was sent)."""
        if self._closed:
            raise NotSentError(f"connection to {self.label} is closed ({self.close_reason or 'closed'})")
        if self._reader is None and not self._direct:
            raise NotSentError(f"connection to {self.label} is not open")
        if (
            not self._pending
            and self._peer_closed is not None
            and _monotonic() - self.last_activity > STALE_CHECK_AFTER_S
            and self._peer_closed()
        ):
            reason = "the server closed the idle connection"
            self.abort(reason)
            raise NotSentError(f"connection to {self.label}: {reason}")

    def _arm(self, deadline: float) -> None:
        if self._watchdog is None:
            assert self._loop is not None
            self._watchdog = self._loop.call_at(deadline, self._check_deadlines)

    async def submit(
        self,
        op: int,
        payload: bytes,
        *,
        flags: int = FLAG_BINARY,
        compress: bool = False,
        timeout: float | None = None,
    ) -> asyncio.Future[Frame]:
        """Write one request and return the future of its response frame (not awaited).

        ``timeout`` is the request timeout (the deadline of the response).  Raises
        :class:`NotSentError` when nothing was written (closed or dead connection).
        """
        frame = encode_request_frame(op, payload, flags=flags, compress=compress)
        self._check_writable()
        assert self._loop is not None
        future: asyncio.Future[Frame] = self._loop.create_future()
        deadline = None if timeout is None else _monotonic() + timeout
        try:
            await self._send(frame, ((future, deadline, op),), checked=True)
        except BaseException:
            _discard(future)  # the caller gets the error raised here, not this future
            raise
        return future

    async def request(
        self, op: int, payload: bytes, timeout: float | None = None, compress: bool = False
    ) -> Frame:
        """Send one request and await its response frame.

        Cancelling the caller drops the response when it arrives; the connection stays in step.
        """
        frame = encode_request_frame(op, payload, compress=compress)
        self._check_writable()
        loop = self._loop
        assert loop is not None
        future: asyncio.Future[Frame] = loop.create_future()
        deadline = None
        if timeout is not None:
            deadline = _monotonic() + timeout
            if self._watchdog is None:
                self._watchdog = loop.call_at(deadline, self._check_deadlines)
        write = self._write_nowait
        if write is not None:
            # Fast path: FIFO append and the whole frame into the loop's buffer, in one step.
            self._pending.append((future, deadline, op))
            try:
                write(frame)
            except (OSError, FlyMQError, RuntimeError) as exc:
                future.cancel()  # the error is raised here: nobody will await the future
                raise self._write_failed(op, exc) from exc
            self.last_activity = _monotonic()
            drain = self._drain
            if drain is not None:
                try:
                    await drain()
                except (OSError, RuntimeError) as exc:
                    future.cancel()
                    raise self._write_failed(op, exc) from exc
                except asyncio.CancelledError:
                    future.cancel()  # the response will be read and dropped
                    raise
        else:
            try:
                await self._send(frame, ((future, deadline, op),), checked=True)
            except BaseException:
                _discard(future)
                raise
        return await future

    async def submit_sinks(self, frames: bytes, entries: list[Entry]) -> None:
        """Write ``frames`` (several encoded requests, concatenated) for ``entries``, one per frame.

        Used by the high-level producer to send a batch in one write.  Raises :class:`NotSentError`
        when nothing was written.  On a write failure every entry fails (with the connection).
        """
        await self._send(frames, entries)

    async def _send(
        self,
        data: bytes,
        entries: tuple[Entry, ...] | list[Entry],
        *,
        checked: bool = False,
    ) -> None:
        if not checked:
            self._check_writable()
        op = entries[0][2] if entries else 0
        for _sink, deadline, _op in entries:
            if deadline is not None:
                self._arm(deadline)
                break
        write = self._write_nowait
        if write is not None:
            self._pending.extend(entries)
            try:
                write(data)
            except (OSError, FlyMQError, RuntimeError) as exc:
                raise self._write_failed(op, exc) from exc
            self.last_activity = _monotonic()
            if self._drain is not None:
                try:
                    await self._drain()
                except (OSError, RuntimeError) as exc:
                    raise self._write_failed(op, exc) from exc
            return
        async with self._write_lock:
            if self._closed:
                raise NotSentError(f"connection to {self.label} is closed ({self.close_reason or 'closed'})")
            self._pending.extend(entries)
            try:
                await self.transport.write(data)
            except asyncio.CancelledError:
                # The transport suspended mid-write: part of the frame may be on the wire.
                self._fail_all(
                    ConnectionError(f"connection to {self.label} closed: a write was cancelled part way"),
                    reason="write cancelled",
                )
                raise
            except (OSError, FlyMQError, RuntimeError) as exc:
                raise self._write_failed(op, exc) from exc
            self.last_activity = _monotonic()

    def _write_failed(self, op: int, exc: BaseException) -> ConnectionError:
        """Close after a failed write; the error to raise (the request may be partly written)."""
        error = ConnectionError(f"connection to {self.label} failed while writing {op_name(op)}: {exc}")
        self._fail_all(error, reason=f"write failed: {exc}", cause=exc)
        return error

    # -- receiving --------------------------------------------------------------------------------

    def _dispatch(self, data: bytes) -> None:
        """Parse ``data`` and complete the FIFO's sinks in order (raises on a protocol violation)."""
        parser = self._parser
        frames: Any = None
        if not parser.buffered and len(data) >= HEADER_SIZE:
            op, flags, length = parse_header(data)
            if len(data) == HEADER_SIZE + length:  # the common case: exactly one frame
                frames = (Frame(op, flags, data[HEADER_SIZE:]),)
        if frames is None:
            frames = parser.feed(data)
        queue = self._pending
        popleft = queue.popleft
        for frame in frames:
            if not queue:
                raise ProtocolError(
                    f"{self.label} sent a response nobody asked for (opcode 0x{frame.op:02x}); "
                    "the connection is out of step"
                )
            sink = popleft()[0]
            if not sink.done():  # a cancelled caller's response is read and dropped
                try:
                    sink.set_result(frame)
                except Exception:
                    logger.exception("completing a response on %s failed", self.label)

    def _received(self, data: bytes) -> None:
        """Direct delivery (``set_receiver``): called by the event loop with each chunk."""
        if self._closed:
            return
        try:
            self._dispatch(data)
        except Exception as exc:
            self._read_failed(exc)

    def _stream_ended(self, error: BaseException | None) -> None:
        """Direct delivery: the server closed the stream, or the connection was lost."""
        if self._closed:
            return
        if error is None:
            self._read_failed(EOFError())
        else:
            self._read_failed(error)

    async def _read_loop(self) -> None:
        """The reader task (transports without ``set_receiver``): read and dispatch until failure."""
        transport = self.transport
        try:
            while True:
                data = await transport.read(RECV_SIZE)
                if not data:
                    raise EOFError
                self._dispatch(data)
        except asyncio.CancelledError:
            if not self._closed:
                self._fail_all(
                    ConnectionError(f"connection to {self.label} abandoned (its reader was cancelled)"),
                    reason="reader cancelled",
                )
            raise
        except Exception as exc:
            self._read_failed(exc)

    def _read_failed(self, exc: BaseException) -> None:
        """Close after a read-side failure, failing every pending request with the reason."""
        if isinstance(exc, EOFError):
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
        elif isinstance(exc, (OSError, FlyMQError, ValueError, RuntimeError)):
            self._fail_all(
                ConnectionError(f"connection to {self.label} failed while reading: {exc}"),
                reason=f"read failed: {exc}",
                cause=exc,
            )
        else:  # a bug: never leave callers waiting on a dead reader
            logger.error("reading from %s failed", self.label, exc_info=exc)
            self._fail_all(
                ConnectionError(f"connection to {self.label} failed: {type(exc).__name__}: {exc}"),
                reason=f"reader failed: {exc!r}",
                cause=exc,
            )

    def _check_deadlines(self) -> None:
        """Watchdog: expire the connection when a pending response is overdue, else re-arm."""
        self._watchdog = None
        if self._closed:
            return
        now = _monotonic()
        earliest: float | None = None
        for sink, deadline, op in self._pending:
            if deadline is None or sink.done():
                continue
            if deadline <= now:
                self._expire(sink, op)
                return
            if earliest is None or deadline < earliest:
                earliest = deadline
        if earliest is not None:
            assert self._loop is not None
            self._watchdog = self._loop.call_at(earliest, self._check_deadlines)

    def _expire(self, sink: ResponseSink, op: int) -> None:
        """``sink`` timed out: fail it with TimeoutError and close the connection (as the sync one)."""
        error = TimeoutError(
            f"no response to {op_name(op)} from {self.label} in time",
            hint="The server is slow or unreachable. Raise request_timeout_ms if large requests are "
            "expected; the connection was closed and the next call reconnects.",
        )
        sink.set_exception(error)
        logger.warning("%s; closing the connection", error)
        self._fail_all(
            ConnectionError(
                f"connection to {self.label} closed after another request timed out; "
                "this request may or may not have been processed"
            ),
            reason="a request timed out",
        )

    # -- closing ----------------------------------------------------------------------------------

    def _fail_all(self, error: FlyMQError, *, reason: str, cause: BaseException | None = None) -> None:
        """Close the connection (transport closed in the background) and fail every pending entry."""
        if cause is not None and error.__cause__ is None:
            error.__cause__ = cause
        already = self._closed
        self._closed = True
        if not already:
            self.close_reason = reason
            if reason != "closed by the client":
                logger.info("connection to %s closed: %s", self.label, reason)
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None
        pending = self._pending
        while pending:
            sink = pending.popleft()[0]
            if not sink.done():
                try:
                    sink.set_exception(error)
                except Exception:
                    logger.exception("failing a response on %s failed", self.label)
        if already:
            return
        reader = self._reader
        current = asyncio.current_task() if self._loop is not None and self._loop.is_running() else None
        if reader is not None and reader is not current and not reader.done():
            reader.cancel()
        if self._loop is not None and not self._loop.is_closed():
            self._closer = self._loop.create_task(self._close_transport())
        else:
            logger.debug("connection to %s dropped without its loop; transport left to the GC", self.label)

    async def _close_transport(self) -> None:
        try:
            await self.transport.close()
        except (OSError, FlyMQError) as exc:
            logger.warning("closing the transport to %s failed: %s", self.label, exc)

    def abort(self, reason: str | None = None) -> None:
        """Close without waiting (callable from sync code on the loop's thread)."""
        text = reason or "closed by the client"
        self._fail_all(
            ConnectionError(
                f"connection to {self.label} was closed ({text}) before the response arrived; "
                "the request may or may not have been processed"
            ),
            reason=text,
        )

    async def close(self, reason: str | None = None) -> None:
        """Close the connection (idempotent) and wait for the transport and reader to finish."""
        self.abort(reason)
        current = asyncio.current_task()
        tasks = [task for task in (self._reader, self._closer) if task is not None and task is not current]
        if tasks:
            await asyncio.wait(tasks)  # never raises the tasks' outcomes; a cancelled caller still is

    def __repr__(self) -> str:
        state = "closed" if self._closed else f"open, {len(self._pending)} in flight"
        return f"<AsyncConnection {self.label} {state}>"


async def wait_for_response(future: asyncio.Future[Frame], timeout: float) -> Frame | None:
    """The response frame of ``future`` (from :meth:`AsyncConnection.submit`) if it arrives within
    ``timeout`` s, else ``None`` — harmlessly.

    The asyncio counterpart of :meth:`~pyflymq_core.client.connection.PendingResponse.wait_for`:
    unlike ``asyncio.wait_for(future, timeout)`` the future is not cancelled, so the request stays
    in flight and a later ``await future`` (or another call of this) still gets the response.
    Raises the request's error if it failed.  Cancelling the caller does not cancel ``future``.
    """
    if not future.done():
        await asyncio.wait((future,), timeout=max(timeout, 0.0))
        if not future.done():
            return None
    return future.result()


def _discard(future: asyncio.Future[Frame]) -> None:
    """Forget a future whose failure is reported another way (no "never retrieved" warning)."""
    if not future.done():
        future.cancel()
    elif not future.cancelled():
        future.exception()
