"""Metadata writes as the topology answers them: applied at once, or proposed and answered unseen.

Standalone, the server applies a metadata write before answering, so its failure is the answer.
In cluster mode the handler proposes the write through Raft and answers success once the proposal
is accepted; the write is applied afterwards, asynchronously, and an apply-time failure (invalid
or incompatible schema definition, deleting a missing schema version) is only logged by the
server: the client never hears of it and the write simply does not happen (transcript
``raft_single_node_schema_async``). The broker applies at once in both modes (nothing to wait
for) and, in cluster mode, logs the failure instead of answering it.

Topic creation and deletion are also Raft-proposed but cannot fail when applied (both are
idempotent); the negative partition count that crashes the server's apply is refused before,
as in standalone mode (docs/broker.md, *Deviations*).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TypeVar

from pyflymq_broker.errors import BrokerError
from pyflymq_broker.topology import Topology

__all__ = ["propose"]

logger = logging.getLogger("pyflymq.broker")

T = TypeVar("T")


def propose(topology: Topology, description: str, change: Callable[[], T]) -> T | None:
    """Apply ``change`` (a metadata write) and return its result.

    Standalone, its :class:`BrokerError` propagates and becomes the answer. In cluster mode the
    error is logged with ``description`` (what was proposed) and ``None`` is returned: the caller
    answers success anyway, as the server does before its Raft apply runs.
    """
    if not topology.answers_before_apply:
        return change()
    try:
        return change()
    except BrokerError as exc:
        logger.warning(
            "Raft apply of %s failed; the client was already answered success: %s", description, exc.text
        )
        return None
