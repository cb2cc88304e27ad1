"""Error Handling: the exception types, and errors that carry a hint.

FlyMQ creates a topic on its first produce, so the seed's ``produce("nonexistent-topic", ...)``
succeeds; reading a missing topic and connecting to a server that is down show the hints instead.
"""

from _support import example_server, unreachable_address

from pyflymq import connect
from pyflymq.exceptions import (
    AuthenticationError,  # Auth failures
    ConnectionError,  # Connection failures
    FlyMQError,  # Base exception
    OffsetOutOfRangeError,  # Invalid offset
    ServerError,  # Server-side errors
    TimeoutError,  # Operation timeout
    TopicNotFoundError,  # Topic doesn't exist
)

with example_server(__doc__) as bootstrap:
    for exc_type in (AuthenticationError, OffsetOutOfRangeError, ServerError, TimeoutError):
        assert issubclass(exc_type, FlyMQError)

    # The seed's snippet (the produce auto-creates the topic: nothing is printed).
    try:
        client = connect(bootstrap)
        client.produce("nonexistent-topic", b"data")
    except TopicNotFoundError as e:
        print(f"Error: {e}")
        print(f"Hint: {e.hint}")
    except ConnectionError as e:
        print(f"Error: {e}")
        print(f"Hint: {e.hint}")

    # Reads never create topics:
    try:
        client.consume("really-missing-topic", 0)
    except TopicNotFoundError as e:
        print(f"Error: {e}")
        print(f"Hint: {e.hint}")

    # A server that is down:
    try:
        connect(unreachable_address(), max_retries=0)
    except ConnectionError as e:
        print(f"Error: {e}")
        print(f"Hint: {e.hint}")
    client.close()
