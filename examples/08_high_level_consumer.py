"""High-Level Consumer (Kafka-like): iterate over messages, auto-commit.

The seed's loop runs forever; this example produces five events after the consumer starts (it
begins at the end of the topic, like Kafka's default ``auto_offset_reset="latest"``) and stops
after reading them.
"""

from _support import example_server

from pyflymq import connect

EXPECTED = 5

with example_server(__doc__) as bootstrap:
    client = connect(bootstrap)
    client.create_topic("my-topic", partitions=1)

    # Create consumer with Kafka-like API
    with client.consumer("my-topic", "my-group") as consumer:
        for i in range(EXPECTED):  # something to read
            client.produce("my-topic", f"event {i}".encode(), key=f"user-{i}")

        # Iterate over messages
        for received, message in enumerate(consumer, start=1):
            print(f"Received: {message.decode()}")
            print(f"Key: {message.key!r}, Offset: {message.offset}")
            # Auto-commit enabled by default
            if received == EXPECTED:  # bounded, unlike the seed's endless loop
                break

    print(f"committed offset of my-group: {client.get_committed_offset('my-topic', 'my-group', 0)}")
    client.close()
