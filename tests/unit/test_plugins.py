"""The plugin system: registries, lazy factories, missing extras, env switch, lifecycle hooks, and a
real third-party distribution discovered through its entry point."""

from __future__ import annotations

import importlib
import json
import logging
import os
import subprocess
import sys
import textwrap
import types
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pyflymq_core.errors import ConfigurationError, MissingExtraError
from pyflymq_core.plugins import (
    get_lifecycle,
    get_plugin_manager,
    get_registry,
    hookimpl,
    list_plugins,
    reset_plugins,
    split_scheme,
)
from pyflymq_core.plugins.registry import PluginRegistry, Registry

BUILTIN_TRANSPORTS = {
    "flymq": "pyflymq_transports.tcp:TcpTransport",
    "flymqs": "pyflymq_transports.tls:TlsTransport",
    "memory": "pyflymq_transports.memory:MemoryTransport",
}
BUILTIN_ASYNC_TRANSPORTS = {
    "flymq": "pyflymq_transports.aio:AsyncTcpTransport",
    "flymqs": "pyflymq_transports.aio:AsyncTlsTransport",
    "memory": "pyflymq_transports.memory:AsyncMemoryTransport",
}
BUILTIN_CODEC_EXTRAS = {"bytes": None, "string": None, "json": "json", "avro": "avro", "protobuf": "protobuf"}


