"""Every logger of every package lives below ``pyflymq``.

Users silence or raise pyflymq's logging with one line, ``logging.getLogger("pyflymq")``; a module
that logs through ``getLogger(__name__)`` (``pyflymq_broker.broker``...) or through the root logger
escapes that switch.  This walks the source instead of importing it, so a module that is only
imported with an optional extra is checked too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("pyflymq", "pyflymq_core", "pyflymq_serde", "pyflymq_rx", "pyflymq_transports", "pyflymq_broker")

#: Calls that log through the root logger, outside the hierarchy.
ROOT_LOGGING_CALLS = {"debug", "info", "warning", "warn", "error", "exception", "critical", "log"}

#: (module path, enclosing function) of calls whose name is computed and checked at run time:
#: ``get_logger`` prefixes any component with ``pyflymq.`` before it calls ``getLogger``
#: (tests/unit/test_observability.py::test_logger_hierarchy covers it).
COMPUTED_NAME_ALLOWED = {("pyflymq_core/observability.py", "get_logger")}


def _modules() -> list[Path]:
    return sorted(path for package in PACKAGES for path in (ROOT / package).rglob("*.py"))


def _module_constants(tree: ast.Module) -> dict[str, str]:
    """Module-level ``NAME = "literal"`` assignments, so ``getLogger(ROOT_LOGGER)`` can be judged."""
    constants: dict[str, str] = {}
    for node in tree.body:
        target: ast.expr | None = None
        value: ast.expr | None = None
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target, value = node.targets[0], node.value
        elif isinstance(node, ast.AnnAssign):
            target, value = node.target, node.value
        if isinstance(target, ast.Name) and isinstance(value, ast.Constant) and isinstance(value.value, str):
            constants[target.id] = value.value
    return constants


def _static_name(node: ast.expr, constants: dict[str, str]) -> tuple[str, bool] | None:
    """``(known text, complete)`` of a logger name without running the code; ``None``: unknown.

    ``complete`` is false for an f-string whose tail is computed (``f"pyflymq.{area}"``): then only
    its known head can be judged.
    """
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value, True
    if isinstance(node, ast.Name) and node.id in constants:
        return constants[node.id], True
    if not isinstance(node, ast.JoinedStr):
        return None
    head = ""
    for part in node.values:
        if isinstance(part, ast.Constant) and isinstance(part.value, str):
            head += part.value
            continue
        known = None
        if isinstance(part, ast.FormattedValue) and part.conversion == -1 and part.format_spec is None:
            known = _static_name(part.value, constants)
        if known is None or not known[1]:
            head += known[0] if known else ""
            return (head, False) if head else None
        head += known[0]
    return head, True


def _in_hierarchy(name: str) -> bool:
    return name == "pyflymq" or name.startswith("pyflymq.")


def _called_name(call: ast.Call) -> tuple[str | None, str]:
    """(object, attribute) of ``obj.attr(...)``, or (None, name) of ``name(...)``."""
    func = call.func
    if isinstance(func, ast.Attribute):
        owner = func.value.id if isinstance(func.value, ast.Name) else None
        return owner, func.attr
    if isinstance(func, ast.Name):
        return None, func.id
    return None, ""


def _scan(path: Path, root: Path = ROOT) -> tuple[list[str], set[str]]:
    """(problems, logger names known statically) of one module."""
    relative = path.relative_to(root).as_posix()
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=relative)
    constants = _module_constants(tree)
    problems: list[str] = []
    names: set[str] = set()

    def visit(node: ast.AST, function: str | None) -> None:
        for child in ast.iter_child_nodes(node):
            scope = child.name if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)) else function
            if isinstance(child, ast.Call):
                check(child, function)
            visit(child, scope)

    def check(call: ast.Call, function: str | None) -> None:
        owner, name = _called_name(call)
        where = f"{relative}:{call.lineno}"
        if owner == "logging" and name in ROOT_LOGGING_CALLS:
            problems.append(f"{where}: logging.{name}() logs on the root logger, outside 'pyflymq'")
            return
        if name != "getLogger" or owner not in (None, "logging"):
            return
        if not call.args:
            problems.append(f"{where}: getLogger() without a name is the root logger, outside 'pyflymq'")
            return
        arg = call.args[0]
        if isinstance(arg, ast.Name) and arg.id == "__name__":
            problems.append(
                f"{where}: getLogger(__name__) names the logger after the module, outside 'pyflymq'"
            )
            return
        static = _static_name(arg, constants)
        if static is None:
            if (relative, function) not in COMPUTED_NAME_ALLOWED:
                problems.append(f"{where}: getLogger({ast.unparse(arg)}) has no literal 'pyflymq.' name")
            return
        text, complete = static
        if complete:
            names.add(text)
        if not (_in_hierarchy(text) if complete else text.startswith("pyflymq.")):
            suffix = "" if complete else "..."
            problems.append(f"{where}: logger {text!r}{suffix} is outside the 'pyflymq' hierarchy")

    visit(tree, None)
    return problems, names


def _all_logger_names() -> set[str]:
    return {name for path in _modules() for name in _scan(path)[1]}


def test_every_package_is_scanned() -> None:
    modules = _modules()
    assert {path.relative_to(ROOT).parts[0] for path in modules} == set(PACKAGES)


@pytest.mark.parametrize("path", _modules(), ids=lambda path: path.relative_to(ROOT).as_posix())
def test_loggers_are_below_pyflymq(path: Path) -> None:
    assert _scan(path)[0] == []


#: Loggers in use that ``pyflymq_core.observability.LOGGERS`` does not list yet (that module is
#: owned by another change): remove a name here once LOGGERS describes it.
NOT_YET_IN_LOGGERS: set[str] = set()


def test_every_logger_is_listed_and_documented() -> None:
    """LOGGERS and the table of docs/observability.md are what users read to pick a logger name."""
    from pyflymq_core.observability import LOGGERS

    used = _all_logger_names() - {"pyflymq"}
    assert used - set(LOGGERS) == NOT_YET_IN_LOGGERS
    assert not NOT_YET_IN_LOGGERS & set(LOGGERS), "LOGGERS lists it now: shrink NOT_YET_IN_LOGGERS"
    doc = (ROOT / "docs" / "observability.md").read_text(encoding="utf-8")
    missing = sorted(name for name in used | set(LOGGERS) if f"| `{name}` |" not in doc)
    assert missing == [], f"add these loggers to the table of docs/observability.md: {missing}"


@pytest.mark.parametrize(
    "source, expected",
    [
        ('logging.getLogger("pyflymq.client")', False),
        ('logging.getLogger("pyflymq")', False),
        ('ROOT = "pyflymq"\nlogging.getLogger(f"{ROOT}.request")', False),
        ('logging.getLogger(f"pyflymq.{area}")', False),
        ("logging.getLogger(__name__)", True),
        ('logging.getLogger("pyflymq_broker.broker")', True),
        ('logging.getLogger("pyflymqx")', True),
        ("logging.getLogger()", True),
        ("logging.getLogger(name)", True),
        ('logging.warning("to the root logger")', True),
        ('getLogger(f"{area}.x")', True),
    ],
)
def test_the_checker_itself(tmp_path: Path, source: str, expected: bool) -> None:
    """The scan would pass vacuously if it recognised no call; these pin what it flags."""
    module = tmp_path / "mod.py"
    module.write_text(source + "\n", encoding="utf-8")
    found = _scan(module, root=tmp_path)[0]
    assert bool(found) is expected, found
