"""Consumer Group with Handler: a background worker calls ``handler(message)`` per record.

``# ... run until shutdown`` becomes: produce four records and wait until they were processed.
"""

from _support import example_server, wait_until

from pyflymq import ConsumedMessage, ConsumerGroup, FlyMQClient


def process_message(msg: ConsumedMessage) -> None:
    print(f"Processing: {msg.decode()}")


with example_server(__doc__) as bootstrap:
    client = FlyMQClient(bootstrap)
    for topic in ("topic1", "topic2"):
        client.create_topic(topic, partitions=1)

    # Consumer group with automatic offset commits
    group = ConsumerGroup(client, topics=["topic1", "topic2"], group_id="my-group", handler=process_message)

    group.start()
    # ... run until shutdown
    wait_until(lambda: len(group.assignment()) == 2, what="partition assignment")
    for i in range(2):
        client.produce("topic1", f"topic1 message {i}".encode())
        client.produce("topic2", f"topic2 message {i}".encode())
    wait_until(lambda: group.processed >= 4, what="four processed records")
    group.stop()

    print(f"processed {group.processed} records")
    client.close()
