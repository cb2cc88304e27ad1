"""``pyflymq plugins``: which plugins are loaded, from which distribution, and what they register.

``--check`` also imports every lazy factory, which is how to find out up front that an extra is
missing (exit code 1 when any factory cannot be loaded).  ``--json`` prints the same as a document.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from pyflymq_core.errors import FlyMQError

__all__ = ["register", "run"]

_HIDDEN_HOOKS = frozenset(
    {"pyflymq_register_transports", "pyflymq_register_codecs", "pyflymq_register_encryptors"}
)


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``plugins`` subcommand."""
    parser = subparsers.add_parser(
        "plugins",
        help="list installed plugins and what they register",
        description="List every loaded pyflymq plugin with its distribution and registrations. "
        "PYFLYMQ_PLUGINS selects which entry points load (unset: all; empty: built-ins only; "
        "'a,b': built-ins plus a and b).",
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")
    parser.add_argument(
        "--check", action="store_true", help="import every factory and report the ones that fail"
    )
    parser.set_defaults(handler=run)


def _collect(check: bool) -> tuple[list[dict[str, Any]], int]:
    """Plugin documents (``PluginInfo.as_dict()`` plus registration details) and the failure count."""
    from pyflymq_core.plugins import get_registry, list_plugins

    registry = get_registry()
    all_registrations = [
        entry
        for reg in (registry.transports, registry.async_transports, registry.codecs, registry.encryptors)
        for entry in reg.entries()
    ]
    failures = 0
    documents = []
    for info in list_plugins():
        doc = info.as_dict()
        details = []
        for entry in all_registrations:
            if entry.plugin != info.name:
                continue
            detail: dict[str, Any] = {
                "kind": entry.kind,
                "name": entry.name,
                "target": entry.target,
                "extra": entry.extra,
                "description": entry.description,
            }
            if check:
                try:
                    entry.load()
                except FlyMQError as exc:
                    failures += 1
                    detail["status"] = "error"
                    detail["error"] = str(exc)
                    detail["hint"] = exc.hint
                else:
                    detail["status"] = "ok"
            details.append(detail)
        doc["registrations"] = details
        documents.append(doc)
    return documents, failures


def _format_text(documents: list[dict[str, Any]], check: bool) -> str:
    lines: list[str] = []
    for doc in documents:
        origin = "built-in" if doc["builtin"] else "third-party"
        dist = doc["distribution"] or "no distribution"
        if doc["version"]:
            dist = f"{dist} {doc['version']}"
        lines.append(f"{doc['name']} ({origin}, {dist}) {doc['module']}")
        for detail in doc["registrations"]:
            extra = f"  [extra: {detail['extra']}]" if detail["extra"] else ""
            line = f"  {detail['kind']:<16} {detail['name']:<12} {detail['target']}{extra}"
            if check:
                line += "  ok" if detail["status"] == "ok" else f"  ERROR: {detail['error']}"
            lines.append(line)
        observed = [hook for hook in doc["hooks"] if hook not in _HIDDEN_HOOKS]
        if observed:
            lines.append(f"  {'hooks':<16} {', '.join(observed)}")
    if not documents:
        lines.append("no plugins loaded")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    """Print the plugin list; exit 1 when ``--check`` found a factory that cannot load."""
    documents, failures = _collect(args.check)
    if args.json:
        json.dump({"plugins": documents}, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        print(_format_text(documents, args.check))
    if failures:
        print(f"error: {failures} registered factories cannot be loaded (see above)", file=sys.stderr)
        return 1
    return 0
