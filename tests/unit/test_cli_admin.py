"""``pyflymq groups|schemas|dlq ...`` in-process against the server under test."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

import pytest

from tests.unit import test_cli_topics
from tests.unit.test_cli_topics import CLI

cli = test_cli_topics.cli  # the shared fixture

USER_SCHEMA = json.dumps(
    {
        "type": "object",
        "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
        "required": ["name"],
    }
)


def _group_with_commits(client: Any, topic: str, group: str) -> None:
    client.create_topic(topic, partitions=2)
    for i in range(5):
        client.produce(topic, f"a{i}".encode(), key="alpha")
    partition = client.produce(topic, b"probe", key="alpha").partition
    client.commit_offset(topic, group, partition, 2)
    client.commit_offset(topic, group, 1 - partition, 0)


def test_groups_list_describe_lag(cli: CLI, flymq_client: Any, unique_topic: Callable[..., str]) -> None:
    topic, group = unique_topic("cli-groups"), unique_topic("grp")
    _group_with_commits(flymq_client, topic, group)
    keyed = flymq_client.produce(topic, b"probe2", key="alpha").partition

    listed = cli("groups", "list", "--topic", topic)
    assert listed.code == 0
    assert [line.split()[:2] for line in listed.out.splitlines()[1:]] == [[topic, group]]
    docs = json.loads(cli("groups", "list", "--topic", topic, "--format", "json").out)
    assert [(d["topic"], d["group_id"]) for d in docs] == [(topic, group)]

    described = cli("groups", "describe", group)  # no --topic: every topic of the group
    assert described.code == 0 and described.out.startswith(f"group {group} on topic {topic}:")
    assert (
        json.loads(cli("groups", "describe", group, "--topic", topic, "--format", "json").out)[0]["topic"]
        == topic
    )

    lag = json.loads(cli("groups", "lag", group, "--topic", topic, "--format", "json").out)
    by_partition = {p["partition"]: p for p in lag["partitions"]}
    assert by_partition[keyed]["end_offset"] == 7 and by_partition[keyed]["lag"] == 5
    assert by_partition[1 - keyed]["end_offset"] == 0 and by_partition[1 - keyed]["lag"] == 0
    assert lag["total_lag"] == 5
    text = cli("groups", "lag", group, "--topic", topic)
    assert text.code == 0 and "total lag 5" in text.out


def test_groups_reset_and_delete(cli: CLI, flymq_client: Any, unique_topic: Callable[..., str]) -> None:
    topic, group = unique_topic("cli-reset"), unique_topic("grp")
    _group_with_commits(flymq_client, topic, group)
    keyed = flymq_client.produce(topic, b"probe2", key="alpha").partition

    latest = cli("groups", "reset", group, "--topic", topic, "--to-latest")
    assert latest.code == 0
    assert flymq_client.get_committed_offset(topic, group, keyed) == 7
    assert flymq_client.get_committed_offset(topic, group, 1 - keyed) == 0  # empty: not the server's 1
    cli("groups", "reset", group, "--topic", topic, "--to-offset", "3", "--partition", str(keyed))
    assert flymq_client.get_committed_offset(topic, group, keyed) == 3
    earliest = cli("groups", "reset", group, "--topic", topic, "--to-earliest")
    assert earliest.out.count("committed offset now 0") == 2

    assert cli("groups", "reset", group, "--topic", topic).code == 2  # a target is required
    deleted = cli("groups", "delete", group, "--topic", topic)
    assert deleted.code == 0
    missing = cli("groups", "describe", group)
    assert missing.code == 1 and missing.err.startswith(f"error: consumer group not found: {group}")


def test_schemas_round_trip(cli: CLI, unique_topic: Callable[..., str], tmp_path: Any) -> None:
    name = unique_topic("cli-schema")
    path = tmp_path / "user.json"
    path.write_text(USER_SCHEMA)
    registered = cli("schemas", "register", name, "--file", str(path))
    assert registered.code == 0 and registered.out == f"registered {name!r} version 1 (json)\n"
    assert cli("schemas", "register", name, USER_SCHEMA).out == f"registered {name!r} version 2 (json)\n"

    got = cli("schemas", "get", name, "--version", "1")
    assert got.out.splitlines()[0].startswith(f"# {name} version 1 (json")
    assert json.loads(got.out.splitlines()[1]) == json.loads(USER_SCHEMA)
    assert json.loads(cli("schemas", "get", name, "--format", "json").out)["version"] == 2

    listed = cli("schemas", "list", name)
    assert [line.split()[:2] for line in listed.out.splitlines()[1:]] == [[name, "1"], [name, "2"]]

    assert cli("schemas", "validate", name, '{"name": "Alice", "age": 30}').code == 0
    invalid = cli("schemas", "validate", name, '{"age": "thirty"}')
    assert invalid.code == 1 and invalid.err.startswith(f"error: the message does not match schema {name!r}")
    assert "hint: " in invalid.err

    assert cli("schemas", "delete", name, "--version", "1").code == 0
    assert [line.split()[1] for line in cli("schemas", "list", name).out.splitlines()[1:]] == ["2"]
    assert cli("schemas", "delete", name, "--version", "0").code == 2
    assert cli("schemas", "register", name).code == 1  # no definition given


def test_schema_not_found(cli: CLI, unique_topic: Callable[..., str]) -> None:
    result = cli("schemas", "get", unique_topic("nope"))
    assert result.code == 1 and result.err.startswith("error: ") and "hint: " in result.err


def _dead_letter(record_id: str, topic: str, payload: bytes) -> bytes:
    return json.dumps(
        {
            "id": record_id,
            "original_topic": topic,
            "original_offset": 0,
            "payload": base64.b64encode(payload).decode(),
            "reason": "processing_error",
            "error_message": "handler raised",
            "retry_count": 2,
            "first_failed_at": "2026-01-01T00:00:00Z",
            "last_failed_at": "2026-01-01T00:00:05Z",
        }
    ).encode()


def test_dlq_fetch_replay_purge(
    cli: CLI, flymq_client: Any, flymq_options: Any, unique_topic: Callable[..., str]
) -> None:
    topic = unique_topic("cli-dlq")
    flymq_client.produce(f"{topic}.dlq", _dead_letter("dl-1", topic, b"payload one"))
    flymq_client.produce(f"{topic}.dlq", _dead_letter("dl-2", topic, b"\xffbinary"))
    fetched = cli("dlq", "fetch", topic, "--format", "json")
    docs = json.loads(fetched.out)
    if not docs and not flymq_options.embedded:
        pytest.skip("the server under test has its DLQ feature off")
    assert [(d["id"], d["retries"], d["error"]) for d in docs] == [
        ("dl-1", 2, "handler raised"),
        ("dl-2", 2, "handler raised"),
    ]
    assert (
        docs[0]["data"] == "payload one"
        and docs[1]["data_base64"] == base64.b64encode(b"\xffbinary").decode()
    )
    text = cli("dlq", "fetch", topic)
    assert text.out.splitlines()[0] == f"dead letters of {topic}" and "payload one" in text.out

    assert cli("dlq", "replay", topic, "dl-1").out == "replayed dl-1\n"
    assert flymq_client.consume(topic, 0).value == b"payload one"
    assert cli("dlq", "replay", topic).code == 1  # ids or --all
    assert cli("dlq", "replay", topic, "--all").out.splitlines() == ["replayed dl-1", "replayed dl-2"]
    assert [m.value for m in flymq_client.fetch(topic, 0, 0, 10)] == [
        b"payload one",
        b"payload one",
        b"\xffbinary",
    ]

    assert cli("dlq", "purge", topic).code == 0
    assert "no dead-letter records" in cli("dlq", "fetch", topic).out


def test_cli_errors_give_shell_advice_not_python_advice(
    cli: CLI, unique_topic: Callable[..., str], tmp_path: Any
) -> None:
    topic = unique_topic("cli-hints")
    assert cli("topics", "create", topic).code == 0
    unknown = cli("produce", topic, "x", "--schema", unique_topic("nope"))
    assert (
        unknown.code == 1
        and "pyflymq schemas register" in unknown.err
        and "validate=False" not in unknown.err
    )
    replay = cli("dlq", "replay", topic, "some-id")
    assert (
        replay.code == 1 and f"pyflymq dlq fetch {topic}" in replay.err and "create_topic" not in replay.err
    )
    missing = cli("schemas", "register", unique_topic("s"), "--file", str(tmp_path / "missing.json"))
    assert missing.code == 1 and "hint: Check the path given to --file." in missing.err
