"""Dead-letter records written by the client, in the format the server's DLQ opcodes read.

The FlyMQ server never moves a failed message to a dead-letter queue by itself (SEMANTICS_NOTES
#27); its FETCH_DLQ / REPLAY_DLQ / PURGE_DLQ opcodes only read partition 0 of ``<topic>.dlq`` and
keep the records that decode as its DLQ JSON object (spec §9.7)::

    {"id", "original_topic", "original_offset", "payload" (base64), "reason", "error_message",
     "retry_count", "first_failed_at", "last_failed_at" (RFC 3339), "headers" (optional)}

So :class:`DeadLetterWriter` produces exactly that, keyless, to a ``<topic>.dlq`` topic it creates
with one partition (a keyless produce to a multi-partition topic would spread records over
partitions FETCH_DLQ never reads).  ``client.fetch_dlq(topic)`` and ``client.replay_dlq(topic, id)``
then see the records.  ``retry_count`` is the number of retries after the first failure; the
original partition, key (base64) and consumer group go in ``headers``.  REPLAY_DLQ re-produces the
payload without its key (server behaviour).

Client encryption (``encryption_enabled``): the server parses the DLQ record itself, so the JSON is
produced as is, past the client's value seam — an encrypted record would be invisible to FETCH_DLQ.
The ``payload`` inside it is the record *as stored*: the consumer decrypted the value, so it is
encrypted again (a fresh nonce), and a record that could not be decrypted keeps its stored bytes.
REPLAY_DLQ therefore writes back a record the topic's consumers can decrypt, and no plaintext of an
encrypted topic ends up in the dead-letter topic.
"""

from __future__ import annotations

import base64
import json
import logging
import time
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from pyflymq_core.client import calls
from pyflymq_core.errors import FlyMQError, TopicNotFoundError
from pyflymq_core.models import ConsumedMessage, RecordMetadata

if TYPE_CHECKING:
    from pyflymq_core.client.sync_client import FlyMQClient

__all__ = [
    "DEFAULT_DLQ_SUFFIX",
    "REASON_DECRYPTION_FAILED",
    "REASON_DESERIALIZATION_FAILED",
    "REASON_MAX_RETRIES",
    "DeadLetterWriter",
    "dlq_record",
    "rfc3339",
]

logger = logging.getLogger("pyflymq.consumer")

DEFAULT_DLQ_SUFFIX = ".dlq"
#: The server's reason for a record that failed every retry.
REASON_MAX_RETRIES = "max_retries_exceeded"
#: Records the consumer could not hand to the handler at all (never retried: they would fail again).
REASON_DESERIALIZATION_FAILED = "deserialization_failed"
REASON_DECRYPTION_FAILED = "decryption_failed"


def rfc3339(timestamp: float) -> str:
    """``2026-01-02T03:04:05.123456Z`` (what Go's ``time.Time`` JSON decoding accepts)."""
    moment = datetime.fromtimestamp(timestamp, tz=timezone.utc)
    return moment.isoformat(timespec="microseconds").replace("+00:00", "Z")


def dlq_record(
    message: ConsumedMessage,
    error: BaseException,
    *,
    retry_count: int,
    first_failed_at: float,
    last_failed_at: float,
    group_id: str | None,
    record_id: str | None = None,
    reason: str = REASON_MAX_RETRIES,
    payload: bytes | None = None,
) -> tuple[str, bytes]:
    """``(id, JSON bytes)`` of the dead-letter record for ``message``; ``payload`` replaces the
    message's value (the value as stored, when the consumer decrypted it)."""
    rid = record_id or f"{message.topic}-{message.partition}-{message.offset}-{time.time_ns()}"
    headers = {"original_partition": str(message.partition)}
    if message.key is not None:
        headers["key_base64"] = base64.b64encode(message.key).decode("ascii")
    if group_id:
        headers["group_id"] = group_id
    headers["error_type"] = type(error).__name__
    record = {
        "id": rid,
        "original_topic": message.topic,
        "original_offset": message.offset,
        "payload": base64.b64encode(message.value if payload is None else payload).decode("ascii"),
        "reason": reason,
        "error_message": str(error) or type(error).__name__,
        "retry_count": retry_count,
        "first_failed_at": rfc3339(first_failed_at),
        "last_failed_at": rfc3339(last_failed_at),
        "headers": headers,
    }
    return rid, json.dumps(record, separators=(",", ":")).encode("utf-8")


class DeadLetterWriter:
    """Writes dead-letter records for one consumer group (creating ``<topic><suffix>`` once)."""

    def __init__(
        self, client: FlyMQClient, *, suffix: str = DEFAULT_DLQ_SUFFIX, group_id: str | None = None
    ) -> None:
        self._client = client
        self._suffix = suffix
        self._group_id = group_id
        self._ready: set[str] = set()

    def topic_for(self, topic: str) -> str:
        """The dead-letter topic of ``topic`` (``<topic>.dlq`` by default, as the server names it)."""
        return topic + self._suffix

    def _ensure_topic(self, dlq_topic: str) -> None:
        if dlq_topic in self._ready:
            return
        client = self._client
        client.create_topic(dlq_topic, partitions=1)  # no-op when it exists (its count is kept)
        try:
            metadata = client.get_topic_metadata(dlq_topic)
        except TopicNotFoundError:
            metadata = None
        if metadata is not None and metadata.partition_count != 1:
            logger.warning(
                "dead-letter topic %r has %d partitions: records spread over them, and the server's "
                "FETCH_DLQ reads partition 0 only",
                dlq_topic,
                metadata.partition_count,
            )
        self._ready.add(dlq_topic)

    def write(
        self,
        message: ConsumedMessage,
        error: BaseException,
        *,
        retry_count: int,
        first_failed_at: float,
        last_failed_at: float,
        record_id: str | None = None,
        reason: str = REASON_MAX_RETRIES,
        as_stored: bool = False,
    ) -> tuple[str, RecordMetadata]:
        """Produce the record (sync); returns its id and where it was written.  Raises on failure.

        ``as_stored``: ``message.value`` is the value as the topic stores it (it could not be
        decrypted), so it is not encrypted again.
        """
        client = self._client
        dlq_topic = self.topic_for(message.topic)
        stored = message.value
        encrypt = client._value_encoder
        if encrypt is not None and not as_stored:
            stored = encrypt(message.topic, message.value)
        rid, record = dlq_record(
            message,
            error,
            retry_count=retry_count,
            first_failed_at=first_failed_at,
            last_failed_at=last_failed_at,
            group_id=self._group_id,
            record_id=record_id,
            reason=reason,
            payload=stored,
        )
        try:
            self._ensure_topic(dlq_topic)
            # Past the value seam: the server must be able to parse the JSON (module docstring).
            metadata = client._execute(calls.produce(dlq_topic, record, None, None, client._compress))
        except FlyMQError:
            self._ready.discard(dlq_topic)
            raise
        logger.warning(
            "message %s[%d]@%d sent to dead-letter topic %r as %s (%s, %d retries): %s",
            message.topic,
            message.partition,
            message.offset,
            dlq_topic,
            rid,
            reason,
            retry_count,
            error,
        )
        return rid, metadata
