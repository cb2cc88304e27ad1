"""Metadata writes as the topology answers them: leader only, applied by every node's own state.

Standalone, the server applies a metadata write before answering, so its failure is the answer.
In cluster mode the handler proposes the write (topics, schemas, users, ACLs) through Raft: a
follower refuses it at once (``not leader: leader_id=... leader_addr=...``, in the handler
family's error encoding), and the leader answers success once the proposal is accepted. Every
node then applies the committed write to its own state, asynchronously; an apply-time failure
(invalid or incompatible schema definition, deleting a missing schema version, creating an
existing user, deleting or updating a missing one) is only logged by the server: the client
never hears of it and the write simply does not happen (transcript
``raft_single_node_schema_async``).
The broker applies at once, on the leader first and then on each follower of its
:class:`~pyflymq_broker.raft_group.RaftGroup`, and in cluster mode logs the failures instead of
answering them.

Topic creation and deletion are also Raft-proposed but cannot fail when applied (both are
idempotent); the negative partition count that crashes the server's apply is refused before,
as in standalone mode (docs/broker.md, *Deviations*).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from pyflymq_broker.errors import RAW_UNFLAGGED, BrokerError
from pyflymq_broker.raft_group import followers, is_leader, not_leader_text

if TYPE_CHECKING:
    from pyflymq_broker.broker import Broker

__all__ = ["propose", "replicate", "require_leader"]

logger = logging.getLogger("pyflymq.broker")

T = TypeVar("T")

#: A metadata write, applied to one node's state (the same change runs on every node).
Change = Callable[["Broker"], T]


def require_leader(broker: Broker, encoding: str = RAW_UNFLAGGED) -> None:
    """Refuse a metadata write on a Raft follower, in the caller's error ``encoding``."""
    if not is_leader(broker):
        raise BrokerError(not_leader_text(broker), encoding)


def propose(
    broker: Broker, op: int, description: str, change: Change[T], encoding: str = RAW_UNFLAGGED
) -> T | None:
    """A follower refuses (:func:`require_leader`); the leader applies on every node (:func:`replicate`)."""
    require_leader(broker, encoding)
    return replicate(broker, op, description, change)


def replicate(broker: Broker, op: int, description: str, change: Change[T]) -> T | None:
    """Apply ``change`` on ``broker`` (the leader), then on each follower; return the leader's result.

    Standalone, the leader's :class:`BrokerError` propagates and becomes the answer. In cluster mode
    every failure is logged with ``description`` (what was proposed) and the leader's result is
    ``None``: the caller answers success anyway, as the server does before its Raft apply runs.
    Every follower applies the same change to its own state (identical to the leader's, so it
    fails the same way). ``op`` is the request's opcode, for the followers' persistence.
    """
    result = _apply(broker, description, change)
    for node in followers(broker):
        with node.lock:
            _apply(node, description, change)
            if node.persistence is not None:
                node.persistence.after_request(op)
    return result


def _apply(broker: Broker, description: str, change: Change[T]) -> T | None:
    if not broker.topology.answers_before_apply:
        return change(broker)
    try:
        return change(broker)
    except BrokerError as exc:
        logger.warning(
            "Raft apply of %s on node %r failed; the client was already answered success: %s",
            description,
            broker.config.node_id,
            exc.text,
        )
        return None
