"""``pyflymq demo``: runs the quick-start flows against its own embedded broker, or --bootstrap."""

from __future__ import annotations

from typing import Any

import pytest

from pyflymq.cli import main


def test_demo_with_its_own_embedded_broker(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("FLYMQ_BOOTSTRAP", raising=False)
    assert main(["demo"]) == 0
    out = capsys.readouterr().out
    assert "Started the embedded FlyMQ broker on 127.0.0.1:" in out
    for expected in (
        "created topic 'demo-orders' with 3 partitions",
        "produced order 2 key=user-123 -> partition 2 @ offset 1",
        "committed next offset 3; lag 2 (latest 5)",
        "resumes at offset 3",
        "with 2 records",
        "registered 'demo-user-schema' version 1 (json)",
        "missing required field: name",
        "replayed demo-dlq-1",
        "All flows completed.",
    ):
        assert expected in out


def test_demo_against_the_server_under_test(
    flymq_bootstrap: str, flymq_options: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["demo", "--bootstrap", flymq_bootstrap]
    username = getattr(flymq_options, "username", None)
    password = getattr(flymq_options, "password", None)
    if username is not None and password is not None:
        argv += ["--username", username, "--password", password]
    if getattr(flymq_options, "tls_ca_file", None):
        argv += ["--tls-ca-file", str(flymq_options.tls_ca_file)]
    elif getattr(flymq_options, "tls", False) and not flymq_options.embedded:
        argv += ["--tls"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert f"Using the FlyMQ server at {flymq_bootstrap}" in out
    assert "deleted the demo topics" in out and "All flows completed." in out


def test_demo_reports_an_unreachable_server(capsys: pytest.CaptureFixture[str]) -> None:
    import socket

    listener = socket.create_server(("127.0.0.1", 0))
    address = f"127.0.0.1:{listener.getsockname()[1]}"
    listener.close()
    assert main(["demo", "--bootstrap", address]) == 1
    err = capsys.readouterr().err
    assert "error: could not connect to any FlyMQ server" in err and "hint:" in err
