"""Graceful Error Recovery: retry with exponential backoff."""

import time
from typing import Any

from _support import example_server

from pyflymq import FlyMQClient, connect
from pyflymq.exceptions import FlyMQError


def produce_with_retry(client: FlyMQClient, topic: str, data: bytes, max_retries: int = 3) -> Any:
    """Produce with exponential backoff retry."""
    backoff = 0.1
    for attempt in range(max_retries):
        try:
            return client.produce(topic, data)
        except FlyMQError as e:
            if attempt < max_retries - 1:
                print(f"Retry {attempt + 1}: {e}")
                time.sleep(backoff)
                backoff *= 2
            else:
                raise


with example_server(__doc__) as bootstrap:
    # Usage
    client = connect(bootstrap)
    offset = produce_with_retry(client, "my-topic", b"important data")
    print(f"written @ offset {offset.offset}")
    client.close()
