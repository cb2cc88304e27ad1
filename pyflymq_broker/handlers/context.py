"""What a handler gets: the broker state, the connection, and helpers for the server's idioms.

Decode errors, permission checks and audit records appear in every handler family with small
variations (which error encoding, which prefix, before or after decoding); the helpers here name
those variations so each handler reads like the server code it mirrors.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pyflymq_broker.errors import BrokerError
from pyflymq_core.errors import ProtocolError
from pyflymq_core.protocol import decode_request

if TYPE_CHECKING:
    from pyflymq_broker.broker import Broker
    from pyflymq_broker.session import Session

__all__ = ["AUTH_DISABLED", "Context", "Handler", "split_host"]

#: Answer for requests that crash a real server whose authentication is disabled (spec §6.5).
AUTH_DISABLED = "authentication is not enabled on this server"


def split_host(addr: str) -> str:
    """Go's ``net.SplitHostPort`` host part, or the whole address when it does not split."""
    if addr.startswith("["):
        end = addr.find("]")
        if end < 0 or addr[end + 1 : end + 2] != ":":
            return addr
        return addr[1:end]
    if addr.count(":") != 1:
        return addr
    return addr.rpartition(":")[0]


@dataclass
class Context:
    """One request being handled."""

    broker: Broker
    session: Session
    op: int
    now: float

    # --- decoding -----------------------------------------------------------------------------

    def decode(self, payload: bytes) -> dict[str, Any]:
        """Decode the request; a malformed payload answers the decoder text as raw error text."""
        try:
            return decode_request(self.op, payload)
        except ProtocolError as exc:
            raise BrokerError(exc.server_text or str(exc)) from None

    def decode_coded(self, payload: bytes, prefix: str) -> dict[str, Any]:
        """Decode for the handlers that answer with ``sendErrorResponse`` (coded error frames)."""
        try:
            return decode_request(self.op, payload)
        except ProtocolError as exc:
            raise BrokerError.coded(prefix + (exc.server_text or str(exc))) from None

    # --- identity and permissions -------------------------------------------------------------

    @property
    def username(self) -> str:
        """The connection's authenticated user; ``""`` when anonymous."""
        return self.session.username

    @property
    def client_ip(self) -> str:
        """The peer's host, as the server writes it into audit records."""
        return split_host(self.session.client_addr)

    @property
    def auth_enabled(self) -> bool:
        """Whether the broker keeps users; without them most security requests have no store."""
        return self.broker.security is not None

    def check_read(self, topic: str) -> None:
        """Refuse (raw error text) unless the user may read ``topic``."""
        self._raise(self._topic_access(topic, "read"), coded=False)

    def check_write(self, topic: str) -> None:
        """Refuse (raw error text) unless the user may write ``topic``."""
        self._raise(self._topic_access(topic, "write"), coded=False)

    def _topic_access(self, topic: str, permission: str) -> str | None:
        security = self.broker.security
        return None if security is None else security.topic_access(self.username, topic, permission)

    def topic_admin_problem(self) -> str | None:
        """Why the user may not create/delete topics or reset offsets, or ``None``.

        Returned rather than raised: those handlers audit the refusal before answering.
        """
        security = self.broker.security
        return None if security is None else security.topic_admin(self.username)

    def manage_problem(self) -> str | None:
        """Why the user may not manage users, ACLs, groups or the audit trail, or ``None``.

        Returned rather than raised, like :meth:`topic_admin_problem`.
        """
        security = self.broker.security
        return None if security is None else security.manage_users(self.username)

    def check_manage(self, *, coded: bool) -> None:
        """Refuse unless the user may manage; ``coded`` picks the handler family's error encoding."""
        self._raise(self.manage_problem(), coded=coded)

    @staticmethod
    def _raise(problem: str | None, *, coded: bool) -> None:
        if problem is not None:
            raise BrokerError.coded(problem) if coded else BrokerError(problem)

    # --- misc ---------------------------------------------------------------------------------

    @property
    def now_ms(self) -> int:
        """The request's clock time in milliseconds: the timestamp the replies carry."""
        return int(self.now * 1000)

    def audit(
        self,
        type_: str,
        *,
        resource: str,
        action: str,
        result: str,
        details: dict[str, str] | None = None,
        user: str | None = None,
    ) -> None:
        """Record an audit event for this connection (no-op when the audit trail is off)."""
        trail = self.broker.audit
        if trail is None:
            return
        trail.record(
            type_,
            user=self.username if user is None else user,
            client_ip=self.client_ip,
            resource=resource,
            action=action,
            result=result,
            details=details,
            now_ns=self.broker.now_ns(),
        )

    @contextmanager
    def audit_failure(self, type_: str, *, resource: str, action: str) -> Iterator[None]:
        """Audit a refusal raised in the block as a ``failure`` event carrying its text, then re-raise.

        The server records the error of a failed topic or user write, including ``not leader``.
        """
        try:
            yield
        except BrokerError as exc:
            self.audit(type_, resource=resource, action=action, result="failure", details={"error": exc.text})
            raise

    def record_metadata(
        self, topic: str, partition: int, offset: int, key: bytes | None, value_size: int
    ) -> dict[str, Any]:
        """A RecordMetadata reply; ``key=None`` reports ``key_size = -1`` like the keyless opcodes."""
        return {
            "topic": topic,
            "partition": partition,
            "offset": offset,
            "timestamp": self.now_ms,
            "key_size": len(key) if key else -1,
            "value_size": value_size,
        }


Handler = Callable[[Context, bytes], dict[str, Any]]
