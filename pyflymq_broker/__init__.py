"""pyflymq_broker: an embedded, protocol-faithful FlyMQ 1.26.11 broker for tests and development.

The :class:`Broker` is a sans-IO state machine; one :class:`Session` per client connection turns
request bytes into response bytes exactly as the real server would (see docs/broker.md for the
documented deviations). ``pyflymq_broker.server`` serves it on TCP/TLS; the ``memory://``
transport talks to it in-process. :class:`BrokerCluster` builds the nodes of a multi-node cluster
(``pyflymq_broker.cluster_server`` serves them, one TCP port per node).

Names load on first access (PEP 562): the pytest plugin lives in this package and is imported by
every pytest run where pyflymq is installed, so importing the package must not load the broker.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pyflymq_broker.broker import Broker
    from pyflymq_broker.config import AuthSettings, BrokerConfig
    from pyflymq_broker.errors import BrokerError
    from pyflymq_broker.multinode import BrokerCluster
    from pyflymq_broker.session import FeedResult, Session

_EXPORTS = {
    "AuthSettings": "pyflymq_broker.config",
    "Broker": "pyflymq_broker.broker",
    "BrokerCluster": "pyflymq_broker.multinode",
    "BrokerConfig": "pyflymq_broker.config",
    "BrokerError": "pyflymq_broker.errors",
    "FeedResult": "pyflymq_broker.session",
    "Session": "pyflymq_broker.session",
}

__all__ = ["AuthSettings", "Broker", "BrokerCluster", "BrokerConfig", "BrokerError", "FeedResult", "Session"]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'pyflymq_broker' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
