"""The transaction coordinator (feature on) and the server's stand-in when it is off (spec §9.12).

On: BEGIN creates a global transaction (any connection may use its id), PRODUCE_TX buffers,
COMMIT writes the buffered messages one by one as keyless produces, ABORT discards them, and an
active transaction is aborted once its timeout has passed. Off: ids are ``txn-<ns>``, PRODUCE_TX
writes immediately and COMMIT/ABORT succeed without doing anything; that branch lives in the
handlers because it keeps no state.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field

from pyflymq_broker.errors import BrokerError

__all__ = ["Transaction", "TransactionCoordinator"]

ACTIVE, PREPARED, COMMITTED, ABORTED = "active", "prepared", "committed", "aborted"


@dataclass
class Transaction:
    """One transaction: its buffered writes and the state COMMIT_TX/ABORT_TX move it through."""

    id: str
    producer_id: str
    expires_at: float
    state: str = ACTIVE
    operations: list[tuple[str, bytes]] = field(default_factory=list)


class TransactionCoordinator:
    """The transactions of the broker, global to all connections, with timeout-based expiry."""

    def __init__(self, timeout_seconds: int) -> None:
        # The server substitutes 30 s for a zero timeout.
        self._timeout = float(timeout_seconds if timeout_seconds != 0 else 30)
        self._txns: dict[str, Transaction] = {}
        #: (expires_at, id) of transactions that may still be active: expiry without a full scan.
        self._expiry: list[tuple[float, str]] = []

    def begin(self, now: float, producer_ns: int, txn_ns: int) -> Transaction:
        """Start a transaction that expires after the configured timeout.

        Ids embed the clock's nanoseconds like the server's; a collision is bumped, never reused.
        """
        producer_id = f"producer-{producer_ns}"
        txn_id = f"txn-{producer_id}-{txn_ns}"
        while txn_id in self._txns:  # the server's ids are wall-clock nanoseconds: unique in practice
            txn_ns += 1
            txn_id = f"txn-{producer_id}-{txn_ns}"
        txn = Transaction(txn_id, producer_id, now + self._timeout)
        self._txns[txn_id] = txn
        heapq.heappush(self._expiry, (txn.expires_at, txn_id))
        return txn

    def add(self, txn_id: str, topic: str, data: bytes) -> None:
        """Buffer one write; an unknown or finished transaction raises the server's error text."""
        txn = self._txns.get(txn_id)
        if txn is None:
            raise BrokerError(f"transaction not found: {txn_id}")
        if txn.state != ACTIVE:
            raise BrokerError(f"transaction is not active: {txn.state}")
        txn.operations.append((topic, data))

    def start_commit(self, txn_id: str) -> Transaction | None:
        """Mark committed and return the transaction whose messages must now be written.

        ``None`` means COMMIT answers ``success = 0`` (unknown, already committed or aborted).
        """
        txn = self._txns.get(txn_id)
        if txn is None or txn.state not in (ACTIVE, PREPARED):
            return None
        txn.state = COMMITTED
        return txn

    def fail_commit(self, txn: Transaction) -> None:
        """A write failed mid-commit: earlier messages stay written, the transaction is aborted."""
        txn.state = ABORTED

    def abort(self, txn_id: str) -> bool:
        """Discard the buffered writes; ``False`` for an unknown or already committed transaction."""
        txn = self._txns.get(txn_id)
        if txn is None or txn.state == COMMITTED:
            return False
        txn.state = ABORTED
        return True

    def expire(self, now: float) -> list[str]:
        """Abort active transactions past their timeout; returns their ids."""
        expired: list[str] = []
        while self._expiry and self._expiry[0][0] < now:
            _, txn_id = heapq.heappop(self._expiry)
            txn = self._txns[txn_id]
            if txn.state == ACTIVE:
                txn.state = ABORTED
                expired.append(txn_id)
        return expired

    def next_expiry(self) -> float | None:
        """When the next active transaction expires, or ``None``: lets a server sleep until then."""
        while self._expiry and self._txns[self._expiry[0][1]].state != ACTIVE:
            heapq.heappop(self._expiry)  # already committed/aborted: no deadline left
        return self._expiry[0][0] if self._expiry else None

    def get(self, txn_id: str) -> Transaction | None:
        """The transaction with this id, or ``None``."""
        return self._txns.get(txn_id)
