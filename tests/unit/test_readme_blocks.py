"""Every ```python block of README.md runs, against an embedded broker.

``localhost:9092`` is replaced by the address of a broker started for this module (fresh state, so
blocks that read a topic see only what they wrote).  A block that defines ``test_*`` functions has
them called with the pytest fixtures they name (``flymq_client``, ``unique_topic``, ...).  A block
preceded by ``<!-- skip-test: reason -->`` is skipped with that reason.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[2] / "README.md"
SKIP_MARK = re.compile(r"<!--\s*skip-test:\s*(?P<reason>.+?)\s*-->")


@dataclass(frozen=True)
class Block:
    line: int  # 1-based line of the first code line
    code: str
    skip_reason: str | None


def readme_blocks(text: str) -> list[Block]:
    """The ```python blocks of ``text`` with their skip markers."""
    blocks: list[Block] = []
    lines = text.splitlines()
    index = 0
    while index < len(lines):
        if lines[index].strip() == "```python":
            previous = next((lines[j] for j in range(index - 1, -1, -1) if lines[j].strip()), "")
            marker = SKIP_MARK.search(previous)
            start = index + 1
            end = start
            while end < len(lines) and lines[end].strip() != "```":
                end += 1
            if end == len(lines):
                raise AssertionError(f"README.md:{index + 1}: unterminated ```python block")
            blocks.append(Block(start + 1, "\n".join(lines[start:end]) + "\n", marker and marker["reason"]))
            index = end
        index += 1
    return blocks


BLOCKS = readme_blocks(README.read_text(encoding="utf-8"))


def test_the_readme_has_python_blocks() -> None:
    assert len(BLOCKS) >= 5
    assert sum(b.skip_reason is not None for b in BLOCKS) <= 2, "skip-test markers are for exceptions"


def test_block_parser() -> None:
    text = "intro\n<!-- skip-test: needs a cluster -->\n\n```python\nx = 1\n```\n```python\ny = 2\n```\n"
    assert readme_blocks(text) == [Block(5, "x = 1\n", "needs a cluster"), Block(8, "y = 2\n", None)]
    with pytest.raises(AssertionError):
        readme_blocks("```python\nnever closed\n")


@pytest.fixture(scope="module")
def readme_bootstrap() -> Iterator[str]:
    from pyflymq_broker.server import BrokerServer

    with BrokerServer() as server:
        yield server.address


@pytest.mark.timeout(60)
@pytest.mark.parametrize("block", BLOCKS, ids=[f"README.md:{b.line}" for b in BLOCKS])
def test_readme_block_runs(block: Block, readme_bootstrap: str, request: pytest.FixtureRequest) -> None:
    if block.skip_reason is not None:
        pytest.skip(block.skip_reason)
    code = block.code.replace("localhost:9092", readme_bootstrap)
    namespace: dict[str, object] = {"__name__": f"readme_block_{block.line}"}
    exec(compile(code, f"{README}:{block.line}", "exec"), namespace)
    for name, value in list(namespace.items()):
        if name.startswith("test_") and inspect.isfunction(value):
            fixtures = {
                param: request.getfixturevalue(param) for param in inspect.signature(value).parameters
            }
            value(**fixtures)
