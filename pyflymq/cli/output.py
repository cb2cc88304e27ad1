"""Output helpers of the CLI: tables, JSON lines, message rendering, progress bars.

Machine-readable output is never decorated: tables printed to a pipe are plain aligned text and
``--format json`` prints JSON.  Decoration (colours, boxes, live progress bars) comes from ``rich``
when it is installed (``pip install 'pyflymq[cli]'``) and the stream is a terminal.  Without
``rich`` the tables are plain and progress is a counter line on a terminal's stderr; on a pipe there
is no progress output at all, so logs and captured output stay clean.

Progress always goes to stderr, results to stdout.
"""

from __future__ import annotations

import base64
import importlib.util
import json
import sys
import time
from collections.abc import Iterable, Sequence
from types import TracebackType
from typing import Any, Literal, TextIO

__all__ = [
    "FORMATS",
    "ProgressMode",
    "ProgressReporter",
    "bytes_field",
    "format_bytes",
    "format_ms",
    "message_to_dict",
    "print_json",
    "print_table",
    "render_table",
    "rich_available",
]

#: The values of every ``--format`` option.
FORMATS = ("text", "json")

#: ``auto``: rich bar (or plain counter without rich) on a terminal, nothing otherwise.
ProgressMode = Literal["auto", "rich", "plain", "off"]


def rich_available() -> bool:
    """Whether ``rich`` can be imported (checked without importing it)."""
    return importlib.util.find_spec("rich") is not None


def _is_terminal(stream: TextIO) -> bool:
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty()) if isatty is not None else False
    except ValueError:  # closed stream
        return False


# --------------------------------------------------------------------------- values


def bytes_field(name: str, value: bytes | None) -> dict[str, Any]:
    """``{name: text}`` when ``value`` is UTF-8, else ``{name + "_base64": ...}``; ``{name: None}``
    for ``None``.  JSON output must be valid whatever the payload bytes are."""
    if value is None:
        return {name: None}
    try:
        return {name: value.decode("utf-8")}
    except UnicodeDecodeError:
        return {f"{name}_base64": base64.b64encode(value).decode("ascii")}


def message_to_dict(message: Any) -> dict[str, Any]:
    """A consumed message as a JSON-ready dict (topic, partition, offset, key, value)."""
    doc: dict[str, Any] = {"topic": message.topic, "partition": message.partition, "offset": message.offset}
    doc.update(bytes_field("key", message.key))
    doc.update(bytes_field("value", message.value))
    return doc


def format_bytes(count: float) -> str:
    """``1536`` -> ``"1.5 KiB"``."""
    value = float(count)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(value) < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")  # pragma: no cover


def format_ms(value: float | None) -> str:
    """Milliseconds with a precision that suits their size; ``-`` for ``None``."""
    if value is None:
        return "-"
    if value < 10:
        return f"{value:.3f}"
    if value < 1000:
        return f"{value:.1f}"
    return f"{value:.0f}"


# --------------------------------------------------------------------------- printing


def print_json(document: Any, out: TextIO | None = None, *, lines: bool = False) -> None:
    """Print ``document`` as JSON: indented, or one line per document with ``lines=True``."""
    stream = out if out is not None else sys.stdout
    if lines:
        stream.write(json.dumps(document, separators=(",", ":"), ensure_ascii=False) + "\n")
    else:
        stream.write(json.dumps(document, indent=2, ensure_ascii=False) + "\n")
    stream.flush()


def render_table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """Plain aligned columns; numbers are right-aligned, text left-aligned."""
    cells = [[str(h) for h in headers]]
    numeric = [True] * len(headers)
    for row in rows:
        cells.append(["" if value is None else str(value) for value in row])
        for index, value in enumerate(row):
            is_number = isinstance(value, (int, float)) and not isinstance(value, bool)
            if not is_number and value is not None and str(value) != "-":
                numeric[index] = False
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = []
    for row_index, row in enumerate(cells):
        parts = []
        for i, text in enumerate(row):
            right = numeric[i] and row_index > 0
            parts.append(text.rjust(widths[i]) if right else text.ljust(widths[i]))
        lines.append("  ".join(parts).rstrip())
    return "\n".join(lines)


