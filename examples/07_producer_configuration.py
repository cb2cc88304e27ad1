"""Producer Configuration: batch size, linger, retries; a high-throughput send loop."""

from _support import example_server

from pyflymq import connect

with example_server(__doc__) as bootstrap:
    client = connect(bootstrap)

    # Full configuration
    producer = client.producer(
        batch_size=1000,  # Max messages per batch
        linger_ms=50,  # Wait time for batching
        max_retries=3,  # Retry attempts
        retry_backoff_ms=100,  # Backoff between retries
    )

    # High-throughput pattern
    for i in range(10000):
        producer.send("events", f"event-{i}".encode())

    producer.flush()  # Ensure all sent
    producer.close()

    last = client.fetch("events", partition=0, offset=9999, max_messages=1)
    print(
        f"sent 10000 events; the last one is {last.messages[0].decode()!r} @ offset {last.messages[0].offset}"
    )
    client.close()
