"""``pyflymq produce`` and ``pyflymq consume`` in-process against the server under test."""

from __future__ import annotations

import io
import json
import sys
from collections.abc import Callable
from typing import Any

import pytest

import pyflymq.cli.cmd_consume as consume_cmd
from tests.unit import test_cli_topics
from tests.unit.test_cli_topics import CLI

cli = test_cli_topics.cli  # the shared fixture


def _stdin(monkeypatch: Any, data: bytes) -> None:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))


def test_produce_one_value(cli: CLI, flymq_client: Any, unique_topic: Callable[..., str]) -> None:
    topic = unique_topic("cli-produce")
    result = cli("produce", topic, "hello", "--key", "k1")
    assert result.code == 0
    assert result.out == f"produced 1 record to {topic}[0] @ offset 0\n"
    message = flymq_client.consume(topic, 0)
    assert (message.key, message.value) == (b"k1", b"hello")


def test_produce_count_and_json_metadata(
    cli: CLI, flymq_client: Any, unique_topic: Callable[..., str]
) -> None:
    topic = unique_topic("cli-count")
    result = cli("produce", topic, "tick", "--count", "4", "--format", "json")
    assert result.code == 0
    docs = [json.loads(line) for line in result.out.splitlines()]
    assert [d["offset"] for d in docs] == [0, 1, 2, 3]
    assert all(d["topic"] == topic and d["value_size"] == 4 for d in docs)
    assert [m.value for m in flymq_client.fetch(topic, 0, 0, 10)] == [b"tick"] * 4


def test_produce_lines_from_stdin_with_key_separator(
    cli: CLI, monkeypatch: Any, flymq_client: Any, unique_topic: Callable[..., str]
) -> None:
    topic = unique_topic("cli-stdin")
    flymq_client.create_topic(topic, partitions=1)
    _stdin(monkeypatch, b"user-1:first\nno separator here\r\nuser-2:second:with colon\n")
    result = cli("produce", topic, "-", "--key-separator", ":")
    assert result.code == 0 and result.out == f"produced 3 record(s) to {topic} (partitions: 0)\n"
    got = [(m.key, m.value) for m in flymq_client.fetch(topic, 0, 0, 10)]
    assert got == [(b"user-1", b"first"), (None, b"no separator here"), (b"user-2", b"second:with colon")]


