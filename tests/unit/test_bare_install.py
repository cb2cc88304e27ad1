"""``pip install pyflymq`` without extras: the SDK imports and works, and optional features say which
extra to install.

The optional packages are installed in the test virtualenv, so each probe runs in a subprocess whose
first act is to install an import blocker (a ``sys.meta_path`` finder) that makes fastavro,
google.protobuf, jsonschema, cryptography and reactivex unimportable, exactly as if they were not
installed.  Only the required dependencies (pydantic, pluggy) stay available.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import uuid
from typing import Any

import pytest

OPTIONAL = ("fastavro", "google.protobuf", "jsonschema", "cryptography", "reactivex")

BLOCKER = textwrap.dedent(
    f"""
    import importlib.abc, sys

    BLOCKED = {OPTIONAL!r}

    class _Blocker(importlib.abc.MetaPathFinder):
        def find_spec(self, fullname, path, target=None):
            if any(fullname == b or fullname.startswith(b + ".") for b in BLOCKED):
                raise ModuleNotFoundError(f"No module named {{fullname!r}} (blocked)", name=fullname)
            return None

    sys.meta_path.insert(0, _Blocker())
    """
)

EPILOGUE = textwrap.dedent(
    """
    result["loaded_optional"] = sorted(
        m for m in sys.modules if any(m == b or m.startswith(b + ".") for b in BLOCKED)
    )
    print(json.dumps(result))
    """
)


def run_bare(body: str) -> dict[str, Any]:
    """Run ``body`` (which fills ``result``) with the optional packages blocked; return ``result``."""
    script = BLOCKER + "import json\nresult = {}\n" + textwrap.dedent(body) + EPILOGUE
    proc = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYFLYMQ_PLUGINS": ""},
    )
    assert proc.returncode == 0, proc.stderr
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result.pop("loaded_optional") == []
    return result


def test_blocker_really_blocks() -> None:
    result = run_bare(
        """
        for name in BLOCKED:
            try:
                __import__(name)
            except ModuleNotFoundError as exc:
                result[name] = exc.name
        """
    )
    assert result == {name: name for name in OPTIONAL}


def test_bare_install_imports_and_plain_codecs_work() -> None:
    result = run_bare(
        """
        import pyflymq
        import pyflymq_core.client
        import pyflymq_serde
        import pyflymq_transports
        from pyflymq import ClientConfig, generate_key
        from pyflymq_serde import resolve_codec, value_transform_from_config

        result["bytes"] = resolve_codec("bytes").serialize(b"raw").decode()
        result["string"] = resolve_codec("string").deserialize("héllo".encode())
        json_codec = resolve_codec("json")
        result["json"] = json_codec.deserialize(json_codec.serialize({"a": [1, "x"]}))
        result["key_len"] = len(generate_key())
        result["identity"] = value_transform_from_config(ClientConfig()).encode("t", b"v").decode()
        """
    )
    assert result == {
        "bytes": "raw",
        "string": "héllo",
        "json": {"a": [1, "x"]},
        "key_len": 64,
        "identity": "v",
    }


def test_optional_features_name_their_extra() -> None:
    result = run_bare(
        """
        from pyflymq_core.errors import MissingExtraError
        from pyflymq_serde import resolve_codec, validate_locally, value_transform_from_options
        from pyflymq_serde.codecs.json import JsonCodec
        from pyflymq import Encryptor

        def attempt(label, call):
            try:
                call()
            except MissingExtraError as exc:
                result[label] = [exc.extra, exc.hint]
            else:
                result[label] = "no error"

        attempt("avro", lambda: resolve_codec("avro", schema='"int"'))
        attempt("avro_no_schema", lambda: resolve_codec("avro"))
        attempt("protobuf", lambda: resolve_codec("protobuf"))
        attempt("json_schema", lambda: JsonCodec(schema={"type": "object"}))
        attempt("validate_json", lambda: validate_locally("json", "{}", b"{}"))
        attempt("validate_avro", lambda: validate_locally("avro", '"int"', b"\\x02"))
        attempt("encryptor", lambda: Encryptor.from_hex_key("00" * 32))
        attempt(
            "encryption_config",
            lambda: value_transform_from_options(encryption_enabled=True, encryption_key="00" * 32),
        )
        """
    )
    expected = {
        "avro": "avro",
        "avro_no_schema": "avro",
        "protobuf": "protobuf",
        "json_schema": "json",
        "validate_json": "json",
        "validate_avro": "avro",
        "encryptor": "crypto",
        "encryption_config": "crypto",
    }
    assert set(result) == set(expected)
    for label, extra in expected.items():
        assert result[label] != "no error", label
        got_extra, hint = result[label]
        assert got_extra == extra, label
        assert f"pip install 'pyflymq[{extra}]'" in hint, label


def test_protobuf_wire_check_needs_no_extra() -> None:
    result = run_bare(
        """
        from pyflymq_serde import check_before_produce, validate_locally
        result["ok"] = validate_locally("protobuf", "", b"\\x08\\x01")
        result["bad"] = validate_locally("proto", "", b"\\x0f")
        check_before_produce("s", "json", "{}", b"{}")  # missing jsonschema: warns, does not raise
        result["checked"] = True
        """
    )
    assert result["ok"] == [] and result["bad"] and result["checked"] is True


@pytest.mark.timeout(120)
def test_bare_client_produces_and_consumes_over_memory() -> None:
    pytest.importorskip("pyflymq_core.client.sync_client")
    name = f"bare-{uuid.uuid4().hex[:8]}"
    result = run_bare(
        f"""
        from pyflymq import FlyMQClient
        from pyflymq_serde import resolve_codec

        codec = resolve_codec("json")
        with FlyMQClient("memory://{name}") as client:
            meta = client.produce("bare", codec.serialize({{"n": 1}}))
            result["value"] = codec.deserialize(client.consume("bare", meta.offset).value)
        """
    )
    assert result == {"value": {"n": 1}}
