"""Writing many already-encoded request frames to a connection in one ``send``.

The producer's throughput rests on this: a batch of records becomes one buffer and one system call,
while each record still gets its own :class:`~pyflymq_core.client.connection.PendingResponse` (the
server answers each frame separately, in order).

``Connection.submit_frames(op, data, count, *, timeout)`` is the API this module wants from the
connection.  Until the connection offers it, :func:`_submit_frames_compat` does the same thing with
the connection's internals, mirroring ``Connection.submit_frame`` line for line (FIFO append and
write under the write lock, the stale-connection check, the same errors).  It is the only place in
the producer that touches connection internals; delete it once ``submit_frames`` exists.
"""

from __future__ import annotations

import builtins
import time
from typing import Any

from pyflymq_core.client import connection as _connection
from pyflymq_core.client.connection import Connection, NotSentError, PendingResponse
from pyflymq_core.errors import ConnectionError, TimeoutError

__all__ = ["submit_frames"]

_monotonic = time.monotonic


def submit_frames(
    conn: Connection, op: int, data: bytes, count: int, *, timeout: float | None = None
) -> list[PendingResponse]:
    """Write ``count`` request frames of opcode ``op`` (concatenated in ``data``) in one send.

    Returns their pending responses in order.  Raises :class:`NotSentError` when nothing was
    written (closed or dead connection), ``ConnectionError``/``TimeoutError`` when the write failed
    part way (the connection is then closed; any of the frames may have been received).
    """
    native: Any = getattr(conn, "submit_frames", None)
    if native is not None:
        result: list[PendingResponse] = native(op, data, count, timeout=timeout)
        return result
    return _submit_frames_compat(conn, op, data, count, timeout)


def _submit_frames_compat(
    conn: Connection, op: int, data: bytes, count: int, timeout: float | None
) -> list[PendingResponse]:
    pendings = [PendingResponse(conn, op) for _ in range(count)]
    with conn._write_lock:
        if conn._closed:
            raise NotSentError(f"connection to {conn.label} is closed ({conn.close_reason or 'closed'})")
        now = _monotonic()
        if (
            now - conn.last_activity > _connection.STALE_CHECK_AFTER_S
            and not conn._pending
            and conn.transport.peer_closed()
        ):
            reason = "the server closed the idle connection"
            conn.close(reason)
            raise NotSentError(f"connection to {conn.label}: {reason}")
        conn._pending.extend(pendings)
        try:
            io_lock = conn._io_lock
            if io_lock is None:
                conn.transport.send_timeout(data, timeout)
            else:
                with io_lock:
                    conn.transport.send_timeout(data, timeout)
        except builtins.TimeoutError as exc:
            shown = "the timeout" if timeout is None else f"{timeout:g} s"
            conn._fail_all(
                ConnectionError(
                    f"connection to {conn.label} closed: a request could not be written within {shown}"
                ),
                reason="write timed out",
                cause=exc,
            )
            raise TimeoutError(
                f"could not write {count} requests to {conn.label} within {shown}; part of them may have "
                "been sent"
            ) from exc
        except (OSError, ValueError) as exc:
            error = ConnectionError(f"connection to {conn.label} failed while writing: {exc}")
            conn._fail_all(error, reason=f"write failed: {exc}", cause=exc)
            raise error from exc
        conn.last_activity = now
    return pendings