def print_table(
    headers: Sequence[str],
    rows: Iterable[Sequence[Any]],
    *,
    title: str | None = None,
    out: TextIO | None = None,
) -> None:
    """A table on ``out`` (stdout): rich on a terminal when available, plain text otherwise."""
    stream = out if out is not None else sys.stdout
    materialised = [list(row) for row in rows]
    if rich_available() and _is_terminal(stream):
        from rich.console import Console
        from rich.table import Table

        table = Table(title=title)
        for index, header in enumerate(headers):
            numeric = all(isinstance(r[index], (int, float)) for r in materialised if r[index] is not None)
            table.add_column(str(header), justify="right" if numeric and materialised else "left")
        for row in materialised:
            table.add_row(*("" if value is None else str(value) for value in row))
        Console(file=stream).print(table)
        return
    if title:
        stream.write(title + "\n")
    stream.write(render_table(headers, materialised) + "\n")
    stream.flush()


# --------------------------------------------------------------------------- progress


class ProgressReporter:
    """A progress display for a long-running command, used as a context manager::

        with ProgressReporter("producing", total=10_000) as progress:
            for ...:
                progress.advance()

    ``mode="auto"``: a rich progress bar on a terminal's stderr when rich is installed, a plain
    counter line (at most twice a second) when it is not, and nothing when stderr is not a terminal.
    ``total=None`` shows a count without a bar.  Leaving the block (also by Ctrl+C) stops the display.
    """

    PLAIN_INTERVAL_S = 0.5
    RICH_INTERVAL_S = 0.05

    def __init__(
        self,
        description: str,
        total: int | None = None,
        *,
        mode: ProgressMode = "auto",
        stream: TextIO | None = None,
        unit: str = "msgs",
    ) -> None:
        self.description = description
        self.total = total
        self.unit = unit
        self.completed = 0
        self._stream = stream if stream is not None else sys.stderr
        self._mode = self._resolve(mode)
        self._rich: Any = None
        self._task: Any = None
        self._last_update = 0.0
        self._started = 0.0

    def _resolve(self, mode: ProgressMode) -> ProgressMode:
        if mode != "auto":
            if mode == "rich" and not rich_available():
                return "plain"
            return mode
        if not _is_terminal(self._stream):
            return "off"
        return "rich" if rich_available() else "plain"

    @property
    def mode(self) -> ProgressMode:
        """The display actually used: ``rich``, ``plain`` or ``off``."""
        return self._mode

    def __enter__(self) -> ProgressReporter:
        self._started = time.monotonic()
        if self._mode == "rich":
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            console = Console(file=self._stream, force_terminal=True)
            columns: list[Any] = [TextColumn("[progress.description]{task.description}")]
            if self.total is not None:
                columns += [BarColumn(), MofNCompleteColumn(), TimeRemainingColumn()]
            else:
                columns += [TextColumn("{task.completed} " + self.unit)]
            columns.append(TimeElapsedColumn())
            self._rich = Progress(*columns, console=console, transient=False)
            self._rich.start()
            self._task = self._rich.add_task(self.description, total=self.total)
        return self

    def advance(self, count: int = 1) -> None:
        """Record ``count`` more units done."""
        self.completed += count
        if self._mode == "off":
            return
        now = time.monotonic()
        if self._mode == "rich":
            # The bar redraws ten times a second anyway; telling it more often only costs time.
            if now - self._last_update >= self.RICH_INTERVAL_S:
                self._last_update = now
                self._rich.update(self._task, completed=self.completed)
        elif now - self._last_update >= self.PLAIN_INTERVAL_S:
            self._last_update = now
            self._write_plain(final=False)

    def _write_plain(self, *, final: bool) -> None:
        of_total = f"/{self.total}" if self.total is not None else ""
        end = "\n" if final else ""
        self._stream.write(f"\r{self.description}: {self.completed}{of_total} {self.unit}{end}")
        self._stream.flush()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._mode == "rich" and self._rich is not None:
            self._rich.update(self._task, completed=self.completed)
            self._rich.stop()
        elif self._mode == "plain":
            self._write_plain(final=True)
