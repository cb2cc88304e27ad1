"""Reactive Streams (RxPY): a reactive consumer pipeline and a reactive producer.

``process_batch`` receives lists of ten decoded "important" messages; the example produces twelve
important and twelve routine messages, waits for the first batch and stops the consumer.
"""

import threading

from _support import example_server

from pyflymq import FlyMQClient, ReactiveConsumer, ReactiveProducer

batch_seen = threading.Event()


def process_batch(batch: list[str]) -> None:
    print(f"batch of {len(batch)}: {batch}")
    batch_seen.set()


with example_server(__doc__) as bootstrap:
    from reactivex import operators as ops

    client = FlyMQClient(bootstrap)

    # Reactive consumer
    consumer = ReactiveConsumer(client, "my-topic", "my-group")
    consumer.messages().pipe(
        ops.filter(lambda m: b"important" in m.data),  # type: ignore[attr-defined]  # (mypy cannot
        ops.map(lambda m: m.decode()),  # type: ignore[attr-defined]  # infer lambdas through pipe())
        ops.buffer_with_count(10),
    ).subscribe(on_next=process_batch)

    consumer.start()

    # Reactive producer
    producer = ReactiveProducer(client, "my-topic")
    import reactivex as rx

    source = rx.of(b"msg1", b"msg2", b"msg3")
    source.pipe(producer.publish()).subscribe(on_next=lambda r: print(f"Published at {r.offset}"))

    # Feed the consumer and wait for its first batch.
    if not consumer.wait_ready(15):
        raise TimeoutError("the reactive consumer did not start")
    for i in range(12):
        client.produce("my-topic", f"important event {i}".encode())
        client.produce("my-topic", f"routine event {i}".encode())
    if not batch_seen.wait(15):
        raise TimeoutError("no batch of ten important messages arrived")
    consumer.stop()
    client.close()
