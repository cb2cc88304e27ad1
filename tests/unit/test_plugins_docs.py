"""docs/plugins.md and docs/observability.md show plugin code users copy: it must work as written.

The transport and codec examples of docs/plugins.md are written to a throwaway package exactly as
the page prints them (each block names its file in its first line), registered at run time, and
used: a client talks to the embedded broker through the Unix-domain-socket transport, and a value
goes through the CSV codec.  Every hook implementation in either page must name a real hook and
only take that hook's arguments (pluggy rejects anything else when the plugin is registered).
"""

from __future__ import annotations

import ast
import contextlib
import inspect
import re
import socket
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from pyflymq_core.plugins import get_plugin_manager, hookspecs, reset_plugins

DOCS = Path(__file__).resolve().parents[2] / "docs"
BLOCK = re.compile(r"```(\w+)\n(.*?)```", re.DOTALL)


def _blocks(page: str, language: str) -> list[str]:
    text = (DOCS / page).read_text(encoding="utf-8")
    return [body for lang, body in BLOCK.findall(text) if lang == language]


def _files(page: str) -> dict[str, str]:
    """Python blocks whose first line is ``# path/to/file.py``: path -> source."""
    out: dict[str, str] = {}
    for body in _blocks(page, "python"):
        first = body.splitlines()[0]
        if first.startswith("# ") and first.endswith(".py"):
            out[first[2:].strip()] = body
    return out


@pytest.fixture
def doc_plugins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The page's example packages importable from ``tmp_path``; plugin state reset around."""
    monkeypatch.setenv("PYFLYMQ_PLUGINS", "")
    for relative, source in _files("plugins.md").items():
        path = tmp_path / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        (path.parent / "__init__.py").touch()
        path.write_text(source, encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    reset_plugins()
    yield tmp_path
    reset_plugins()
    for name in [n for n in sys.modules if n.split(".")[0] in {"pyflymq_unix", "pyflymq_csv"}]:
        del sys.modules[name]


def test_the_page_has_the_examples() -> None:
    assert set(_files("plugins.md")) == {
        "pyflymq_unix/transport.py",
        "pyflymq_unix/plugin.py",
        "pyflymq_csv/codec.py",
        "pyflymq_csv/plugin.py",
    }


def _unix_proxy(path: str, target: tuple[str, int], stop: threading.Event) -> threading.Thread:
    """Relay every connection on the Unix socket ``path`` to the TCP server ``target``."""
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen()
    listener.settimeout(0.1)

    def pump(src: socket.socket, dst: socket.socket) -> None:
        try:
            with contextlib.suppress(OSError):  # a reset ends the relay like a close
                while data := src.recv(65536):
                    dst.sendall(data)
        finally:
            for sock in (src, dst):
                with contextlib.suppress(OSError):  # the other direction closed it already
                    sock.shutdown(socket.SHUT_RDWR)
            src.close()  # each socket is the source of exactly one pump

    def serve() -> None:
        with listener:
            while not stop.is_set():
                try:
                    client, _ = listener.accept()
                except TimeoutError:
                    continue
                upstream = socket.create_connection(target)
                for src, dst in ((client, upstream), (upstream, client)):
                    threading.Thread(target=pump, args=(src, dst), daemon=True).start()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return thread


@pytest.mark.skipif(not hasattr(socket, "AF_UNIX"), reason="needs Unix-domain sockets")
def test_unix_transport_example_reaches_the_broker(doc_plugins: Path) -> None:
    import pyflymq_unix.plugin  # type: ignore[import-not-found]

    from pyflymq import FlyMQClient
    from pyflymq_broker.server import BrokerServer

    get_plugin_manager().register(pyflymq_unix.plugin)
    path = str(doc_plugins / "flymq.sock")
    stop = threading.Event()
    with BrokerServer() as server:
        proxy = _unix_proxy(path, ("127.0.0.1", server.port), stop)
        try:
            with FlyMQClient(f"unix://{path}") as client:
                client.create_topic("via-unix", partitions=1)
                written = client.produce("via-unix", b"hello")
                assert client.consume("via-unix", written.offset).value == b"hello"
        finally:
            stop.set()
            proxy.join(5)


def test_csv_codec_example_round_trips(doc_plugins: Path) -> None:
    import pyflymq_csv.plugin  # type: ignore[import-not-found]

    from pyflymq import FlyMQClient
    from pyflymq_broker.memory_registry import drop_memory_broker
    from pyflymq_serde import resolve_codec

    get_plugin_manager().register(pyflymq_csv.plugin)
    assert resolve_codec("csv", delimiter=";").serialize(["a", "b"]) == b"a;b\r\n"
    name = "csv-doc-example"
    try:
        with FlyMQClient(f"memory://{name}") as client:
            client.create_topic("rows", partitions=1)
            for block in _blocks("plugins.md", "python"):
                if "produce_object" in block:
                    exec(compile(block, "docs/plugins.md", "exec"), {"client": client})
            assert client.consume_object("rows", 0, deserializer="csv") == ["a", "b", "c"]
    finally:
        drop_memory_broker(name)


@pytest.mark.parametrize("page", ["plugins.md", "observability.md"])
def test_python_blocks_compile(page: str) -> None:
    for body in _blocks(page, "python"):
        compile(body, f"docs/{page}", "exec")


def _hook_implementations(page: str) -> Iterator[tuple[str, list[str]]]:
    """(hook name, argument names without ``self``) of every ``@hookimpl`` function of the page."""
    for body in _blocks(page, "python"):
        for node in ast.walk(ast.parse(body)):
            if isinstance(node, ast.FunctionDef) and any(
                isinstance(d, ast.Name) and d.id == "hookimpl" for d in node.decorator_list
            ):
                yield node.name, [a.arg for a in node.args.args if a.arg != "self"]


@pytest.mark.parametrize("page", ["plugins.md", "observability.md"])
def test_hook_implementations_match_the_hookspecs(page: str) -> None:
    found = list(_hook_implementations(page))
    assert found, f"docs/{page} shows no hook implementation"
    for name, args in found:
        spec = getattr(hookspecs, name, None)
        assert spec is not None, f"docs/{page}: {name} is not a pyflymq hook"
        allowed = list(inspect.signature(spec).parameters)
        assert set(args) <= set(allowed), f"docs/{page}: {name}({args}) takes arguments not in {allowed}"
