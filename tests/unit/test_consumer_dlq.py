"""Dead-letter records are in the server's DLQ format: the broker's Go-faithful decoder accepts them."""

from __future__ import annotations

import base64
import json

from pyflymq_broker.dlq import decode_dlq_record
from pyflymq_core.consumer.dlq import (
    REASON_DECRYPTION_FAILED,
    REASON_DESERIALIZATION_FAILED,
    REASON_MAX_RETRIES,
    dlq_record,
    rfc3339,
)
from pyflymq_core.models import ConsumedMessage


def _message(key: bytes | None = b"user-1") -> ConsumedMessage:
    return ConsumedMessage(topic="orders", partition=2, offset=41, key=key, value=b"\x00{bad json}\xff")


def test_record_fields_and_format() -> None:
    rid, payload = dlq_record(
        _message(),
        ValueError("cannot parse"),
        retry_count=3,
        first_failed_at=1_700_000_000.25,
        last_failed_at=1_700_000_001.5,
        group_id="billing",
    )
    data = json.loads(payload)
    assert data["id"] == rid and rid.startswith("orders-2-41-")
    assert data["original_topic"] == "orders" and data["original_offset"] == 41
    assert base64.b64decode(data["payload"]) == b"\x00{bad json}\xff"
    assert data["reason"] == REASON_MAX_RETRIES
    assert data["error_message"] == "cannot parse"
    assert data["retry_count"] == 3
    assert data["first_failed_at"] == "2023-11-14T22:13:20.250000Z"
    assert data["last_failed_at"] == "2023-11-14T22:13:21.500000Z"
    assert data["headers"] == {
        "original_partition": "2",
        "key_base64": base64.b64encode(b"user-1").decode(),
        "group_id": "billing",
        "error_type": "ValueError",
    }


def test_the_servers_decoder_accepts_the_record() -> None:
    _, payload = dlq_record(
        _message(key=None),
        RuntimeError(""),
        retry_count=0,
        first_failed_at=0.0,
        last_failed_at=0.0,
        group_id=None,
        record_id="fixed-id",
    )
    decoded = decode_dlq_record(payload)
    assert decoded is not None
    assert decoded.id == "fixed-id"
    assert decoded.payload == b"\x00{bad json}\xff"
    assert decoded.error_message == "RuntimeError"  # an empty message is replaced by the type name
    assert decoded.original_offset == 41 and decoded.retry_count == 0


def test_rfc3339_is_utc_with_z() -> None:
    assert rfc3339(0) == "1970-01-01T00:00:00.000000Z"


def test_reason_and_stored_payload_can_be_given() -> None:
    _, payload = dlq_record(
        _message(),
        ValueError("bad json"),
        retry_count=0,
        first_failed_at=0.0,
        last_failed_at=0.0,
        group_id="g",
        reason=REASON_DESERIALIZATION_FAILED,
        payload=b"ciphertext",
    )
    decoded = decode_dlq_record(payload)
    assert decoded is not None
    assert decoded.payload == b"ciphertext" and decoded.reason == REASON_DESERIALIZATION_FAILED
    assert REASON_DECRYPTION_FAILED != REASON_DESERIALIZATION_FAILED != REASON_MAX_RETRIES
