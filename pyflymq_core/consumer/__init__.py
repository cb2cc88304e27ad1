"""The consumers: ``HighLevelConsumer`` (``client.consumer(...)``), ``Consumer`` and ``ConsumerGroup``.

Modules: :mod:`.consumer` (polling, iteration, positions, commits), :mod:`.assignment` (client-side
partition assignment), :mod:`.offsets` (start/end offsets and the server's off-by-ones),
:mod:`.fetcher` (pipelined FETCH), :mod:`.committer` (COMMIT, asynchronous commits), :mod:`.group`
(handler + retries + dead-letter topic), :mod:`.dlq` (the server's DLQ record format).
See docs/consumer.md.
"""

from pyflymq_core.consumer.assignment import TopicPartition, assign_partitions
from pyflymq_core.consumer.consumer import Consumer, HighLevelConsumer
from pyflymq_core.consumer.group import ConsumerGroup
from pyflymq_core.errors import ConsumerClosedError, HandlerFailedError

__all__ = [
    "Consumer",
    "ConsumerClosedError",
    "ConsumerGroup",
    "HandlerFailedError",
    "HighLevelConsumer",
    "TopicPartition",
    "assign_partitions",
]
