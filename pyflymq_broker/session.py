"""One client connection: framing in, ordered responses out, and the connection's own state.

The server keeps exactly two things per connection (spec §1): the authenticated user name and the
(topic, group) of the latest SUBSCRIBE with a group. Everything else is broker-wide.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, NamedTuple

from pyflymq_core.protocol import MAX_REQUEST_PAYLOAD, FrameParser, FramingError, encode_frame

if TYPE_CHECKING:
    from pyflymq_broker.broker import Broker

__all__ = ["FeedResult", "Session"]

logger = logging.getLogger("pyflymq.broker")


class FeedResult(NamedTuple):
    """What :meth:`Session.feed` produced: whole response frames, and whether to close silently."""

    output: bytes
    close: bool


class Session:
    """A connection to the broker; create it with :meth:`Broker.open_session`."""

    def __init__(self, broker: Broker, client_addr: str) -> None:
        self._broker = broker
        self.client_addr = client_addr
        #: The user bound by the last successful AUTH ("" = anonymous).
        self.username = ""
        #: (topic, group) of the latest SUBSCRIBE that named a group.
        self.group: tuple[str, str] | None = None
        self.closed = False
        self._parser = FrameParser(max_payload=MAX_REQUEST_PAYLOAD)

    @property
    def broker(self) -> Broker:
        """The broker this connection talks to."""
        return self._broker

    def __repr__(self) -> str:
        return f"<Session {self.client_addr} user={self.username!r}{' closed' if self.closed else ''}>"

    def feed(self, data: bytes) -> FeedResult:
        """Accept bytes in any chunking; answer every request they complete, in order.

        A truncated frame waits for the rest. Bad magic, a wrong version or a length above 32 MiB
        make the real server close the connection without a word: ``close`` is then ``True`` and
        the session is closed (responses to frames before the bad one are still returned).
        """
        if self.closed:
            return FeedResult(b"", True)
        try:
            frames = self._parser.feed(data)
        except FramingError as exc:
            return self._close_silently(exc, [])
        out = [encode_frame(*self.handle(op, flags, payload)) for op, flags, payload in frames]
        if self._parser.error is not None:
            return self._close_silently(self._parser.error, out)
        return FeedResult(b"".join(out), False)

    def _close_silently(self, exc: FramingError, out: list[bytes]) -> FeedResult:
        logger.debug("closing %s silently: %s", self.client_addr, exc)
        self.close()
        return FeedResult(b"".join(out), True)

    def handle(self, op: int, flags: int, payload: bytes) -> tuple[int, int, bytes]:
        """Answer one request: ``(response opcode, flags, payload)``. Never raises."""
        return self._broker.handle_request(self, op, flags, payload)

    def remember_group(self, topic: str, group_id: str) -> None:
        """SUBSCRIBE with a group: count this connection as a member and remember the group."""
        self._broker.groups.register_member(topic, group_id, self.client_addr)
        self.group = (topic, group_id)

    def close(self) -> None:
        """The connection is gone: drop membership of the latest subscribed group only.

        Earlier subscriptions of this connection stay counted, as on the real server.
        """
        if self.closed:
            return
        self.closed = True
        self._broker.session_closed(self)
