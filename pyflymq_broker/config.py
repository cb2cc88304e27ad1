"""Broker configuration, and loading of the real server's JSON configuration format.

The embedded broker exists to test clients, so its own defaults switch the optional features
(schema validation, DLQ, delayed delivery, transactions) on: a test can then exercise every opcode.
:meth:`BrokerConfig.upstream_defaults` gives the real server's defaults (those four off), and
:meth:`BrokerConfig.from_server_config` reads a FlyMQ ``flymq.json`` the way the server does:
missing keys keep the server's defaults, unknown keys are ignored, key names match
case-insensitively (Go's ``encoding/json`` rule).
"""

from __future__ import annotations

import json
import socket
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["AuthSettings", "BrokerConfig"]

#: The real server refuses a request payload above this many bytes (it closes the connection).
MAX_REQUEST_BYTES = 32 * 1024 * 1024


class AuthSettings(BaseModel):
    """The server's ``auth`` section (§12.1 of the protocol reference)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    enabled: bool = False
    allow_anonymous: bool = False
    default_public: bool = True
    admin_username: str = ""
    #: Left out of ``repr()`` so a logged or printed configuration never shows it.
    admin_password: str = Field("", repr=False)


class BrokerConfig(BaseModel):
    """Everything that changes what the broker answers.

    ``bind_addr`` is only reported (CLUSTER_METADATA ``leader_addr`` is the configured bind address
    verbatim, as on the real server; in cluster mode ``advertise_addr`` wins when set); the TCP
    server decides where it actually listens.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    node_id: str = "flymq-embedded"
    bind_addr: str = ":9092"
    advertise_addr: str = ""
    #: Non-empty selects Raft cluster mode; this node's Raft address (docs/broker.md, Cluster mode).
    cluster_addr: str = ""
    #: The other nodes' Raft addresses, for ``BrokerCluster``; a lone Broker warns and ignores them.
    peers: tuple[str, ...] = ()
    auth: AuthSettings = Field(default_factory=AuthSettings)
    schema_enabled: bool = True
    dlq_enabled: bool = True
    dlq_topic_suffix: str = ".dlq"
    delayed_enabled: bool = True
    #: Longest accepted PRODUCE_DELAYED delay, in seconds (server ``delayed.max_delay``).
    delayed_max_delay: int = 86_400
    transaction_enabled: bool = True
    #: Seconds from BEGIN_TX until an active transaction is aborted (server ``transaction.timeout``).
    transaction_timeout: int = 60
    audit_enabled: bool = True
    #: Reported in the ``topic.create`` audit event (server ``partition.default_replication_factor``).
    default_replication_factor: int = 1
    #: Reproduce the 1.26.11 storage defect (SEMANTICS_NOTES #41): a partition refuses records with
    #: the error ``EOF`` once it holds this many. ``None`` (the default) means unlimited.
    partition_record_limit: int | None = None
    #: Where the broker keeps its state between runs; ``None`` keeps everything in memory.
    data_dir: str | None = None
    tls_enabled: bool = False
    tls_cert_file: str | None = None
    tls_key_file: str | None = None

    @classmethod
    def upstream_defaults(cls) -> BrokerConfig:
        """The real server's defaults: optional features off, node id = host name."""
        return cls(node_id=socket.gethostname() or "flymq", **cls.upstream_feature_defaults())

    @staticmethod
    def upstream_feature_defaults() -> dict[str, Any]:
        """The four feature switches as the real server ships them (for ``model_copy(update=...)``)."""
        return {
            "schema_enabled": False,
            "dlq_enabled": False,
            "delayed_enabled": False,
            "transaction_enabled": False,
        }

    @classmethod
    def from_json_file(cls, path: str | Path) -> BrokerConfig:
        """Load a FlyMQ server configuration file (JSON)."""
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
        if not isinstance(data, Mapping):
            raise ValueError(f"{path}: a FlyMQ configuration file holds a JSON object")
        return cls.from_server_config(data)

    @classmethod
    def from_server_config(cls, data: Mapping[str, Any]) -> BrokerConfig:
        """Build from the real server's configuration dict; start from the server's defaults."""
        base = cls.upstream_defaults()
        values: dict[str, Any] = base.model_dump()
        auth: dict[str, Any] = dict(values["auth"])

        def put(target: dict[str, Any], key: str, value: Any, kind: type) -> None:
            if value is None:
                return
            if kind is bool and not isinstance(value, bool):
                raise ValueError(f"configuration key {key!r} must be a boolean, not {value!r}")
            if kind is int and (isinstance(value, bool) or not isinstance(value, int)):
                raise ValueError(f"configuration key {key!r} must be an integer, not {value!r}")
            if kind is str and not isinstance(value, str):
                raise ValueError(f"configuration key {key!r} must be a string, not {value!r}")
            if kind is list:
                if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                    raise ValueError(f"configuration key {key!r} must be a list of strings, not {value!r}")
                value = tuple(value)
            target[key] = value

        put(values, "node_id", _get(data, "node_id"), str)
        put(values, "bind_addr", _get(data, "bind_addr"), str)
        put(values, "advertise_addr", _get(data, "advertise_addr"), str)
        put(values, "cluster_addr", _get(data, "cluster_addr"), str)
        put(values, "peers", _get(data, "peers"), list)
        put(values, "data_dir", _get(data, "data_dir"), str)
        section = _section(data, "auth")
        for key, kind in (
            ("enabled", bool),
            ("allow_anonymous", bool),
            ("default_public", bool),
            ("admin_username", str),
            ("admin_password", str),
        ):
            put(auth, key, _get(section, key), kind)
        put(values, "schema_enabled", _get(_section(data, "schema"), "enabled"), bool)
        dlq = _section(data, "dlq")
        put(values, "dlq_enabled", _get(dlq, "enabled"), bool)
        put(values, "dlq_topic_suffix", _get(dlq, "topic_suffix"), str)
        delayed = _section(data, "delayed")
        put(values, "delayed_enabled", _get(delayed, "enabled"), bool)
        put(values, "delayed_max_delay", _get(delayed, "max_delay"), int)
        txn = _section(data, "transaction")
        put(values, "transaction_enabled", _get(txn, "enabled"), bool)
        put(values, "transaction_timeout", _get(txn, "timeout"), int)
        put(values, "audit_enabled", _get(_section(data, "audit"), "enabled"), bool)
        put(
            values,
            "default_replication_factor",
            _get(_section(data, "partition"), "default_replication_factor"),
            int,
        )
        security = _section(data, "security")
        put(values, "tls_enabled", _get(security, "tls_enabled"), bool)
        put(values, "tls_cert_file", _get(security, "tls_cert_file"), str)
        put(values, "tls_key_file", _get(security, "tls_key_file"), str)
        values["auth"] = AuthSettings(**auth)
        if values["data_dir"] is not None and (not values["data_dir"] or "<" in values["data_dir"]):
            # The transcripts' profiles carry placeholders such as "<fresh-empty-dir>/data"; an
            # empty data_dir would persist into the working directory: both mean "in memory".
            values["data_dir"] = None
        return cls(**values)

    def tls_files(self) -> tuple[str | None, str | None]:
        """``(cert, key)`` when the configuration enables TLS, else ``(None, None)``."""
        if not self.tls_enabled:
            return None, None
        return self.tls_cert_file, self.tls_key_file


def _get(data: Mapping[str, Any], key: str) -> Any:
    """Case-insensitive lookup, exact match first (how Go's encoding/json matches field names)."""
    if key in data:
        return data[key]
    lowered = key.lower()
    for name, value in data.items():
        if isinstance(name, str) and name.lower() == lowered:
            return value
    return None


def _section(data: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = _get(data, key)
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ValueError(f"configuration section {key!r} must be a JSON object")
    return value
