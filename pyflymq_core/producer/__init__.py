"""The high-level producer: ``Producer`` (alias ``HighLevelProducer``) and its ``RecordFuture``.

Modules: :mod:`.producer` (the public class), :mod:`.accumulator` (shared state), :mod:`.sender`
(I/O threads, retries, ordering), :mod:`.future`, :mod:`.encoding` (record -> PRODUCE frame),
:mod:`.serialize` (``serializer=``/``key_serializer=``).  Shared with the asyncio producer
(:mod:`pyflymq_core.aio.producer`): :mod:`.policy` (retry rule, batching, error wording) and
:mod:`.observe` (client counters and lifecycle hooks).  See docs/producer.md.
"""

from pyflymq_core.errors import DeliveryError, ProducerClosedError
from pyflymq_core.producer.future import RecordFuture
from pyflymq_core.producer.producer import HighLevelProducer, Producer

__all__ = ["DeliveryError", "HighLevelProducer", "Producer", "ProducerClosedError", "RecordFuture"]
