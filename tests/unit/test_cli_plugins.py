"""The CLI skeleton (global options, error handling, exit codes) and ``pyflymq plugins``."""

from __future__ import annotations

import argparse
import importlib.abc
import importlib.machinery
import json
import subprocess
import sys
import types
from collections.abc import Iterator, Sequence
from typing import Any

import pytest

import pyflymq.cli.plugins as plugins_cmd
from pyflymq.cli import build_parser, main
from pyflymq.cli.commands import SUBCOMMAND_MODULES
from pyflymq.cli.options import client_options
from pyflymq_core.errors import TopicNotFoundError
from pyflymq_core.plugins import get_plugin_manager, hookimpl, reset_plugins


@pytest.fixture(autouse=True)
def builtins_only(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("PYFLYMQ_PLUGINS", "")
    for var in ("FLYMQ_BOOTSTRAP", "FLYMQ_USERNAME", "FLYMQ_PASSWORD"):
        monkeypatch.delenv(var, raising=False)
    reset_plugins()
    yield
    reset_plugins()


def test_every_listed_subcommand_module_registers() -> None:
    parser = build_parser()
    subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    assert "plugins" in subparsers.choices
    assert len(subparsers.choices) >= len(SUBCOMMAND_MODULES)


def test_plugins_text_lists_builtins_with_distribution(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plugins"]) == 0
    out = capsys.readouterr().out
    assert "transports (built-in, pyflymq " in out
    assert "serde (built-in, pyflymq " in out
    assert "pyflymq_transports.tcp:TcpTransport" in out
    assert "json" in out and "[extra: json]" in out
    assert "aes-256-gcm" in out and "[extra: crypto]" in out


def test_plugins_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plugins", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    plugins = {p["name"]: p for p in doc["plugins"]}
    assert list(plugins) == ["transports", "serde"]
    assert all(p["builtin"] and p["distribution"] == "pyflymq" for p in plugins.values())
    transports = {(r["kind"], r["name"]): r["target"] for r in plugins["transports"]["registrations"]}
    assert transports[("transport", "flymqs")] == "pyflymq_transports.tls:TlsTransport"
    assert transports[("async transport", "memory")] == "pyflymq_transports.memory:AsyncMemoryTransport"
    codecs = {r["name"]: r["extra"] for r in plugins["serde"]["registrations"] if r["kind"] == "codec"}
    assert codecs == {"avro": "avro", "bytes": None, "json": "json", "protobuf": "protobuf", "string": None}
    assert "status" not in plugins["serde"]["registrations"][0]  # only with --check


class _CheckMe:
    @hookimpl
    def pyflymq_register_codecs(self, register: Any) -> None:
        register("good", str, description="always loads")
        register("needs-extra", "pyflymq_cli_test_missing.codec:Codec", extra="fancy")

    @hookimpl
    def pyflymq_client_connected(self, client: Any, server: str) -> None:
        pass


class _MissingDependencyFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Makes ``pyflymq_cli_test_missing.codec`` a module that imports a package that is not installed."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: types.ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname in ("pyflymq_cli_test_missing", "pyflymq_cli_test_missing.codec"):
            return importlib.machinery.ModuleSpec(fullname, self, is_package="." not in fullname)
        return None

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType | None:
        return None

    def exec_module(self, module: types.ModuleType) -> None:
        if module.__name__.endswith(".codec"):
            exec("import fancy_dependency_that_is_not_installed", vars(module))


def test_plugins_check_reports_missing_extras(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "meta_path", [_MissingDependencyFinder(), *sys.meta_path])
    for name in ("pyflymq_cli_test_missing", "pyflymq_cli_test_missing.codec"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    get_plugin_manager().register(_CheckMe(), name="check-me")
    assert main(["plugins", "--check", "--json"]) == 1
    captured = capsys.readouterr()
    doc = {p["name"]: p for p in json.loads(captured.out)["plugins"]}
    regs = {r["name"]: r for r in doc["check-me"]["registrations"]}
    assert regs["good"]["status"] == "ok"
    assert regs["needs-extra"]["status"] == "error"
    assert "fancy_dependency_that_is_not_installed" in regs["needs-extra"]["error"]
    assert regs["needs-extra"]["hint"] == "Install it with: pip install 'pyflymq[fancy]'"
    assert doc["check-me"]["builtin"] is False
    assert "pyflymq_client_connected" in doc["check-me"]["hooks"]
    assert "cannot be loaded" in captured.err

    assert main(["plugins", "--check"]) == 1
    text = capsys.readouterr().out
    assert "check-me (third-party, no distribution)" in text
    assert "good" in text and "  ok" in text
    assert "ERROR: codec 'needs-extra'" in text
    assert "hooks            pyflymq_client_connected" in text


def test_flymq_error_prints_message_and_hint_without_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PYFLYMQ_PLUGINS", "no-such-plugin")
    reset_plugins()
    assert main(["plugins"]) == 1
    err = capsys.readouterr().err
    lines = err.splitlines()
    assert lines[0].startswith("error: PYFLYMQ_PLUGINS names the plugin 'no-such-plugin'")
    assert lines[1] == "hint: Fix PYFLYMQ_PLUGINS or install the plugin's distribution."
    assert "Traceback" not in err


def _raiser(exc: BaseException) -> Any:
    def handler(args: argparse.Namespace) -> int:
        raise exc

    return handler


def test_handler_errors_map_to_exit_codes(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(plugins_cmd, "run", _raiser(TopicNotFoundError("topic 'x' not found", topic="x")))
    assert main(["plugins"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: topic 'x' not found\nhint: Create the topic first")

    monkeypatch.setattr(plugins_cmd, "run", _raiser(KeyboardInterrupt()))
    assert main(["plugins"]) == 130

    monkeypatch.setattr(plugins_cmd, "run", _raiser(RuntimeError("a bug")))
    with pytest.raises(RuntimeError, match="a bug"):  # bugs keep their traceback
        main(["plugins"])


def test_usage_errors_and_help_return_codes(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert "usage: pyflymq" in capsys.readouterr().err
    assert main(["plugins", "--no-such-option"]) == 2
    assert main(["no-such-command"]) == 2
    assert main(["--help"]) == 0
    assert "plugins" in capsys.readouterr().out
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.startswith("pyflymq 0.")


def test_global_options_before_or_after_the_subcommand(monkeypatch: pytest.MonkeyPatch) -> None:
    parser = build_parser()
    args = parser.parse_args(["--bootstrap", "a:1", "-v", "plugins"])
    assert (args.bootstrap, args.verbose) == ("a:1", 1)
    args = parser.parse_args(["--bootstrap", "a:1", "plugins", "--username", "u"])
    assert (args.bootstrap, args.username) == ("a:1", "u")  # not reset by the subparser
    args = parser.parse_args(["plugins", "--bootstrap", "b:2", "--tls-ca-file", "ca.pem"])
    assert client_options(args) == {
        "bootstrap_servers": "b:2",
        "tls_enabled": True,
        "tls_ca_file": "ca.pem",
        "tls_cert_file": None,
        "tls_key_file": None,
        "tls_insecure_skip_verify": False,
    }


def test_connection_defaults_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert client_options(build_parser().parse_args(["plugins"])) == {
        "bootstrap_servers": "localhost:9092",
        "tls_enabled": False,
    }
    monkeypatch.setenv("FLYMQ_BOOTSTRAP", "n1:9092,n2:9092")
    monkeypatch.setenv("FLYMQ_USERNAME", "alice")
    monkeypatch.setenv("FLYMQ_PASSWORD", "s3cret")
    assert client_options(build_parser().parse_args(["plugins", "--tls"])) == {
        "bootstrap_servers": "n1:9092,n2:9092",
        "username": "alice",
        "password": "s3cret",
        "tls_enabled": True,
        "tls_ca_file": None,
        "tls_cert_file": None,
        "tls_key_file": None,
        "tls_insecure_skip_verify": False,
    }
    assert "s3cret" not in build_parser().format_help()  # secrets are not echoed in --help


def test_python_dash_m_pyflymq() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "pyflymq", "plugins", "--json"], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    assert {p["name"] for p in json.loads(proc.stdout)["plugins"]} >= {"transports", "serde"}
    bad = subprocess.run(
        [sys.executable, "-m", "pyflymq", "nope"], capture_output=True, text=True, timeout=60
    )
    assert bad.returncode == 2 and "invalid choice" in bad.stderr
