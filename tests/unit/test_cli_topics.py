"""``pyflymq topics ...`` in-process against the server under test, plus the CLI's error conventions
(``error:``/``hint:`` on stderr, exit 1; usage errors exit 2; no traceback)."""

from __future__ import annotations

import json
import socket
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from pyflymq.cli import main


@dataclass
class Run:
    code: int
    out: str
    err: str


CLI = Callable[..., Run]


@pytest.fixture
def cli(
    flymq_bootstrap: str, flymq_options: Any, capsys: pytest.CaptureFixture[str], monkeypatch: Any
) -> CLI:
    """``cli("topics", "list")`` runs ``pyflymq --bootstrap <server under test> topics list``."""
    for var in ("FLYMQ_BOOTSTRAP", "FLYMQ_USERNAME", "FLYMQ_PASSWORD"):
        monkeypatch.delenv(var, raising=False)
    base = ["--bootstrap", flymq_bootstrap]
    if flymq_options.username:
        base += ["--username", flymq_options.username, "--password", flymq_options.password or ""]
    if flymq_options.tls_ca_file:
        base += ["--tls-ca-file", flymq_options.tls_ca_file]
    elif flymq_options.tls:
        base += ["--tls"]

    def run(*argv: str) -> Run:
        capsys.readouterr()
        code = main([*base, *argv])
        captured = capsys.readouterr()
        return Run(code, captured.out, captured.err)

    return run


def test_create_list_describe_delete(cli: CLI, unique_topic: Callable[..., str]) -> None:
    topic = unique_topic("cli-topic")
    created = cli("topics", "create", topic, "--partitions", "3")
    assert created.code == 0 and created.out == f"created topic {topic!r} with 3 partition(s)\n"
    again = cli("topics", "create", topic, "--partitions", "5")
    assert again.code == 0 and "already exists with 3 partition(s); left unchanged" in again.out

    listed = cli("topics", "list")
    assert listed.code == 0 and topic in listed.out.splitlines()
    assert topic in json.loads(cli("topics", "list", "--format", "json").out)

    described = cli("topics", "describe", topic)
    assert described.code == 0
    lines = described.out.splitlines()
    assert lines[0] == f"topic {topic}: 3 partition(s)"
    assert lines[1].split()[:2] == ["partition", "leader"]
    assert [line.split()[0] for line in lines[2:]] == ["0", "1", "2"]

    deleted = cli("topics", "delete", topic)
    assert deleted.code == 0 and deleted.out == f"deleted topic {topic!r}\n"
    assert topic not in cli("topics", "list").out.splitlines()


def test_describe_json_reports_end_offsets(
    cli: CLI, flymq_client: Any, unique_topic: Callable[..., str]
) -> None:
    topic = unique_topic("cli-describe")
    flymq_client.create_topic(topic, partitions=2)
    for i in range(3):
        flymq_client.produce(topic, f"v{i}".encode(), key="same-key")
    doc = json.loads(cli("topics", "describe", topic, "--format", "json").out)
    ends = {p["partition"]: p["end_offset"] for p in doc["partitions"]}
    keyed = flymq_client.produce(topic, b"probe", key="same-key").partition
    assert ends[keyed] == 3 and ends[1 - keyed] == 0  # an empty partition ends at 0, not the server's 1
    assert doc["topic"] == topic and {"leader_id", "state", "replicas"} <= set(doc["partitions"][0])


def test_missing_topic_prints_error_and_hint(cli: CLI, unique_topic: Callable[..., str]) -> None:
    missing = unique_topic("missing")
    for argv in (("topics", "describe", missing), ("topics", "delete", missing)):
        result = cli(*argv)
        assert result.code == 1, argv
        assert result.err.startswith(f"error: topic not found: {missing}\n"), result.err
        assert "hint: " in result.err and "Traceback" not in result.err


@pytest.mark.parametrize(
    "argv",
    [("topics",), ("topics", "create"), ("topics", "create", "t", "--partitions", "0"), ("topics", "nope")],
)
def test_usage_errors_exit_2(cli: CLI, argv: tuple[str, ...]) -> None:
    result = cli(*argv)
    assert result.code == 2
    assert "usage:" in result.err


def test_unreachable_server_is_an_error_with_a_hint(
    monkeypatch: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    address = f"127.0.0.1:{listener.getsockname()[1]}"
    listener.close()
    monkeypatch.delenv("FLYMQ_BOOTSTRAP", raising=False)
    code = main(["--bootstrap", address, "topics", "list"])
    err = capsys.readouterr().err
    assert code == 1
    assert err.startswith("error: could not connect to any FlyMQ server"), err
    assert f"hint: Check that the FlyMQ server is running and reachable at {address}" in err
    assert "Traceback" not in err


def test_env_bootstrap_is_used(
    flymq_bootstrap: str, flymq_options: Any, monkeypatch: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    if not flymq_options.embedded:
        pytest.skip("credentials/TLS for a real server are passed as options by the cli fixture")
    monkeypatch.setenv("FLYMQ_BOOTSTRAP", flymq_bootstrap)
    assert main(["topics", "list", "--format", "json"]) == 0
    assert isinstance(json.loads(capsys.readouterr().out), list)
