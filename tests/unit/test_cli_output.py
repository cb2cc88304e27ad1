"""The CLI's output helpers: plain tables, JSON-safe values, progress display modes, registration."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest

import pyflymq.cli.output as output
from pyflymq.cli import build_parser, main
from pyflymq.cli.output import ProgressReporter, bytes_field, format_bytes, format_ms, render_table


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_every_data_command_is_registered(capsys: pytest.CaptureFixture[str]) -> None:
    parser = build_parser()
    assert main(["--help"]) == 0
    helptext = capsys.readouterr().out
    for name in ("topics", "produce", "consume", "groups", "schemas", "dlq", "bench"):
        assert name in helptext
    args = parser.parse_args(["groups", "lag", "g", "--topic", "t"])
    assert args.handler.__name__ == "run_lag"


def test_render_table_aligns_numbers_right() -> None:
    text = render_table(("name", "count"), [("a", 1), ("longer", 1234), ("c", None)])
    assert text.splitlines() == ["name    count", "a           1", "longer   1234", "c"]


def test_print_table_is_plain_on_a_pipe() -> None:
    out = io.StringIO()
    output.print_table(("k", "v"), [("x", 1)], title="T", out=out)
    assert out.getvalue() == "T\nk  v\nx  1\n"


def test_print_table_uses_rich_on_a_terminal() -> None:
    pytest.importorskip("rich")
    out = _Tty()
    output.print_table(("key", "value"), [("x", 1)], title="T", out=out)
    assert "\u2503" in out.getvalue() or "\u2502" in out.getvalue()  # rich box drawing


def test_bytes_field_and_message_to_dict() -> None:
    assert bytes_field("value", b"hi") == {"value": "hi"}
    assert bytes_field("value", b"\xff") == {"value_base64": "/w=="}
    assert bytes_field("key", None) == {"key": None}

    class Msg:
        topic, partition, offset, key, value = "t", 1, 2, None, b"\x00\xfe"

    doc = output.message_to_dict(Msg())
    assert json.loads(json.dumps(doc)) == {
        "topic": "t",
        "partition": 1,
        "offset": 2,
        "key": None,
        "value_base64": "AP4=",
    }


def test_number_formats() -> None:
    assert format_bytes(512) == "512 B"
    assert format_bytes(1536) == "1.5 KiB"
    assert format_bytes(3 * 1024**3) == "3.0 GiB"
    assert (format_ms(None), format_ms(1.23456), format_ms(123.456), format_ms(12345.6)) == (
        "-",
        "1.235",
        "123.5",
        "12346",
    )


def test_progress_is_off_on_a_pipe() -> None:
    stream = io.StringIO()
    with ProgressReporter("work", 3, stream=stream) as progress:
        progress.advance(3)
    assert progress.mode == "off" and stream.getvalue() == ""


def test_progress_plain_fallback_without_rich(monkeypatch: Any) -> None:
    monkeypatch.setattr(output, "rich_available", lambda: False)
    stream = _Tty()
    with ProgressReporter("sending", 5, stream=stream) as progress:
        for _ in range(5):
            progress.advance()
    assert progress.mode == "plain"
    assert stream.getvalue().endswith("\rsending: 5/5 msgs\n")
    forced = ProgressReporter("x", mode="rich")
    assert forced.mode == "plain"  # asked for rich, but it is "missing"


def test_progress_rich_bar_on_a_terminal() -> None:
    pytest.importorskip("rich")
    stream = _Tty()
    with ProgressReporter("sending", 4, stream=stream) as progress:
        progress.advance(4)
    assert progress.mode == "rich"
    assert "sending" in stream.getvalue() and "4/4" in stream.getvalue()


def test_progress_stops_on_keyboard_interrupt() -> None:
    pytest.importorskip("rich")
    stream = _Tty()
    with pytest.raises(KeyboardInterrupt), ProgressReporter("waiting", None, stream=stream) as progress:
        progress.advance(2)
        raise KeyboardInterrupt
    assert "2 msgs" in stream.getvalue()
