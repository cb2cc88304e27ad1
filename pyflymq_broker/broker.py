"""The embedded broker: all server state behind one lock, and the request entry point.

:class:`Broker` is a pure state machine (no sockets, no threads, no timers): a transport opens a
:class:`~pyflymq_broker.session.Session` per connection and feeds it bytes; time-driven work
(delayed delivery, transaction expiry) runs in :meth:`Broker.tick`, which is also called before
every request. The clock and the id source are injectable so tests control time.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

from pyflymq_broker.audit import AuditTrail
from pyflymq_broker.config import BrokerConfig
from pyflymq_broker.delayed import DelayedQueue
from pyflymq_broker.errors import BrokerError
from pyflymq_broker.groups import GroupStore
from pyflymq_broker.handlers import DISPATCH, Context
from pyflymq_broker.log import TopicStore
from pyflymq_broker.raft_group import RaftGroup
from pyflymq_broker.routing import produce
from pyflymq_broker.schemas import SchemaRegistry
from pyflymq_broker.security import SecurityStore
from pyflymq_broker.session import Session
from pyflymq_broker.topology import Topology
from pyflymq_broker.transactions import TransactionCoordinator
from pyflymq_core.errors import ConfigurationError, ProtocolError
from pyflymq_core.protocol import RAW_UNFLAGGED, decompress_payload, encode_response

__all__ = ["Broker"]

logger = logging.getLogger("pyflymq.broker")

Clock = Callable[[], float]


class Broker:
    """A protocol-faithful, in-memory FlyMQ 1.26.11 server: standalone, or one node of a cluster.

    ``clock`` returns Unix time in seconds (default :func:`time.time`); ``id_factory`` makes audit
    event ids (default: random UUIDs). Thread-safe: every public method takes the broker's lock.
    ``raft_group`` makes the broker one node of a multi-node cluster; build those with
    :class:`pyflymq_broker.multinode.BrokerCluster`, which creates and joins every node.
    """

    def __init__(
        self,
        config: BrokerConfig | None = None,
        *,
        clock: Clock | None = None,
        id_factory: Callable[[], str] | None = None,
        raft_group: RaftGroup | None = None,
    ) -> None:
        self.config = config if config is not None else BrokerConfig()
        self._clock: Clock = clock if clock is not None else time.time
        self._lock = threading.RLock()
        self._last_ns = 0
        self._session_ids = itertools.count(1)
        cfg = self.config
        #: Standalone or Raft cluster mode, fixed at start-up like the server's.
        self.topology = Topology.of(cfg)
        #: The multi-node cluster this broker is a node of; ``None``: it is alone (standalone or
        #: single-node cluster), its own Raft leader and only member.
        self.raft_group = raft_group
        if cfg.peers and raft_group is None:
            logger.warning(
                "peers %s configure a multi-node Raft cluster, which a lone Broker does not simulate "
                "(pyflymq_broker.multinode.BrokerCluster does); it behaves as a single-node cluster "
                "(node %r leads every partition)",
                list(cfg.peers),
                cfg.node_id,
            )
        self.topics = TopicStore(cfg.partition_record_limit)
        self.groups = GroupStore()
        self.schemas = SchemaRegistry()
        self.security: SecurityStore | None = None
        if cfg.auth.enabled:
            self.security = SecurityStore(
                allow_anonymous=cfg.auth.allow_anonymous, default_public=cfg.auth.default_public
            )
            if cfg.auth.admin_username and cfg.auth.admin_password:
                try:
                    self.security.create_user(
                        cfg.auth.admin_username, cfg.auth.admin_password, ["admin"], self._clock()
                    )
                except KeyError as exc:  # a password bcrypt cannot hash
                    raise ConfigurationError(
                        f"cannot create the admin user {cfg.auth.admin_username!r}: {exc.args[0]}",
                        hint="Use an admin password of 72 UTF-8 bytes or fewer (auth.admin_password).",
                    ) from None
        self.audit: AuditTrail | None = None
        if cfg.audit_enabled:
            self.audit = AuditTrail(cfg.node_id, id_factory if id_factory is not None else _uuid)
        self.delayed = DelayedQueue(cfg.delayed_max_delay) if cfg.delayed_enabled else None
        self.txns = TransactionCoordinator(cfg.transaction_timeout) if cfg.transaction_enabled else None
        self.persistence: Any = None
        if cfg.data_dir:  # None or "": in memory (an empty path would persist into the cwd)
            from pyflymq_broker.persistence import Persistence

            self.persistence = Persistence(self, cfg.data_dir)
            self.persistence.load()

    def __repr__(self) -> str:
        return f"<Broker node={self.config.node_id!r} topics={len(self.topics.names())}>"

    @property
    def lock(self) -> threading.RLock:
        """The lock every state change holds (for callers that need several calls to be atomic)."""
        return self._lock

    def close(self) -> None:
        """Release files held for ``data_dir`` persistence (the in-memory state stays usable)."""
        with self._lock:
            if self.persistence is not None:
                self.persistence.close()

    # --- time -------------------------------------------------------------------------------

    def now(self) -> float:
        """The broker's clock in seconds (injectable, so tests control delays and expiries)."""
        return self._clock()

    def now_ns(self) -> int:
        """Clock time in nanoseconds, strictly increasing across calls (ids embed it)."""
        with self._lock:
            now = self._clock()
            whole = int(now)  # split so that float rounding does not shift the sub-second part
            ns = whole * 1_000_000_000 + round((now - whole) * 1_000_000_000)
            if ns <= self._last_ns:
                ns = self._last_ns + 1
            self._last_ns = ns
            return ns

    def tick(self, now: float | None = None) -> None:
        """Deliver due delayed messages and abort expired transactions."""
        with self._lock:
            moment = self._clock() if now is None else now
            self.deliver_due(moment)
            if self.txns is not None:
                for txn_id in self.txns.expire(moment):
                    logger.debug("transaction %s expired and was aborted", txn_id)

    def next_deadline(self) -> float | None:
        """When :meth:`tick` next has work (clock seconds), or ``None``: for a server's timer."""
        with self._lock:
            due = [
                t
                for t in (
                    self.delayed.next_due() if self.delayed is not None else None,
                    self.txns.next_expiry() if self.txns is not None else None,
                )
                if t is not None
            ]
            return min(due) if due else None

    def deliver_due(self, now: float) -> None:
        """Write the delayed messages due at ``now`` (keyless produce, auto-create)."""
        if self.delayed is None:
            return
        for message in self.delayed.due(now):
            try:
                self.produce(message.topic, b"", message.data)
            except BrokerError as exc:
                logger.warning("delayed delivery to %r failed (%s); retrying in 1 s", message.topic, exc.text)
                self.delayed.requeue(message, now + 1.0)

    # --- writes -----------------------------------------------------------------------------

    def produce(self, topic: str, key: bytes, value: bytes) -> tuple[int, int]:
        """Write one record; every produce path of the server goes through here (auto-create,
        partition choice, cluster leadership checks: :mod:`pyflymq_broker.routing`).

        Returns (partition, offset); refusals raise :class:`BrokerError` with the server's text.
        """
        with self._lock:
            return produce(self, topic, key, value)

    # --- connections ------------------------------------------------------------------------

    def open_session(self, client_addr: str | None = None) -> Session:
        """A new connection. ``client_addr`` ("host:port") identifies the group member and the
        audit client IP; each open session must have a distinct one (default: generated)."""
        with self._lock:
            if client_addr is None:
                client_addr = f"local:{next(self._session_ids)}"
            return Session(self, client_addr)

    def session_closed(self, session: Session) -> None:
        """Drop the closing connection from the group it subscribed to (member counts)."""
        with self._lock:
            if session.group is not None:
                topic, group_id = session.group
                self.groups.unregister_member(topic, group_id, session.client_addr)

    # --- requests ---------------------------------------------------------------------------

    def handle_request(self, session: Session, op: int, flags: int, payload: bytes) -> tuple[int, int, bytes]:
        """Answer one request as the server would. Never raises: failures become error frames."""
        with self._lock:
            now = self._clock()
            try:
                self.tick(now)
            except Exception:
                logger.exception("broker tick failed")
            try:
                fields = self._dispatch(session, op, flags, payload, now)
            except BrokerError as exc:
                fields = exc.fields()
            except Exception as exc:
                logger.exception("internal error while handling opcode %d", op)
                fields = {"error_encoding": RAW_UNFLAGGED, "message": f"internal error: {exc}"}
            try:
                return encode_response(op, fields)
            except (ProtocolError, ValueError, TypeError, OverflowError) as exc:
                logger.exception("cannot encode the answer to opcode %d", op)
                return encode_response(
                    op, {"error_encoding": RAW_UNFLAGGED, "message": f"internal error: {exc}"}
                )

    def _dispatch(self, session: Session, op: int, flags: int, payload: bytes, now: float) -> dict[str, Any]:
        body = _decompress(flags, payload)
        handler = DISPATCH.get(op)
        if handler is None:
            raise BrokerError(f"unknown opcode: {op}")
        fields = handler(Context(self, session, op, now), body)
        if self.persistence is not None:
            self.persistence.after_request(op)
        return fields


def _uuid() -> str:
    return str(uuid.uuid4())


def _decompress(flags: int, payload: bytes) -> bytes:
    """Gunzip when bit 0x02 is set; failures carry the server's texts."""
    try:
        return decompress_payload(flags, payload)
    except ProtocolError as exc:
        raise BrokerError(exc.server_text or str(exc)) from None
