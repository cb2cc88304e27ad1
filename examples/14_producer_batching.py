"""Producer with Batching: ``Producer(client, config=ProducerConfig(...))``."""

from _support import example_server

from pyflymq import FlyMQClient, Producer, ProducerConfig

with example_server(__doc__) as bootstrap:
    client = FlyMQClient(bootstrap)

    # Configure batching
    config = ProducerConfig(
        batch_size=16384,  # 16KB batch
        linger_ms=100,  # Wait up to 100ms for more messages
        max_batch_messages=100,
    )

    producer = Producer(client, config=config)

    # Send messages (may be batched)
    producer.send("my-topic", b"Message 1")
    producer.send("my-topic", b"Message 2")

    # Ensure all messages are sent
    producer.flush()
    producer.close()

    print([m.decode() for m in client.fetch("my-topic", 0, 0, 10)])
    client.close()
