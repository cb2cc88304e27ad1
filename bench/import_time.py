"""Measure how long ``import pyflymq`` takes in a fresh interpreter.

Runs N fresh subprocesses for a bare interpreter (``pass``) and for the import, and prints the
median wall time of each and their difference (what the import itself costs).  ``--importtime``
also prints the slowest modules from ``python -X importtime`` for one run.

Children run with bytecode caching enabled (``PYTHONDONTWRITEBYTECODE`` removed), as in a normal
pip install where ``.pyc`` files exist; ``--no-bytecode`` measures the compile-every-time case.

    .venv/bin/python bench/import_time.py                # 21 runs, import pyflymq
    .venv/bin/python bench/import_time.py -n 51 --module pyflymq.cli --importtime
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time


def _child_env(bytecode: bool) -> dict[str, str]:
    env = dict(os.environ)
    if bytecode:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
    else:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def _time_once(code: str, env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True, env=env)
    return time.perf_counter() - start


def _medians_ms(codes: list[str], runs: int, env: dict[str, str]) -> list[float]:
    """Median wall time of each snippet; runs are interleaved so machine load drifts affect all alike."""
    for code in codes:
        _time_once(code, env)  # warm the OS file cache and write __pycache__
    samples: list[list[float]] = [[] for _ in codes]
    for _ in range(runs):
        for index, code in enumerate(codes):
            samples[index].append(_time_once(code, env))
    return [statistics.median(times) * 1000 for times in samples]


def _slowest_imports(module: str, top: int, env: dict[str, str]) -> list[tuple[int, str]]:
    """``(cumulative µs, module)`` of the slowest imports below ``module``, from ``-X importtime``."""
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", f"import {module}"],
        capture_output=True,
        text=True,
        check=True,
        env=env,
    )
    rows = []
    for line in proc.stderr.splitlines():
        parts = line.removeprefix("import time:").split("|")
        if len(parts) != 3 or not parts[1].strip().isdigit():
            continue
        rows.append((int(parts[1]), parts[2].rstrip()))
    return sorted(rows, reverse=True)[:top]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "-n", "--runs", type=int, default=21, help="subprocesses per measurement (default 21)"
    )
    parser.add_argument("--module", default="pyflymq", help="module to import (default pyflymq)")
    parser.add_argument("--importtime", action="store_true", help="also show the slowest imports")
    parser.add_argument("--top", type=int, default=15, help="rows shown with --importtime")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--no-bytecode", action="store_true", help="compile every run (no .pyc cache)")
    args = parser.parse_args(argv)

    env = _child_env(bytecode=not args.no_bytecode)
    baseline, total = _medians_ms(["pass", f"import {args.module}"], args.runs, env)
    result = {
        "module": args.module,
        "runs": args.runs,
        "python": sys.version.split()[0],
        "interpreter_ms": round(baseline, 1),
        "total_ms": round(total, 1),
        "import_ms": round(total - baseline, 1),
        "bytecode_cache": not args.no_bytecode,
    }
    if args.json:
        print(json.dumps(result))
    else:
        print(
            f"import {args.module}: {result['total_ms']} ms total "
            f"(median of {args.runs} fresh interpreters), "
            f"bare interpreter {result['interpreter_ms']} ms, import itself {result['import_ms']} ms"
        )
    if args.importtime:
        print("slowest imports (cumulative µs, one run):")
        for micros, name in _slowest_imports(args.module, args.top, env):
            print(f"  {micros:>8}  {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