@pytest.fixture
def plugins(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Fresh plugin state with built-ins only; forgotten again afterwards."""
    monkeypatch.setenv("PYFLYMQ_PLUGINS", "")
    reset_plugins()
    yield
    reset_plugins()


@pytest.fixture
def module_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A directory on sys.path for throwaway modules, unloaded again afterwards."""
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path
    for name, module in list(sys.modules.items()):
        if str(getattr(module, "__file__", None) or "").startswith(str(tmp_path)):
            del sys.modules[name]


def _unique(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


def _write_module(directory: Path, name: str, source: str) -> None:
    (directory / f"{name}.py").write_text(textwrap.dedent(source))
    importlib.invalidate_caches()


# --------------------------------------------------------------------------- Registry


def test_registry_add_get_is_case_insensitive_and_sorted() -> None:
    reg: Registry[Any] = Registry("codec")

    def factory() -> str:
        return "made"

    reg.add("Zeta", factory, plugin="p")
    reg.add("alpha", factory, plugin="p")
    assert reg.names() == ["alpha", "zeta"]
    assert "ZETA" in reg and "beta" not in reg
    assert reg.get("zeta") is factory
    assert reg.create("ALPHA") == "made"
    assert len(reg) == 2 and list(reg) == ["alpha", "zeta"]


def test_registry_unknown_name_lists_available() -> None:
    reg: Registry[Any] = Registry("codec")
    reg.add("json", dict, plugin="p")
    reg.add("avro", dict, plugin="p")
    with pytest.raises(ConfigurationError) as info:
        reg.get("yaml")
    assert "unknown codec 'yaml'" in str(info.value)
    assert "available: avro, json" in str(info.value)
    assert info.value.hint is not None and "pyflymq plugins" in info.value.hint


def test_registry_duplicate_needs_replace() -> None:
    reg: Registry[Any] = Registry("transport")
    reg.add("flymq", dict, plugin="first")
    with pytest.raises(ConfigurationError, match="registered by both plugin 'first' and plugin 'second'"):
        reg.add("FLYMQ", list, plugin="second")
    reg.add("flymq", list, plugin="second", replace=True)
    assert reg.get("flymq") is list
    assert reg.entry("flymq").plugin == "second"


@pytest.mark.parametrize(
    ("name", "factory", "message"),
    [
        ("", dict, "invalid name"),
        ("has space", dict, "invalid name"),
        ("-leading", dict, "invalid name"),
        ("ok", "no_colon_here", "not a 'module:attr' path"),
        ("ok", "pkg.mod:", "not a 'module:attr' path"),
        ("ok", 42, "non-callable factory"),
    ],
)
def test_registry_rejects_bad_registrations(name: str, factory: Any, message: str) -> None:
    reg: Registry[Any] = Registry("codec")
    with pytest.raises(ConfigurationError, match=message) as info:
        reg.add(name, factory, plugin="bad-plugin")
    assert "bad-plugin" in str(info.value)


def test_registry_rejects_bad_extra() -> None:
    with pytest.raises(ConfigurationError, match="invalid extra"):
        Registry[Any]("codec").add("x", dict, plugin="p", extra="json] && rm -rf /")


def test_lazy_factory_is_imported_only_on_first_use(module_dir: Path) -> None:
    mod = _unique("lazy_codec")
    _write_module(module_dir, mod, "class Codec:\n    pass\n")
    reg: Registry[Any] = Registry("codec")
    entry = reg.add("lazy", f"{mod}:Codec", plugin="p")
    assert entry.lazy and entry.target == f"{mod}:Codec"
    assert mod not in sys.modules
    factory = reg.get("lazy")
    assert mod in sys.modules
    assert factory is sys.modules[mod].Codec
    assert not entry.lazy
    assert reg.get("lazy") is factory  # cached


def test_lazy_factory_dotted_attribute(module_dir: Path) -> None:
    mod = _unique("lazy_nested")
    _write_module(module_dir, mod, "class Outer:\n    @staticmethod\n    def make():\n        return 7\n")
    reg: Registry[Any] = Registry("codec")
    reg.add("nested", f"{mod}:Outer.make", plugin="p")
    assert reg.create("nested") == 7


def test_missing_optional_dependency_names_the_extra(module_dir: Path) -> None:
    mod = _unique("needs_extra")
    dep = _unique("not_installed_dep")
    _write_module(module_dir, mod, f"import {dep}\nclass Codec:\n    pass\n")
    reg: Registry[Any] = Registry("codec")
    reg.add("avro", f"{mod}:Codec", plugin="serde", extra="avro")
    with pytest.raises(MissingExtraError) as info:
        reg.get("avro")
    err = info.value
    assert err.extra == "avro"
    assert dep in str(err) and "codec 'avro'" in str(err)
    assert err.hint is not None and "pip install 'pyflymq[avro]'" in err.hint
    assert isinstance(err, ImportError)  # callers catching ImportError keep working
    assert isinstance(err.__cause__, ModuleNotFoundError)


def test_missing_extra_of_third_party_plugin_names_its_distribution(module_dir: Path) -> None:
    mod = _unique("needs_extra_tp")
    dep = _unique("not_installed_dep")
    _write_module(module_dir, mod, f"import {dep}\nclass T:\n    pass\n")
    reg: Registry[Any] = Registry("transport")
    reg.add("toy", f"{mod}:T", plugin="toy", distribution="pyflymq-toy", extra="fast")
    with pytest.raises(MissingExtraError) as info:
        reg.get("toy")
    assert info.value.hint is not None and "pip install 'pyflymq-toy[fast]'" in info.value.hint


def test_missing_dependency_without_extra_is_a_configuration_error(module_dir: Path) -> None:
    mod = _unique("needs_dep")
    dep = _unique("not_installed_dep")
    _write_module(module_dir, mod, f"import {dep}\nclass C:\n    pass\n")
    reg: Registry[Any] = Registry("codec")
    reg.add("c", f"{mod}:C", plugin="p")
    with pytest.raises(ConfigurationError) as info:
        reg.get("c")
    assert not isinstance(info.value, MissingExtraError)
    assert dep in str(info.value)


def test_factory_module_itself_missing_is_not_blamed_on_an_extra() -> None:
    reg: Registry[Any] = Registry("codec")
    mod = _unique("no_such_module")
    reg.add("ghost", f"{mod}.sub:Ghost", plugin="p", extra="json")
    with pytest.raises(ConfigurationError, match="does not exist") as info:
        reg.get("ghost")
    assert not isinstance(info.value, MissingExtraError)


def test_factory_attribute_missing_or_not_callable(module_dir: Path) -> None:
    mod = _unique("attrs")
    _write_module(module_dir, mod, "VALUE = 3\n")
    reg: Registry[Any] = Registry("codec")
    reg.add("missing", f"{mod}:Nope", plugin="p")
    reg.add("value", f"{mod}:VALUE", plugin="p")
    with pytest.raises(ConfigurationError, match="has no attribute 'Nope'"):
        reg.get("missing")
    with pytest.raises(ConfigurationError, match="not callable"):
        reg.get("value")


def test_split_scheme_and_transport_for_url() -> None:
    assert split_scheme("localhost:9092") == ("flymq", "localhost:9092")
    assert split_scheme("FLYMQS://h:1,h:2") == ("flymqs", "h:1,h:2")
    assert split_scheme("memory://") == ("memory", "")
    registry = PluginRegistry()
    registry.transports.add("flymq", dict, plugin="p")
    registry.async_transports.add("flymq", list, plugin="p")
    assert registry.transport_for_url("localhost:9092") is dict
    assert registry.transport_for_url("flymq://x:1", asynchronous=True) is list
    with pytest.raises(ConfigurationError, match="unknown transport 'nope'"):
        registry.transport_for_url("nope://x")


# --------------------------------------------------------------------------- manager


@pytest.mark.usefixtures("plugins")
def test_builtins_register_lazy_factories() -> None:
    registry = get_registry()
    assert {e.name: e.target for e in registry.transports.entries()} == BUILTIN_TRANSPORTS
    assert {e.name: e.target for e in registry.async_transports.entries()} == BUILTIN_ASYNC_TRANSPORTS
    assert {e.name: e.extra for e in registry.codecs.entries()} == BUILTIN_CODEC_EXTRAS
    for entry in registry.codecs.entries():
        assert entry.target == f"pyflymq_serde.codecs.{entry.name}:{entry.target.rsplit(':', 1)[1]}"
        assert entry.lazy and entry.plugin == "serde"
    encryptor = registry.encryptors.entry("aes-256-gcm")
    assert (encryptor.target, encryptor.extra) == ("pyflymq_serde.crypto:AesGcmEncryptor", "crypto")
    assert get_registry() is registry  # built once


@pytest.mark.usefixtures("plugins")
def test_manager_is_built_lazily_and_cached() -> None:
    import pyflymq_core.plugins.manager as manager

    assert manager._pm is None
    pm = get_plugin_manager()
    assert get_plugin_manager() is pm
    reset_plugins()
    assert get_plugin_manager() is not pm


@pytest.mark.usefixtures("plugins")
def test_list_plugins_describes_builtins() -> None:
    infos = {info.name: info for info in list_plugins()}
    assert list(infos) == ["transports", "serde"]
    serde = infos["serde"]
    assert serde.builtin and serde.module == "pyflymq_serde.plugin"
    assert serde.distribution == "pyflymq"
    assert serde.registered == {
        "codec": ["avro", "bytes", "json", "protobuf", "string"],
        "encryptor": ["aes-256-gcm"],
    }
    assert infos["transports"].registered == {
        "transport": ["flymq", "flymqs", "memory"],
        "async transport": ["flymq", "flymqs", "memory"],
    }
    assert "pyflymq_register_codecs" in serde.hooks
    assert json.loads(json.dumps(serde.as_dict()))["registered"]["encryptor"] == ["aes-256-gcm"]


def test_env_unset_loads_builtins_through_entry_points(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PYFLYMQ_PLUGINS", raising=False)
    reset_plugins()
    try:
        pm = get_plugin_manager()
        via_entry_points = {pm.get_name(plugin) for plugin, _ in pm.list_plugin_distinfo()}
        assert {"transports", "serde"} <= via_entry_points
        assert "json" in get_registry().codecs
    finally:
        reset_plugins()


def test_env_empty_loads_builtins_directly(plugins: None) -> None:
    pm = get_plugin_manager()
    assert pm.list_plugin_distinfo() == []
    assert {name for name, _ in pm.list_name_plugin()} == {"transports", "serde"}


def test_plugin_that_fails_to_import_is_named(module_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A broken third-party plugin (here: a hand-made installed distribution) fails loudly, by name."""
    mod = _unique("broken_plugin")
    _write_module(module_dir, mod, "raise RuntimeError('plugin import exploded')\n")
    dist_info = module_dir / "pyflymq_broken-0.1.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text("Metadata-Version: 2.1\nName: pyflymq-broken\nVersion: 0.1\n")
    (dist_info / "entry_points.txt").write_text(f"[pyflymq]\nbroken = {mod}\n")
    monkeypatch.delenv("PYFLYMQ_PLUGINS", raising=False)
    reset_plugins()
    try:
        with pytest.raises(ConfigurationError) as info:
            get_registry()
        message = str(info.value)
        assert f"'broken' ({mod}, from pyflymq-broken) failed to load" in message
        assert "RuntimeError: plugin import exploded" in message
        assert info.value.hint is not None and "PYFLYMQ_PLUGINS" in info.value.hint
        monkeypatch.setenv("PYFLYMQ_PLUGINS", "")  # the documented way out
        reset_plugins()
        assert "json" in get_registry().codecs
    finally:
        reset_plugins()


def test_env_list_with_unknown_name_fails_clearly(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYFLYMQ_PLUGINS", "serde, definitely-not-installed")
    reset_plugins()
    try:
        with pytest.raises(ConfigurationError) as info:
            get_registry()
        assert "'definitely-not-installed'" in str(info.value)
        assert "installed: " in str(info.value) and "serde" in str(info.value)
    finally:
        reset_plugins()


def test_env_list_naming_builtins_is_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYFLYMQ_PLUGINS", "serde,transports,")
    reset_plugins()
    try:
        assert get_registry().transports.names() == ["flymq", "flymqs", "memory"]
    finally:
        reset_plugins()


def test_builtin_plugin_names_cannot_be_taken_by_others() -> None:
    from pyflymq_core.plugins import manager

    pm = manager._PluginManager()
    impostor = types.ModuleType("impostor_plugin")
    pm.register(impostor, name="serde")
    with pytest.raises(ConfigurationError, match=r"'serde' is reserved .* but impostor_plugin"):
        manager._register_builtins(pm)


class _Recorder:
    """A plugin object observing clients."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []

    @hookimpl
    def pyflymq_client_connected(self, client: Any, server: str) -> None:
        self.calls.append(("connected", {"client": client, "server": server}))

    @hookimpl
    def pyflymq_client_closed(self, client: Any) -> None:
        self.calls.append(("closed", {"client": client}))

    @hookimpl
    def pyflymq_before_request(self, client: Any, op: int, payload_size: int) -> None:
        self.calls.append(("before", {"op": op, "payload_size": payload_size}))

    @hookimpl
    def pyflymq_after_response(
        self, client: Any, op: int, resp_op: int | None, elapsed_s: float, error: BaseException | None
    ) -> None:
        self.calls.append(("after", {"op": op, "resp_op": resp_op, "elapsed_s": elapsed_s, "error": error}))


@pytest.mark.usefixtures("plugins")
def test_lifecycle_inactive_without_observers_and_calls_them_when_registered() -> None:
    lifecycle = get_lifecycle()
    assert lifecycle.active is False
    recorder = _Recorder()
    get_plugin_manager().register(recorder, name="recorder")
    assert lifecycle.active is True
    client = object()
    boom = RuntimeError("boom")
    lifecycle.client_connected(client, "localhost:9092")
    lifecycle.before_request(client, 0x01, 42)
    lifecycle.after_response(client, 0x01, 0x81, 0.5, None)
    lifecycle.after_response(client, 0x02, None, 1.0, boom)
    lifecycle.client_closed(client)
    assert recorder.calls == [
        ("connected", {"client": client, "server": "localhost:9092"}),
        ("before", {"op": 1, "payload_size": 42}),
        ("after", {"op": 1, "resp_op": 0x81, "elapsed_s": 0.5, "error": None}),
        ("after", {"op": 2, "resp_op": None, "elapsed_s": 1.0, "error": boom}),
        ("closed", {"client": client}),
    ]
    get_plugin_manager().unregister(recorder)
    assert lifecycle.active is False
    assert [info.name for info in list_plugins()] == ["transports", "serde"]


class _PartialObserver:
    @hookimpl
    def pyflymq_before_request(self, op: int) -> None:  # a subset of the spec's arguments
        self.seen = op

    @hookimpl
    def pyflymq_client_closed(self, client: Any) -> None:
        raise ValueError("observer bug")


@pytest.mark.usefixtures("plugins")
def test_lifecycle_hook_errors_are_logged_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    observer = _PartialObserver()
    get_plugin_manager().register(observer)
    lifecycle = get_lifecycle()
    lifecycle.before_request(object(), 7, 1)
    assert observer.seen == 7
    with caplog.at_level(logging.ERROR, logger="pyflymq.plugins"):
        lifecycle.client_closed(object())
    assert "pyflymq_client_closed" in caplog.text and "observer bug" in caplog.text


class _CodecPlugin:
    @hookimpl
    def pyflymq_register_codecs(self, register: Any) -> None:
        register("upper", str.upper, description="shouts")


@pytest.mark.usefixtures("plugins")
def test_runtime_registered_plugin_reaches_the_registry() -> None:
    before = get_registry()
    assert "upper" not in before.codecs
    get_plugin_manager().register(_CodecPlugin(), name="shout")
    after = get_registry()
    assert after.codecs.create("upper", "abc") == "ABC"
    assert after.codecs.entry("upper").plugin == "shout"
    info = {i.name: i for i in list_plugins()}["shout"]
    assert not info.builtin and info.distribution is None and info.registered == {"codec": ["upper"]}


class _Clash:
    def __init__(self, replace: bool) -> None:
        self.replace = replace

    @hookimpl
    def pyflymq_register_codecs(self, register: Any) -> None:
        register("json", dict, replace=self.replace)


@pytest.mark.usefixtures("plugins")
def test_clash_with_builtin_needs_replace() -> None:
    get_plugin_manager().register(_Clash(replace=False), name="aaa-clash")
    with pytest.raises(
        ConfigurationError, match="'json' is registered by both plugin 'serde' and plugin 'aaa-clash'"
    ):
        get_registry()
    reset_plugins()
    get_plugin_manager().register(_Clash(replace=True), name="aaa-clash")
    assert get_registry().codecs.get("json") is dict  # built-ins register first, whatever the name


class _Broken:
    @hookimpl
    def pyflymq_register_transports(self, register: Any) -> None:
        raise RuntimeError("cannot register")


class _Greedy:
    @hookimpl
    def pyflymq_register_codecs(self, register: Any) -> None:
        get_registry()


@pytest.mark.usefixtures("plugins")
def test_plugin_failing_in_a_registration_hook_is_named() -> None:
    get_plugin_manager().register(_Broken(), name="broken")
    with pytest.raises(ConfigurationError, match="plugin 'broken' failed in pyflymq_register_transports"):
        get_registry()


@pytest.mark.usefixtures("plugins")
def test_registration_hook_may_not_recurse_into_the_registry() -> None:
    get_plugin_manager().register(_Greedy(), name="greedy")
    with pytest.raises(ConfigurationError, match="while the registry was being built"):
        get_registry()
    get_plugin_manager().unregister(name="greedy")
    assert "json" in get_registry().codecs  # the failure did not wedge the manager


# --------------------------------------------------------------------------- third-party distribution

TOY_PYPROJECT = """\
[build-system]
requires = ["setuptools"]
build-backend = "setuptools.build_meta"

[project]
name = "pyflymq-toy-plugin"
version = "1.2.3"

[project.entry-points.pyflymq]
toy = "pyflymq_toy_plugin"

[tool.setuptools]
py-modules = ["pyflymq_toy_plugin"]
"""

TOY_MODULE = '''\
"""A third-party pyflymq plugin, as someone outside the project would write it."""
from pyflymq_core.plugins import hookimpl


class ToyTransport:
    def __init__(self, address):
        self.address = address


class ToyCsvCodec:
    def encode(self, values):
        return ",".join(values).encode()

    def decode(self, data):
        return data.decode().split(",")


@hookimpl
def pyflymq_register_transports(register):
    register("toy", "pyflymq_toy_plugin:ToyTransport", description="toy transport")


@hookimpl
def pyflymq_register_codecs(register):
    register("toycsv", ToyCsvCodec, description="comma-separated strings")


@hookimpl
def pyflymq_before_request(client, op, payload_size):
    pass
'''

TOY_PROBE = """\
import json
from pyflymq_core.plugins import get_lifecycle, get_registry, list_plugins

registry = get_registry()
result = {"transports": registry.transports.names(), "codecs": registry.codecs.names()}
if "toy" in registry.transports:
    transport = registry.transport_for_url("toy://somewhere:1")("somewhere:1")
    codec = registry.codecs.create("toycsv")
    result["transport"] = [type(transport).__module__, type(transport).__name__, transport.address]
    result["encoded"] = codec.encode(["a", "b"]).decode()
    result["decoded"] = codec.decode(b"x,y")
    result["lifecycle_active"] = get_lifecycle().active
result["plugins"] = {i.name: i.as_dict() for i in list_plugins()}
print(json.dumps(result))
"""


@pytest.fixture(scope="module")
def toy_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Build and pip-install the toy distribution into a private target directory.

    ``--target`` instead of the shared venv: the test is hermetic (nothing to uninstall, no effect on
    tests running in parallel) and the installed ``.dist-info`` is exactly what entry-point discovery
    reads.  Offline: no index, no build isolation (setuptools and wheel come from the venv).
    """
    root = tmp_path_factory.mktemp("toy")
    src = root / "src"
    src.mkdir()
    (src / "pyproject.toml").write_text(TOY_PYPROJECT)
    (src / "pyflymq_toy_plugin.py").write_text(TOY_MODULE)
    site = root / "site"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "--disable-pip-version-check",
            "--target",
            str(site),
            str(src),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (site / "pyflymq_toy_plugin-1.2.3.dist-info" / "entry_points.txt").is_file()
    return site


def _run_with_toy(site: Path, args: list[str], plugins_env: str | None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(site), *filter(None, [env.get("PYTHONPATH")])])
    env.pop("PYFLYMQ_PLUGINS", None)
    if plugins_env is not None:
        env["PYFLYMQ_PLUGINS"] = plugins_env
    return subprocess.run(args, capture_output=True, text=True, env=env, timeout=60)


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_third_party_distribution_is_discovered_and_used(toy_site: Path) -> None:
    proc = _run_with_toy(toy_site, [sys.executable, "-c", TOY_PROBE], plugins_env=None)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["transports"] == ["flymq", "flymqs", "memory", "toy"]
    assert "toycsv" in result["codecs"] and "json" in result["codecs"]
    assert result["transport"] == ["pyflymq_toy_plugin", "ToyTransport", "somewhere:1"]
    assert result["encoded"] == "a,b"
    assert result["decoded"] == ["x", "y"]
    assert result["lifecycle_active"] is True
    toy = result["plugins"]["toy"]
    assert (toy["distribution"], toy["version"], toy["builtin"]) == ("pyflymq-toy-plugin", "1.2.3", False)
    assert toy["registered"] == {"transport": ["toy"], "codec": ["toycsv"]}
    assert result["plugins"]["serde"]["builtin"] is True


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_third_party_distribution_obeys_the_env_switch(toy_site: Path) -> None:
    builtins_only = _run_with_toy(toy_site, [sys.executable, "-c", TOY_PROBE], plugins_env="")
    assert builtins_only.returncode == 0, builtins_only.stderr
    assert json.loads(builtins_only.stdout)["transports"] == ["flymq", "flymqs", "memory"]
    selected = _run_with_toy(toy_site, [sys.executable, "-c", TOY_PROBE], plugins_env="toy")
    assert selected.returncode == 0, selected.stderr
    assert "toycsv" in json.loads(selected.stdout)["codecs"]


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_cli_lists_third_party_distribution(toy_site: Path) -> None:
    script = Path(sys.executable).with_name("pyflymq")
    assert script.is_file(), "the pyflymq console script is not installed next to the interpreter"
    text = _run_with_toy(toy_site, [str(script), "plugins"], plugins_env=None)
    assert text.returncode == 0, text.stderr
    assert "toy (third-party, pyflymq-toy-plugin 1.2.3) pyflymq_toy_plugin" in text.stdout
    assert "toycsv" in text.stdout and "pyflymq_before_request" in text.stdout
    as_json = _run_with_toy(toy_site, [str(script), "plugins", "--json"], plugins_env=None)
    assert as_json.returncode == 0, as_json.stderr
    plugins = {p["name"]: p for p in json.loads(as_json.stdout)["plugins"]}
    assert plugins["toy"]["distribution"] == "pyflymq-toy-plugin"
    assert {(r["kind"], r["name"]) for r in plugins["toy"]["registrations"]} == {
        ("transport", "toy"),
        ("codec", "toycsv"),
    }
