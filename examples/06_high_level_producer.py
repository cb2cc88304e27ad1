"""High-Level Producer (Kafka-like): batching, callbacks, futures and automatic retries."""

from _support import example_server

from pyflymq import RecordMetadata, connect

with example_server(__doc__) as bootstrap:
    client = connect(bootstrap)

    # Create a high-level producer with batching
    with client.producer(batch_size=100, linger_ms=10) as producer:
        # Send with callback
        def on_success(metadata: RecordMetadata) -> None:
            print(f"Sent to {metadata.topic}[{metadata.partition}] @ {metadata.offset}")

        def on_error(error: Exception) -> None:
            print(f"Failed: {error}")

        # Async send with callbacks
        future = producer.send(
            topic="events",
            value=b'{"event": "click"}',
            key="user-123",
            on_success=on_success,
            on_error=on_error,
        )

        # Or wait for result
        metadata = future.get(timeout_ms=5000)
        print(f"Offset: {metadata.offset}")

    # Producer auto-flushes on exit
    client.close()
