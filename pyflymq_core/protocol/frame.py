"""The 8-byte frame header, an incremental frame parser, and gzip request compression.

Sans-IO: the parser is fed whatever chunks a transport read and hands back whole frames, so the same
code serves blocking sockets, asyncio streams, the in-memory transport and the embedded broker.
"""

from __future__ import annotations

import gzip
import struct
import zlib
from typing import NamedTuple

from pyflymq_core.errors import ProtocolError
from pyflymq_core.protocol.constants import FLAG_GZIP, HEADER_SIZE, MAGIC, MAX_REQUEST_PAYLOAD, VERSION

_HEADER = struct.Struct(">BBBBI")
#: The header as a ``struct.Struct`` (magic, version, op, flags, payload length), for hot paths
#: that pack or unpack it inline instead of calling :func:`encode_header` / :func:`parse_header`.
HEADER_STRUCT = _HEADER
_pack_header = _HEADER.pack
_unpack_header = _HEADER.unpack_from


class Frame(NamedTuple):
    """One decoded frame: opcode, flags byte and the payload that followed the header."""

    op: int
    flags: int
    payload: bytes


#: Builds a :class:`Frame` without the Python-level ``__new__`` of named tuples (the parser makes
#: one per response: a pipelining producer reads tens of thousands per second).
_tuple_new = tuple.__new__
#: Payload lengths are u32: no header exceeds this.
_NO_LIMIT = 0xFFFFFFFF
#: Reads of a view up to this size are copied whole before frames are sliced out of them; bigger
#: ones (FETCH answers) are sliced through the view, so each payload is copied once.
_COPY_WHOLE_UP_TO = 64 * 1024


class FramingError(ProtocolError):
    """The byte stream is not FlyMQ framing (bad magic, wrong version, oversize length).

    The real server closes the connection silently in these cases; a client treats the connection
    as unusable.
    """


def encode_header(op: int, flags: int, length: int) -> bytes:
    """Pack the header; ``length`` is the payload length."""
    return _pack_header(MAGIC, VERSION, op, flags, length)


def encode_frame(op: int, flags: int, payload: bytes) -> bytes:
    """Header and payload as one buffer, so a transport can send a frame in a single write."""
    return _pack_header(MAGIC, VERSION, op, flags, len(payload)) + payload


def encode_request_frame(op: int, payload: bytes, *, flags: int = 0x01, compress: bool = False) -> bytes:
    """A request frame, gzip-compressed on request, refused when the server would drop it.

    The server closes the connection without a word on a payload over 32 MiB, so the client refuses
    it before anything is sent.
    """
    if compress:
        payload = compress_payload(payload)
        flags |= FLAG_GZIP
    if len(payload) > MAX_REQUEST_PAYLOAD:
        raise ProtocolError(
            f"request payload of {len(payload)} bytes exceeds the server's 32 MiB limit",
            hint="Split the data into smaller messages; the server closes the connection on larger frames.",
        )
    return _pack_header(MAGIC, VERSION, op, flags, len(payload)) + payload


def parse_header(header: bytes, *, max_payload: int | None = None) -> tuple[int, int, int]:
    """Validate an 8-byte header and return ``(op, flags, length)``."""
    if len(header) < HEADER_SIZE:
        raise FramingError(f"incomplete frame header ({len(header)} of {HEADER_SIZE} bytes)")
    magic, version, op, flags, length = _unpack_header(header)
    if magic != MAGIC:
        raise FramingError(f"bad magic byte 0x{magic:02x} (expected 0x{MAGIC:02x})")
    if version != VERSION:
        raise FramingError(f"unsupported protocol version {version} (expected {VERSION})")
    if max_payload is not None and length > max_payload:
        raise FramingError(f"frame payload of {length} bytes exceeds the limit of {max_payload}")
    return op, flags, length


