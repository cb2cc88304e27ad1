"""pyflymq_broker: an embedded, protocol-faithful FlyMQ 1.26.11 broker for tests and development.

The :class:`Broker` is a sans-IO state machine; one :class:`Session` per client connection turns
request bytes into response bytes exactly as the real server would (see docs/broker.md for the
documented deviations). ``pyflymq_broker.server`` serves it on TCP/TLS; the ``memory://``
transport talks to it in-process.
"""

from pyflymq_broker.broker import Broker
from pyflymq_broker.config import AuthSettings, BrokerConfig
from pyflymq_broker.errors import BrokerError
from pyflymq_broker.session import FeedResult, Session

__all__ = ["AuthSettings", "Broker", "BrokerConfig", "BrokerError", "FeedResult", "Session"]
