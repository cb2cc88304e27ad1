"""A third-party codec, installed as its own distribution, is found and used by name.

The distribution is built and pip-installed offline into a private ``--target`` directory (as the
plugin-system tests do), then a subprocess with that directory on ``PYTHONPATH`` resolves the codec
through ``resolve_codec``: no change to pyflymq, no effect on the shared virtualenv or on tests
running in parallel, nothing to uninstall.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.unit.test_plugins import _run_with_toy

DIST_NAME = "pyflymq-toycsv-codec"
MODULE = "pyflymq_toycsv_codec"

PYPROJECT = f"""\
[build-system]
requires = ["setuptools"]
build-backend = "setuptools.build_meta"

[project]
name = "{DIST_NAME}"
version = "0.3.0"

[project.entry-points.pyflymq]
toycsv = "{MODULE}"

[tool.setuptools]
py-modules = ["{MODULE}"]
"""

CODEC_MODULE = '''\
"""A toy CSV codec, written as an outside author would: it never imports pyflymq's codec classes."""
from pyflymq_core.plugins import hookimpl


class ToyCsvCodec:
    name = "toycsv"
    content_type = "text/csv"

    def __init__(self, separator=","):
        self.separator = separator

    def serialize(self, obj):
        return self.separator.join(str(field) for field in obj).encode()

    def deserialize(self, data):
        return data.decode().split(self.separator)


@hookimpl
def pyflymq_register_codecs(register):
    register("toycsv", "pyflymq_toycsv_codec:ToyCsvCodec", description="toy comma-separated values")
'''

PROBE = """\
import json
from pyflymq_serde import Codec, content_type_of, resolve_codec

codec = resolve_codec("toycsv")
semi = resolve_codec("toycsv", separator=";")
print(json.dumps({
    "type": [type(codec).__module__, type(codec).__name__],
    "is_codec": isinstance(codec, Codec),
    "content_type": content_type_of(codec),
    "encoded": codec.serialize(["a", 1, "b"]).decode(),
    "decoded": codec.deserialize(b"x,y"),
    "semi": semi.serialize(["a", "b"]).decode(),
    "cached": resolve_codec("TOYCSV") is codec,
}))
"""


@pytest.fixture(scope="module")
def toycsv_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("toycsv")
    src = root / "src"
    src.mkdir()
    (src / "pyproject.toml").write_text(PYPROJECT)
    (src / f"{MODULE}.py").write_text(CODEC_MODULE)
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
    assert (site / f"{MODULE}-0.3.0.dist-info" / "entry_points.txt").is_file()
    return site


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_third_party_codec_is_resolved_by_name(toycsv_site: Path) -> None:
    proc = _run_with_toy(toycsv_site, [sys.executable, "-c", PROBE], plugins_env=None)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result == {
        "type": [MODULE, "ToyCsvCodec"],
        "is_codec": True,
        "content_type": "text/csv",
        "encoded": "a,1,b",
        "decoded": ["x", "y"],
        "semi": "a;b",
        "cached": True,
    }


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_third_party_codec_is_not_loaded_when_plugins_are_disabled(toycsv_site: Path) -> None:
    disabled = _run_with_toy(toycsv_site, [sys.executable, "-c", PROBE], plugins_env="")
    assert disabled.returncode != 0
    assert "ConfigurationError" in disabled.stderr and "unknown codec 'toycsv'" in disabled.stderr
