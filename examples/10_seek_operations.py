"""Seek Operations: seek to an offset, to the beginning or the end, and read the position."""

from _support import example_server

from pyflymq import connect

with example_server(__doc__) as bootstrap:
    client = connect(bootstrap)
    client.create_topic("my-topic", partitions=1)
    with client.producer(linger_ms=5) as batch:
        for i in range(150):  # offsets 0..149, so offset 100 exists
            batch.send("my-topic", f"record {i}".encode())

    consumer = client.consumer("my-topic", "my-group")

    # Seek to specific offset
    consumer.seek(partition=0, offset=100)
    first = consumer.poll(timeout_ms=2000, max_records=1)
    print(f"after seek(100): {first[0].decode()} @ offset {first[0].offset}")

    # Seek to beginning/end
    consumer.seek_to_beginning()
    print(f"after seek_to_beginning(): position {consumer.position(partition=0)}")
    consumer.seek_to_end()

    # Get current position
    position = consumer.position(partition=0)
    print(f"after seek_to_end(): position {position}")

    consumer.close()
    client.close()
