"""Poll-Based Consumption: ``consumer.poll()`` over two topics with auto-commit.

The seed polls in ``while True``; this example polls until it has seen the six records it
produced (or ten seconds passed).
"""

import time

from _support import example_server

from pyflymq import ConsumedMessage, connect


def process(msg: ConsumedMessage) -> None:
    print(f"{msg.topic}[{msg.partition}] @ {msg.offset}: {msg.decode()}")


with example_server(__doc__) as bootstrap:
    client = connect(bootstrap)
    for topic in ("topic1", "topic2"):
        client.create_topic(topic, partitions=1)

    consumer = client.consumer(
        topics=["topic1", "topic2"],
        group_id="my-group",
        auto_commit=True,
        auto_commit_interval_ms=5000,
    )
    for i in range(3):  # something to read
        client.produce("topic1", f"order {i}".encode())
        client.produce("topic2", f"payment {i}".encode())

    # Poll for messages
    received = 0
    deadline = time.monotonic() + 10
    while received < 6 and time.monotonic() < deadline:
        messages = consumer.poll(timeout_ms=1000, max_records=100)
        for msg in messages:
            process(msg)
        received += len(messages)

        # Manual commit if auto_commit=False
        # consumer.commit()

    consumer.close()  # commits the positions (auto_commit)
    client.close()
