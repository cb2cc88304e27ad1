"""Dead Letter Queue: fetch, replay and purge failed messages.

FlyMQ never moves a message to a DLQ by itself; an application's consumer does.  Here a
``ConsumerGroup`` whose handler fails on a "poison" record dead-letters it first, then the seed's
snippet inspects, replays and purges the DLQ.
"""

from _support import example_server, wait_until

from pyflymq import ConsumedMessage, ConsumerGroup, FlyMQClient


def handler(msg: ConsumedMessage) -> None:
    if b"poison" in msg.value:
        raise ValueError("cannot parse the order")
    print(f"processed {msg.decode()}")


with example_server(__doc__) as bootstrap:
    client = FlyMQClient(bootstrap)
    client.create_topic("my-topic", partitions=1)
    group = ConsumerGroup(client, "my-topic", "order-processor", handler=handler, max_retries=0)
    group.start()
    wait_until(lambda: bool(group.assignment()), what="partition assignment")
    client.produce("my-topic", b"order 1")
    client.produce("my-topic", b"poison order")
    wait_until(lambda: group.dead_lettered == 1, what="one dead-lettered record")
    group.stop()

    # Fetch messages from DLQ
    dlq_messages = client.fetch_dlq("my-topic", max_messages=10)
    for msg in dlq_messages:
        print(f"Failed message: {msg.id}, error: {msg.error}")

        # Replay the message
        client.replay_dlq("my-topic", msg.id)

    # Purge all DLQ messages
    client.purge_dlq("my-topic")
    print(f"DLQ after purge: {client.fetch_dlq('my-topic')}")
    client.close()
