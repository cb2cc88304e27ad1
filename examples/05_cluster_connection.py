"""Cluster Connection (HA): a bootstrap list with automatic failover.

The seed lists ``node1:9092,node2:9092,node3:9092``.  Here the first node is an address where
nothing listens (a node that is down) and the second is the server this example runs against, so
the failover actually happens.
"""

from _support import example_server, unreachable_address

from pyflymq import FlyMQClient

with example_server(__doc__) as bootstrap:
    node_down = unreachable_address()

    # Connect to multiple servers for high availability
    client = FlyMQClient(f"{node_down},{bootstrap}")

    # Automatic failover if a server becomes unavailable
    offset = client.produce("my-topic", b"Hello!")
    print(f"{node_down} is down; connected to {client.connected_server}")
    print(f"produced to {offset.topic}[{offset.partition}] @ offset {offset.offset}")
    client.close()
