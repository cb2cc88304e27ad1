"""Key-Based Messaging (Kafka-style): records with the same key go to the same partition.

On a fresh one-partition topic every record lands in partition 0, so the seed's
``consume("orders", 0)`` reads the first order.
"""

from _support import example_server

from pyflymq import FlyMQClient

with example_server(__doc__) as bootstrap:  # noqa: SIM117 (the seed's with-block, as written)
    with FlyMQClient(bootstrap) as client:
        # Produce messages with keys
        client.produce("orders", b'{"id": 1}', key="user-123")
        client.produce("orders", b'{"id": 2}', key="user-123")  # Same partition
        client.produce("orders", b'{"id": 3}', key="user-456")  # May differ

        # Consume and access key
        msg = client.consume("orders", 0)
        print(f"Key: {msg.decode_key()}")  # "user-123"
        print(f"Value: {msg.decode()}")  # '{"id": 1}'

        # Fetch multiple messages with keys
        result = client.fetch("orders", partition=0, offset=0, max_messages=10)
        for m in result.messages:
            print(f"Offset {m.offset}: key={m.decode_key()} value={m.decode()}")
