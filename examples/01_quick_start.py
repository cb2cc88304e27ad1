"""Quick Start: the simplest way, ``connect()``.

Run: ``python examples/01_quick_start.py`` (embedded broker) or ``... --bootstrap localhost:9092``.
"""

from _support import example_server

from pyflymq import connect

with example_server(__doc__) as bootstrap:
    # One-liner connection
    client = connect(bootstrap)

    # Produce and consume
    client.produce("my-topic", b"Hello, FlyMQ!")
    msg = client.consume("my-topic", 0)
    print(msg.decode())

    client.close()
