"""``pyflymq bench produce|consume``: small runs against the server under test.

These check what the command reports (counts, units, percentiles present and ordered), never how
fast anything is: performance is measured by bench/, not by unit tests.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from pyflymq.cli.cmd_bench import BenchResult, percentile
from tests.unit import test_cli_topics
from tests.unit.test_cli_topics import CLI

cli = test_cli_topics.cli  # the shared fixture


def test_percentile_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == 50.0
    assert percentile(values, 95) == 95.0
    assert percentile(values, 99) == 99.0
    assert percentile(values, 100) == 100.0
    assert percentile([7.0], 99) == 7.0
    assert percentile([], 50) is None


def test_summary_rates() -> None:
    doc = BenchResult("produce", "t", 1000, 2_000_000, 2.0, [1.0, 2.0, 3.0, 4.0], "ack latency").summary()
    assert doc["msgs_per_s"] == 500.0 and doc["mb_per_s"] == 1.0
    assert (doc["p50_ms"], doc["p95_ms"], doc["p99_ms"], doc["max_ms"]) == (2.0, 4.0, 4.0, 4.0)


def _check(doc: dict[str, Any], kind: str, records: int, size: int) -> None:
    assert doc["benchmark"] == kind and doc["records"] == records and doc["bytes"] == records * size
    assert doc["msgs_per_s"] > 0 and doc["mb_per_s"] > 0
    assert 0 < doc["p50_ms"] <= doc["p95_ms"] <= doc["p99_ms"] <= doc["max_ms"]


def test_bench_produce_json_and_scratch_topic_cleanup(cli: CLI, flymq_client: Any) -> None:
    before = set(flymq_client.list_topics())
    result = cli(
        "bench",
        "produce",
        "--count",
        "300",
        "--size",
        "64",
        "--keys",
        "3",
        "--partitions",
        "3",
        "--format",
        "json",
    )
    assert result.code == 0, result.err
    doc = json.loads(result.out)
    _check(doc, "produce", 300, 64)
    assert doc["latency"] == "ack latency" and doc["topic"].startswith("pyflymq-bench-")
    assert set(flymq_client.list_topics()) == before  # the scratch topic was deleted


def test_bench_produce_text_table_on_a_kept_topic(
    cli: CLI, flymq_client: Any, unique_topic: Callable[..., str]
) -> None:
    topic = unique_topic("bench")
    result = cli("bench", "produce", "--topic", topic, "--count", "200", "--size", "10")
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    assert lines[0] == f"bench produce on {topic}"
    labels = [line.split("  ")[0].strip() for line in lines[2:]]
    assert labels == [
        "records",
        "bytes",
        "elapsed",
        "throughput",
        "bandwidth",
        "ack latency p50",
        "ack latency p95",
        "ack latency p99",
        "ack latency max",
    ]
    assert "msgs/s" in result.out and "MB/s" in result.out
    assert len(flymq_client.fetch(topic, 0, 0, 1000)) == 200


def test_bench_consume_fills_and_reads(cli: CLI) -> None:
    result = cli("bench", "consume", "--count", "500", "--size", "32", "--format", "json")
    assert result.code == 0, result.err
    doc = json.loads(result.out)
    _check(doc, "consume", 500, 32)
    assert doc["latency"] == "poll latency"


@pytest.mark.parametrize("action", ["produce", "consume"])
def test_bench_usage_errors(cli: CLI, action: str) -> None:
    assert cli("bench", action, "--count", "0").code == 2
    assert cli("bench").code == 2
