"""Basic Usage with Context Manager: create a topic, produce (``RecordMetadata``), consume."""

from _support import example_server

from pyflymq import FlyMQClient

with example_server(__doc__) as bootstrap:  # noqa: SIM117 (the seed's with-block, as written)
    with FlyMQClient(bootstrap) as client:
        # Create a topic
        client.create_topic("my-topic", partitions=3)

        # Produce a message - returns RecordMetadata (Kafka-like)
        meta = client.produce("my-topic", b"Hello, FlyMQ!")
        print(f"Produced to {meta.topic}[{meta.partition}] @ offset {meta.offset}")

        # Consume the message (from the partition it went to)
        msg = client.consume("my-topic", meta.offset, meta.partition)
        print(f"Received: {msg.decode()}")
