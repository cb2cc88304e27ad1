"""Consumer Groups (Low-Level): ``Consumer(client, topic, group_id=...)`` with manual commits.

The seed's loop runs forever; this one stops after the three records it produced.
"""

from _support import example_server

from pyflymq import Consumer, FlyMQClient

with example_server(__doc__) as bootstrap:
    client = FlyMQClient(bootstrap)
    client.create_topic("my-topic", partitions=1)

    # Create a consumer with a group ID
    consumer = Consumer(client, "my-topic", group_id="my-group")
    for i in range(3):  # something to read
        client.produce("my-topic", f"job {i}".encode())

    # Poll for messages
    for received, message in enumerate(consumer, start=1):
        print(f"Received: {message.decode()}")
        consumer.commit()  # Commit offset
        if received == 3:
            break

    consumer.close()
    print(f"committed: {client.get_committed_offset('my-topic', 'my-group', 0)}")
    client.close()