def test_produce_with_schema_validates(cli: CLI, flymq_client: Any, unique_topic: Callable[..., str]) -> None:
    topic, schema = unique_topic("cli-users"), unique_topic("cli-user-schema")
    flymq_client.register_schema(
        schema,
        "json",
        json.dumps({"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]}),
    )
    ok = cli("produce", topic, '{"name": "Alice"}', "--schema", schema)
    assert ok.code == 0 and "@ offset 0" in ok.out
    bad = cli("produce", topic, '{"age": 3}', "--schema", schema)
    assert bad.code == 1
    assert bad.err.startswith("error: ") and "hint: " in bad.err and "name" in bad.err
    keyed = cli("produce", topic, '{"name": "B"}', "--schema", schema, "--key", "k")
    assert keyed.code == 1 and "no key field" in keyed.err


def test_consume_from_beginning_text_and_keys(
    cli: CLI, flymq_client: Any, unique_topic: Callable[..., str]
) -> None:
    topic = unique_topic("cli-consume")
    flymq_client.create_topic(topic, partitions=1)
    for i in range(5):
        flymq_client.produce(topic, f"value-{i}".encode(), key=f"key-{i}")
    result = cli("consume", topic, "--from-beginning", "--max", "3")
    assert result.code == 0
    assert result.out.splitlines() == ["value-0", "value-1", "value-2"]
    assert f"consumed 3 record(s) from {topic}" in result.err
    keyed = cli("consume", topic, "--from-beginning", "--max", "2", "--print-key")
    assert keyed.out.splitlines() == ["key-0\tvalue-0", "key-1\tvalue-1"]


def test_consume_json_and_binary_values(
    cli: CLI, flymq_client: Any, unique_topic: Callable[..., str]
) -> None:
    topic = unique_topic("cli-json")
    flymq_client.produce(topic, b"\xff\x00binary")
    flymq_client.produce(topic, "caf\u00e9".encode(), key="k")
    result = cli("consume", topic, "--from-beginning", "--max", "2", "--format", "json")
    docs = [json.loads(line) for line in result.out.splitlines()]
    assert docs[0] == {
        "topic": topic,
        "partition": 0,
        "offset": 0,
        "key": None,
        "value_base64": "/wBiaW5hcnk=",
    }
    assert docs[1] == {"topic": topic, "partition": 0, "offset": 1, "key": "k", "value": "caf\u00e9"}


def test_consume_timeout_stops_when_idle(
    cli: CLI, flymq_client: Any, unique_topic: Callable[..., str]
) -> None:
    topic = unique_topic("cli-idle")
    flymq_client.produce(topic, b"only one")
    result = cli("consume", topic, "--from-beginning", "--timeout-ms", "300")
    assert result.code == 0 and result.out == "only one\n"
    # Without --from-beginning (and no group) reading starts at the end: nothing old is printed.
    latest = cli("consume", topic, "--timeout-ms", "300")
    assert latest.code == 0 and latest.out == ""


def test_consume_with_group_commits_and_resumes(
    cli: CLI, flymq_client: Any, unique_topic: Callable[..., str]
) -> None:
    topic, group = unique_topic("cli-group"), unique_topic("g")
    flymq_client.create_topic(topic, partitions=1)
    for i in range(6):
        flymq_client.produce(topic, f"m{i}".encode())
    first = cli("consume", topic, "--group", group, "--from-beginning", "--max", "4")
    assert first.out.splitlines() == ["m0", "m1", "m2", "m3"]
    assert flymq_client.get_committed_offset(topic, group, 0) == 4
    second = cli("consume", topic, "--group", group, "--max", "2")
    assert second.out.splitlines() == ["m4", "m5"]


def test_consume_one_partition(cli: CLI, flymq_client: Any, unique_topic: Callable[..., str]) -> None:
    topic = unique_topic("cli-partition")
    flymq_client.create_topic(topic, partitions=2)
    metas = [flymq_client.produce(topic, f"x{i}".encode(), key=f"key-{i}") for i in range(8)]
    wanted = [f"x{i}" for i, m in enumerate(metas) if m.partition == 1]
    result = cli("consume", topic, "--partition", "1", "--from-beginning", "--timeout-ms", "300")
    assert result.out.splitlines() == wanted
    bad = cli("consume", topic, "--partition", "2", "--max", "1")
    assert bad.code == 1 and "has 2 partition(s); there is no partition 2" in bad.err and "hint: " in bad.err


def test_ctrl_c_exits_130_and_commits_only_what_was_printed(
    cli: CLI, flymq_client: Any, unique_topic: Callable[..., str], monkeypatch: Any
) -> None:
    topic, group = unique_topic("cli-interrupt"), unique_topic("g")
    flymq_client.create_topic(topic, partitions=1)
    for i in range(10):
        flymq_client.produce(topic, f"r{i}".encode())
    real_write = consume_cmd.write_message
    printed: list[int] = []

    def write_then_interrupt(message: Any, args: Any, out: Any) -> None:
        if len(printed) == 3:
            raise KeyboardInterrupt
        real_write(message, args, out)
        printed.append(message.offset)

    monkeypatch.setattr(consume_cmd, "write_message", write_then_interrupt)
    result = cli("consume", topic, "--group", group, "--from-beginning")
    assert result.code == 130
    assert result.out.splitlines() == ["r0", "r1", "r2"]
    assert "interrupted" in result.err and "Traceback" not in result.err
    assert flymq_client.get_committed_offset(topic, group, 0) == 3


def test_consume_usage_errors(cli: CLI) -> None:
    assert cli("consume").code == 2
    assert cli("consume", "t", "--max", "0").code == 2
    assert cli("consume", "t", "--format", "xml").code == 2
    assert cli("produce", "t", "v", "--count", "-1").code == 2


@pytest.mark.parametrize("separator", [""])
def test_empty_key_separator_is_refused(cli: CLI, separator: str) -> None:
    result = cli("produce", "t", "v", "--key-separator", separator)
    assert result.code == 1 and "must not be empty" in result.err