class FrameParser:
    """Turns a stream of arbitrary chunks into whole frames.

    ``max_payload`` bounds the accepted payload length: the broker uses the server's 32 MiB request
    limit; clients leave it ``None`` because the server may legitimately send larger responses.

    A framing violation cannot be resynchronised. Frames completed before the bad header are still
    returned (the server answers them before it closes); :attr:`error` is then set and every later
    :meth:`feed` raises it.
    """

    __slots__ = ("_buf", "_max_payload", "error")

    def __init__(self, *, max_payload: int | None = None) -> None:
        self._buf = bytearray()
        self._max_payload = max_payload
        self.error: FramingError | None = None

    @property
    def buffered(self) -> int:
        """Bytes received but not yet returned as part of a whole frame."""
        return len(self._buf)

    def feed(self, data: bytes | bytearray | memoryview) -> list[Frame]:
        """Add ``data`` and return every frame it completed, in order.

        ``data`` may be any bytes-like chunk, e.g. a view of a transport's read buffer: it is not
        kept past the call.  Each payload is copied exactly once, into its own ``bytes`` (frames
        of FETCH answers are hundreds of KiB, and every extra pass over them is CPU per record):
        straight from ``data`` when nothing was buffered, else from the buffer, through a view.
        """
        if self.error is not None:
            raise self.error
        buf = self._buf
        if buf:
            buf += data
            source: bytes | bytearray | memoryview = buf
        elif type(data) is not bytes and len(data) <= _COPY_WHOLE_UP_TO:
            # A small read of a view (e.g. dozens of PRODUCE answers): one copy of it all, then
            # bytes slices, which cost half as much per frame as view slices.
            source = bytes(data)
        else:
            source = data
        frames: list[Frame] = []
        append = frames.append
        limit = _NO_LIMIT if self._max_payload is None else self._max_payload
        pos = 0
        end = len(source)
        bad = False
        with memoryview(source) as view:
            while end - pos >= HEADER_SIZE:
                magic, version, op, flags, length = _unpack_header(view, pos)
                if magic != MAGIC or version != VERSION or length > limit:
                    try:
                        parse_header(view[pos : pos + HEADER_SIZE].tobytes(), max_payload=self._max_payload)
                    except FramingError as exc:
                        self.error = exc
                    bad = True
                    break
                start = pos + HEADER_SIZE
                stop = start + length
                if stop > end:
                    break
                payload = source[start:stop] if type(source) is bytes else view[start:stop].tobytes()
                append(_tuple_new(Frame, (op, flags, payload)))
                pos = stop
            if not bad and source is not buf and pos < end:
                buf += view[pos:]  # the start of a frame: kept until the rest arrives
        if bad:  # nothing after a bad header can be trusted
            buf.clear()
            if not frames and self.error is not None:
                raise self.error
        elif source is buf and pos:
            del buf[:pos]
        return frames


def compress_payload(payload: bytes) -> bytes:
    """Gzip a request payload (mtime 0, so equal payloads compress to equal bytes)."""
    return gzip.compress(payload, mtime=0)


def decompress_payload(flags: int, payload: bytes) -> bytes:
    """The server's rule: gunzip exactly when bit 0x02 is set, else use the payload as is.

    Errors carry the texts the Go server answers with (`gzip: invalid header`, `unexpected EOF`).
    """
    if not flags & FLAG_GZIP:
        return payload
    if len(payload) < 10:
        # Go reads the 10-byte header with io.ReadFull: nothing is EOF, a part is unexpected EOF.
        raise _gzip_error("EOF" if not payload else "unexpected EOF")
    if payload[0] != 0x1F or payload[1] != 0x8B:
        raise _gzip_error("gzip: invalid header")
    try:
        return gzip.decompress(payload)
    except EOFError:
        raise _gzip_error("unexpected EOF") from None
    except (OSError, zlib.error) as exc:
        text = "gzip: checksum error" if "CRC" in str(exc) else f"gzip: {exc}"
        raise _gzip_error(text) from exc


def _gzip_error(text: str) -> ProtocolError:
    err = ProtocolError(text)
    err.server_text = text
    return err
