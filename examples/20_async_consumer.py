"""Async Consumer: ``async with AsyncReactiveConsumer(...)`` and ``async for``.

The seed's ``async for`` never ends; this one stops after three messages.  A background thread
produces a message every 50 ms until then (the consumer starts at the end of the topic, so only
messages written after it started are read).
"""

import asyncio
import threading

from _support import example_server

from pyflymq import AsyncReactiveConsumer, FlyMQClient

with example_server(__doc__) as bootstrap:
    client = FlyMQClient(bootstrap)
    client.create_topic("topic", partitions=1)
    done = threading.Event()

    def keep_producing() -> None:
        i = 0
        while not done.wait(0.05):
            client.produce("topic", f"message {i}".encode())
            i += 1

    async def consume() -> None:
        async with AsyncReactiveConsumer(client, "topic", "group") as consumer:
            received = 0
            async for message in consumer:
                print(message.decode())
                received += 1
                if received == 3:
                    break

    producer = threading.Thread(target=keep_producing, daemon=True)
    producer.start()
    try:
        asyncio.run(asyncio.wait_for(consume(), timeout=30))
    finally:
        done.set()
        producer.join()
    client.close()
