"""Delayed Messages and TTL.

Server facts (docs/protocol.md): a delayed message is held in the server's memory and written when
due (offset 0 is a placeholder in the answer); FlyMQ 1.26 records a TTL but never expires messages.
"""

from _support import example_server

from pyflymq import FlyMQClient

with example_server(__doc__) as bootstrap:
    client = FlyMQClient(bootstrap)

    # Delayed delivery (5 second delay)
    client.produce_delayed("my-topic", b"Delayed message", delay_ms=5000)

    # Message with TTL (expires in 60 seconds)
    client.produce_with_ttl("my-topic", b"Expiring message", ttl_ms=60000)

    visible = [m.decode() for m in client.fetch("my-topic", 0, 0, 10)]
    print(f"readable now: {visible}")
    client.close()
