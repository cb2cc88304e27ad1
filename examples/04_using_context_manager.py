"""Using Context Manager: the client closes itself when the block ends."""

from _support import example_server

from pyflymq import FlyMQClient

with example_server(__doc__) as bootstrap:
    with FlyMQClient(bootstrap) as client:
        client.produce("my-topic", b"Hello!")
        topics = client.list_topics()
        print(f"Topics: {topics}")
    print(f"closed: {client.closed}")
