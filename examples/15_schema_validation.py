"""Schema Validation: register a JSON schema and produce records that must match it."""

import json

from _support import example_server

from pyflymq import FlyMQClient
from pyflymq.exceptions import SchemaValidationError

with example_server(__doc__) as bootstrap:
    client = FlyMQClient(bootstrap)

    # Register a JSON schema
    schema = """
{
    "type": "object",
    "properties": {
        "name": {"type": "string"},
        "age": {"type": "integer"}
    },
    "required": ["name"]
}
"""
    client.register_schema("user-schema", "json", schema)

    # Produce with schema validation
    data = json.dumps({"name": "Alice", "age": 30}).encode()
    offset = client.produce_with_schema("users", data, "user-schema")
    print(f"valid user written to {offset.topic} @ offset {offset.offset}")

    # An invalid record is refused before anything is sent.
    try:
        client.produce_with_schema("users", b'{"age": "thirty"}', "user-schema")
    except SchemaValidationError as e:
        print(f"refused: {e}")
    client.close()
