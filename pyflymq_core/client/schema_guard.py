"""Local validation for ``produce_with_schema``: the registry's schema, cached, checked before sending.

The real server validates only when its schema feature is on (off by default), and then only a
subset of JSON Schema (SEMANTICS_NOTES #28). The client therefore fetches the registered schema once
(GET_SCHEMA, latest version), keeps it for ``max_age`` seconds, and validates with the real
validators of ``pyflymq_serde`` before anything is sent: an invalid record raises
``SchemaValidationError`` listing the violations, and nothing reaches the wire.

Sans-IO like the call layer: the sync and asyncio clients fetch the schema their own way and use
the same cache and check.
"""

from __future__ import annotations

import threading
import time

from pyflymq_core.errors import SchemaNotFoundError
from pyflymq_core.models import SchemaInfo

__all__ = ["SchemaGuard"]


class SchemaGuard:
    """A small per-client cache of the latest version of each schema used for produce."""

    def __init__(self, max_age_s: float = 30.0) -> None:
        self._max_age = max_age_s
        self._entries: dict[str, tuple[float, SchemaInfo]] = {}
        self._lock = threading.Lock()

    def cached(self, name: str) -> SchemaInfo | None:
        """The cached latest version of ``name``, or ``None`` when unknown or too old."""
        with self._lock:
            entry = self._entries.get(name)
        if entry is None or time.monotonic() - entry[0] > self._max_age:
            return None
        return entry[1]

    def remember(self, info: SchemaInfo) -> SchemaInfo:
        """Cache ``info`` (e.g. just registered or fetched) so local validation needs no round trip;
        returns it."""
        with self._lock:
            self._entries[info.name] = (time.monotonic(), info)
        return info

    def forget(self, name: str) -> None:
        """Drop ``name`` (this client registered or deleted a version of it)."""
        with self._lock:
            self._entries.pop(name, None)

    @staticmethod
    def not_registered(name: str, cause: SchemaNotFoundError) -> SchemaNotFoundError:
        """The error for producing against a schema the registry does not know.

        The server would accept anything under an unknown name; refusing is what a caller who asked
        for validation expects.
        """
        return SchemaNotFoundError(
            f"schema {name!r} is not registered, so the record cannot be validated",
            hint=f"Register it first with client.register_schema({name!r}, 'json', schema), "
            "or pass validate=False to send without local validation.",
            server_message=cause.server_message,
        )

    @staticmethod
    def check(info: SchemaInfo, data: bytes) -> None:
        """Raise ``SchemaValidationError`` when ``data`` does not match ``info``."""
        from pyflymq_serde.schema import check_before_produce

        check_before_produce(info.name, info.type, info.definition or "", data)
