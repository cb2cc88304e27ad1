"""The lazy public facade: ``import pyflymq`` stays cheap, names resolve on first access."""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import json
import subprocess
import sys
import types
from collections.abc import Iterator, Sequence

import pytest

import pyflymq
from pyflymq_core.errors import MissingExtraError

HEAVY_MODULES = ("pydantic", "fastavro", "google.protobuf", "jsonschema", "cryptography", "reactivex")

PUBLIC_NAMES = {
    "connect",
    "connect_async",
    "FlyMQClient",
    "AsyncFlyMQClient",
    "ClientConfig",
    "ProducerConfig",
    "ConsumerConfig",
    "RecordMetadata",
    "ConsumedMessage",
    "FetchResult",
    "HighLevelProducer",
    "Producer",
    "HighLevelConsumer",
    "Consumer",
    "ConsumerGroup",
    "Encryptor",
    "generate_key",
    "ReactiveConsumer",
    "ReactiveProducer",
    "AsyncReactiveConsumer",
    "exceptions",
}


def test_import_pyflymq_loads_no_heavy_or_optional_dependency() -> None:
    probe = (
        "import json, sys; before = set(sys.modules); import pyflymq; "
        "print(json.dumps(sorted(set(sys.modules) - before)))"
    )
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    added = json.loads(proc.stdout)
    for heavy in (*HEAVY_MODULES, "pluggy", "pyflymq_core"):
        assert not [m for m in added if m == heavy or m.startswith(heavy + ".")], f"{heavy} was imported"
    # Stronger: the facade imports nothing at all beyond itself.
    assert added == ["pyflymq"]


def test_all_lists_the_public_api() -> None:
    assert set(pyflymq.__all__) == PUBLIC_NAMES | {"__version__"}
    assert set(pyflymq._EXPORTS) | pyflymq._SUBMODULES == PUBLIC_NAMES
    assert set(pyflymq.__all__) <= set(dir(pyflymq))


def test_version_is_the_distribution_version() -> None:
    from importlib.metadata import version

    assert pyflymq.__version__ == version("pyflymq")


def test_unknown_attribute_raises_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'not_a_public_name'"):
        _ = pyflymq.not_a_public_name
    assert not hasattr(pyflymq, "definitely_missing")


@pytest.fixture
def fresh_rx(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Forget the facade's cached reactive names and any imported ``pyflymq_rx``."""
    for name in ("ReactiveConsumer", "ReactiveProducer", "AsyncReactiveConsumer"):
        monkeypatch.delitem(vars(pyflymq), name, raising=False)
    monkeypatch.delitem(sys.modules, "pyflymq_rx", raising=False)
    yield
    for name in ("ReactiveConsumer", "ReactiveProducer", "AsyncReactiveConsumer"):
        vars(pyflymq).pop(name, None)


@pytest.mark.usefixtures("fresh_rx")
def test_name_resolves_from_its_module_and_is_cached(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = types.ModuleType("pyflymq_rx")

    class ReactiveConsumer:
        pass

    fake.ReactiveConsumer = ReactiveConsumer  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "pyflymq_rx", fake)
    assert pyflymq.ReactiveConsumer is ReactiveConsumer
    assert vars(pyflymq)["ReactiveConsumer"] is ReactiveConsumer  # next access skips __getattr__
    from pyflymq import ReactiveConsumer as imported

    assert imported is ReactiveConsumer


class _NeedsReactivex(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Finds ``pyflymq_rx`` as a module whose body imports reactivex (made unimportable)."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: types.ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname != "pyflymq_rx":
            return None
        return importlib.machinery.ModuleSpec(fullname, self)

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType | None:
        return None

    def exec_module(self, module: types.ModuleType) -> None:
        exec("import reactivex", vars(module))


@pytest.mark.usefixtures("fresh_rx")
def test_missing_optional_dependency_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "reactivex", None)  # as if not installed
    monkeypatch.setattr(sys, "meta_path", [_NeedsReactivex(), *sys.meta_path])
    with pytest.raises(MissingExtraError) as info:
        _ = pyflymq.ReactiveConsumer
    assert info.value.extra == "rx"
    assert info.value.hint is not None and "pip install 'pyflymq[rx]'" in info.value.hint
    assert "reactivex" in str(info.value)
    with pytest.raises(ImportError):  # MissingExtraError is an ImportError for from-imports too
        from pyflymq import ReactiveProducer  # noqa: F401


def test_missing_module_that_is_not_an_extra_is_reported_as_is(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(vars(pyflymq), "ClientConfig", raising=False)
    monkeypatch.setitem(sys.modules, "pyflymq_core.config", None)
    with pytest.raises(ModuleNotFoundError) as info:
        _ = pyflymq.ClientConfig
    assert not isinstance(info.value, MissingExtraError)
    vars(pyflymq).pop("ClientConfig", None)
