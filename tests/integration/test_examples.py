"""Every script in examples/ runs as a subprocess against its own embedded broker and prints what
its seed section promises; one runs against the session's server through ``--bootstrap``.

Each example has expected output lines below, so a new example needs an entry (checked).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

EXAMPLES_DIR = Path(__file__).resolve().parents[2] / "examples"
EXAMPLES = sorted(p.name for p in EXAMPLES_DIR.glob("[0-9][0-9]_*.py"))
TIMEOUT_S = 90

#: example -> substrings its stdout must contain.
EXPECTED: dict[str, list[str]] = {
    "01_quick_start.py": ["Hello, FlyMQ!"],
    "02_basic_context_manager.py": ["Produced to my-topic[0] @ offset 0", "Received: Hello, FlyMQ!"],
    "03_key_based_messaging.py": [
        "Key: user-123",
        'Value: {"id": 1}',
        'Offset 2: key=user-456 value={"id": 3}',
    ],
    "04_using_context_manager.py": ["Topics: ['my-topic']", "closed: True"],
    "05_cluster_connection.py": ["is down; connected to 127.0.0.1:", "produced to my-topic[0] @ offset 0"],
    "06_high_level_producer.py": ["Sent to events[0] @ 0", "Offset: 0"],
    "07_producer_configuration.py": ["the last one is 'event-9999' @ offset 9999"],
    "08_high_level_consumer.py": [
        "Received: event 0",
        "Received: event 4",
        "committed offset of my-group: 5",
    ],
    "09_poll_based_consumption.py": ["topic1[0] @ 2: order 2", "topic2[0] @ 2: payment 2"],
    "10_seek_operations.py": [
        "after seek(100): record 100 @ offset 100",
        "after seek_to_beginning(): position 0",
        "after seek_to_end(): position 150",
    ],
    "11_consumer_groups_low_level.py": ["Received: job 0", "Received: job 2", "committed: 3"],
    "12_consumer_group_handler.py": [
        "Processing: topic1 message 1",
        "Processing: topic2 message 1",
        "processed 4",
    ],
    "13_transactions.py": ["transaction state: committed", "topic1 holds 2 records"],
    "14_producer_batching.py": ["['Message 1', 'Message 2']"],
    "15_schema_validation.py": [
        "valid user written to users @ offset 0",
        "refused: ",
        "missing required field",
    ],
    "16_dead_letter_queue.py": [
        "processed order 1",
        "error: cannot parse the order",
        "DLQ after purge: []",
    ],
    "17_delayed_and_ttl.py": ["readable now: ['Expiring message']"],
    "18_encryption.py": [
        "decrypt to b'Hello, FlyMQ!'",
        "read back through the encrypting client: b'card 4111'",
        "plaintext visible: False",
    ],
    "19_reactive_streams.py": ["Published at 0", "Published at 2", "batch of 10: ['important event 0'"],
    "20_async_consumer.py": ["message "],
    "21_tls.py": ["verified TLS: produced @ offset 0", "mTLS client: ", "unverified TLS: connected to"],
    "22_error_handling.py": [
        "Error: topic not found: really-missing-topic",
        "Hint: Create the topic first",
        "Error: could not connect to any FlyMQ server",
        "Hint: Check that the FlyMQ server is running",
    ],
    "23_graceful_error_recovery.py": ["written @ offset 0"],
}


def _run(name: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYFLYMQ_PLUGINS="", PYTHONUNBUFFERED="1")
    env.pop("FLYMQ_BOOTSTRAP", None)
    return subprocess.run(
        [sys.executable, str(EXAMPLES_DIR / name), *args],
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        env=env,
        cwd=EXAMPLES_DIR.parent,
        check=False,
    )


def test_every_example_has_expectations() -> None:
    assert len(EXAMPLES) >= 23
    assert sorted(EXPECTED) == EXAMPLES


@pytest.mark.slow
@pytest.mark.parametrize("name", EXAMPLES)
def test_example_runs_on_the_embedded_broker(name: str) -> None:
    result = _run(name)
    assert result.returncode == 0, f"{name} failed:\n{result.stdout}\n{result.stderr}"
    assert "[embedded FlyMQ" in result.stderr
    for expected in EXPECTED[name]:
        assert expected in result.stdout, f"{name}: {expected!r} missing from:\n{result.stdout}"
    assert "Traceback" not in result.stdout


@pytest.mark.slow
def test_example_against_the_server_under_test(flymq_bootstrap: str, flymq_options: Any) -> None:
    if flymq_options.client_kwargs():
        pytest.skip("the examples take no credentials or TLS options (--flymq-username/--flymq-tls...)")
    result = _run("04_using_context_manager.py", "--bootstrap", flymq_bootstrap)
    assert result.returncode == 0, result.stderr
    assert "[embedded FlyMQ" not in result.stderr
    assert "Topics: [" in result.stdout and "my-topic" in result.stdout
