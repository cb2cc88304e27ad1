"""Client, producer and consumer configuration (pydantic v2 models, validated on construction).

These are the models the clients really use: ``FlyMQClient("host:9092", request_timeout_ms=500)``
builds a :class:`ClientConfig` from its keyword options, and ``FlyMQClient(config=cfg)`` takes one
directly.  Invalid values raise :class:`~pyflymq_core.errors.ConfigurationError` (a ``ValueError``)
with one line per problem, naming the option — never a bare pydantic ``ValidationError``.

Secrets (``password``, ``encryption_key``) are :class:`pydantic.SecretStr`: they never appear in
``repr()``, ``str()``, logs or ``model_dump()`` output (use ``.get_secret_value()`` deliberately).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from pyflymq_core.errors import ConfigurationError

__all__ = [
    "DEFAULT_BOOTSTRAP",
    "ClientConfig",
    "ConsumerConfig",
    "ProducerConfig",
    "parse_bootstrap_servers",
]

DEFAULT_BOOTSTRAP = "localhost:9092"


def _config_error(model: str, exc: ValidationError) -> ConfigurationError:
    """One readable line per pydantic error: ``option: what is wrong (got value)``."""
    lines = []
    for error in exc.errors(include_url=False):
        where = ".".join(str(part) for part in error["loc"]) or "configuration"
        message = error["msg"]
        if message.startswith("Value error, "):
            message = message[len("Value error, ") :]
        got = error.get("input")
        shown = "" if isinstance(got, (dict, SecretStr)) or where in _SECRET_FIELDS else f" (got {got!r})"
        lines.append(f"{where}: {message}{shown}")
    return ConfigurationError(
        f"invalid {model}: " + "; ".join(lines),
        hint=f"See {_OPTION_DOCS.get(model, 'docs/client.md')} for every option, its type and its default.",
    )


#: Where each configuration's table of options is documented.
_OPTION_DOCS = {
    "ProducerConfig": "docs/producer.md (Batching and the in-flight window)",
    "ConsumerConfig": "docs/consumer.md (Options)",
}


_SECRET_FIELDS = frozenset({"password", "encryption_key", "encryption_old_keys"})


class _Config(BaseModel):
    """Shared behaviour: unknown options are errors, validation errors become ConfigurationError."""

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)

    def __init__(self, **data: Any) -> None:
        try:
            super().__init__(**data)
        except ValidationError as exc:
            raise _config_error(type(self).__name__, exc) from None

    @classmethod
    def model_validate(cls, obj: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().model_validate(obj, *args, **kwargs)
        except ValidationError as exc:
            raise _config_error(cls.__name__, exc) from None

    def with_options(self, **changes: Any) -> Any:
        """A validated copy with ``changes`` applied (``model_copy`` would skip validation)."""
        values = {name: getattr(self, name) for name in type(self).model_fields}
        values.update(changes)
        return type(self)(**values)


def parse_bootstrap_servers(value: Any) -> tuple[str, ...]:
    """``"a:1,b:2"``, ``["a:1", "b:2"]`` or ``("a:1",)`` -> ``("a:1", "b:2")`` (blanks dropped)."""
    if value is None:
        return (DEFAULT_BOOTSTRAP,)
    if isinstance(value, str):
        items = value.split(",")
    elif isinstance(value, Sequence) and not isinstance(value, (bytes, bytearray)):
        items = []
        for item in value:
            if not isinstance(item, str):
                raise ValueError(f"every server must be a 'host:port' string, got {type(item).__name__}")
            items.extend(item.split(","))
    else:
        raise ValueError("bootstrap_servers must be a 'host:port' string, a comma-separated list or a list")
    servers = tuple(item.strip() for item in items if item.strip())
    if not servers:
        raise ValueError("at least one bootstrap server is required")
    return servers


class ClientConfig(_Config):
    """Everything :class:`~pyflymq_core.client.FlyMQClient` needs to connect and call the server."""

    if TYPE_CHECKING:
        # Inputs are looser than the stored types (a comma string for a tuple, "GZIP" for "gzip",
        # a plain str for a SecretStr); validation normalises them. Keep type checkers from
        # demanding the stored types of callers.
        def __init__(self, **options: Any) -> None: ...

    bootstrap_servers: tuple[str, ...] = Field(
        default=(DEFAULT_BOOTSTRAP,),
        description="'host:port', 'a:1,b:2' or a list; 'flymqs://' = TLS, 'memory://' = in-process broker",
    )
    connect_timeout_ms: int = Field(
        default=10_000, gt=0, description="TCP connect + TLS handshake, per server"
    )
    request_timeout_ms: int = Field(default=30_000, gt=0, description="time to wait for each response")
    max_retries: int = Field(default=3, ge=0, description="extra bootstrap rounds / idempotent read retries")
    retry_delay_ms: int = Field(default=1_000, ge=0, description="pause between bootstrap rounds and retries")

    tls_enabled: bool = False
    tls_ca_file: str | None = None
    tls_cert_file: str | None = None
    tls_key_file: str | None = None
    tls_insecure_skip_verify: bool = False
    tls_server_hostname: str | None = Field(
        default=None, description="name to verify the certificate against (default: the host dialled)"
    )

    username: str | None = None
    password: SecretStr | None = None
    client_id: str = Field(default="pyflymq", min_length=1, description="shown in logs only (no wire field)")

    keepalive_interval_ms: int = Field(
        default=60_000,
        ge=0,
        description="ping a connection idle this long (the server closes after 5 min); 0 = off",
    )
    metadata_max_age_ms: int = Field(default=300_000, ge=0, description="cluster metadata cache lifetime")
    compression: Literal["none", "gzip"] = Field(
        default="none", description="gzip produce requests (the only compression the server implements)"
    )

    encryption_enabled: bool = False
    encryption_key: SecretStr | None = None
    encryption_old_keys: tuple[SecretStr, ...] = Field(
        default=(), description="earlier keys still accepted for decryption (key rotation)"
    )

    @field_validator("bootstrap_servers", mode="before")
    @classmethod
    def _split_servers(cls, value: Any) -> tuple[str, ...]:
        return parse_bootstrap_servers(value)

    @field_validator("compression", mode="before")
    @classmethod
    def _compression_name(cls, value: Any) -> Any:
        if value is None:
            return "none"
        if isinstance(value, str):
            lowered = value.lower()
            if lowered in ("lz4", "snappy", "zstd"):
                raise ValueError(
                    f"{value!r} is not implemented by the FlyMQ server (only gzip is); use 'gzip' or 'none'"
                )
            return lowered
        return value

    @field_validator("tls_ca_file", "tls_cert_file", "tls_key_file", "username", mode="before")
    @classmethod
    def _empty_is_none(cls, value: Any) -> Any:
        return None if value == "" else value

    @model_validator(mode="after")
    def _consistent(self) -> ClientConfig:
        if self.username is None and self.password is not None and not self.password.get_secret_value():
            # username="" and password="" (empty environment variables, say): no credentials at all
            object.__setattr__(self, "password", None)
        if (self.username is None) != (self.password is None):
            raise ValueError("username and password must be given together")
        if self.tls_key_file and not self.tls_cert_file:
            raise ValueError("tls_key_file needs tls_cert_file (mutual TLS uses both)")
        if self.encryption_enabled:
            if self.encryption_key is None:
                raise ValueError("encryption_enabled=True needs encryption_key (64 hex characters)")
            for secret in (self.encryption_key, *self.encryption_old_keys):
                key = secret.get_secret_value()
                if len(key) != 64 or any(c not in "0123456789abcdefABCDEF" for c in key):
                    raise ValueError(
                        "encryption keys must be 64 hexadecimal characters (a 32-byte AES-256 key)"
                    )
        for server in self.bootstrap_servers:
            scheme = server.partition("://")[0].lower() if "://" in server else None
            if self.tls_enabled and scheme == "flymq":
                raise ValueError(
                    f"server {server!r} asks for plain TCP but tls_enabled=True; drop the 'flymq://' prefix"
                )
        return self

    @property
    def uses_tls_options(self) -> bool:
        """Whether any TLS-only option is set (they only matter with TLS)."""
        return bool(
            self.tls_ca_file or self.tls_cert_file or self.tls_key_file or self.tls_insecure_skip_verify
        )

    @property
    def connect_timeout(self) -> float:
        """``connect_timeout_ms`` in seconds."""
        return self.connect_timeout_ms / 1000.0

    @property
    def request_timeout(self) -> float:
        """``request_timeout_ms`` in seconds."""
        return self.request_timeout_ms / 1000.0

    @property
    def retry_delay(self) -> float:
        """``retry_delay_ms`` in seconds."""
        return self.retry_delay_ms / 1000.0


class ProducerConfig(_Config):
    """High-level producer settings (the seed's table plus the production knobs).

    ``retries`` (the seed's table) and ``max_retries`` (the seed's ``client.producer(...)`` keyword)
    are the same setting; give either.  ``acks`` is accepted for compatibility, but the FlyMQ server
    always acknowledges after its local append whatever is asked (SEMANTICS_NOTES #23).
    ``retry_unacknowledged`` is off by default because the server has no deduplication: a record
    whose answer was lost may already be stored, and re-sending it could store it twice.
    """

    if TYPE_CHECKING:
        # Inputs are looser than the stored types (a comma string for a tuple, "GZIP" for "gzip",
        # a plain str for a SecretStr); validation normalises them. Keep type checkers from
        # demanding the stored types of callers.
        def __init__(self, **options: Any) -> None: ...

    batch_size: int = Field(default=16_384, gt=0, description="bytes per batch")
    linger_ms: int = Field(default=0, ge=0)
    max_batch_messages: int = Field(default=1_000, gt=0)
    acks: Literal["all", "leader", "none", "0", "1", "-1"] = "all"
    retries: int = Field(default=3, ge=0)
    max_retries: int = Field(default=3, ge=0)
    retry_backoff_ms: int = Field(default=100, ge=0)
    #: Unanswered batches per connection.  20 (not Kafka's 5 requests: a FlyMQ batch is one 16 KiB
    #: write of separate PRODUCE requests) keeps 1 KiB records pipelined: with 5, the window held
    #: about 75 of them and the threads paid a wake-up cycle per 75 records (bench/producer.py,
    #: 1 KiB, medians of 3 alternating runs: 12.3 / 13.5 / 16.4 µs CPU per record with 5, 10.6 /
    #: 11.2 / 13.7 with 20, plain / keyed / on_success; 100-byte records unchanged).
    max_in_flight: int = Field(default=20, gt=0)
    buffer_memory: int = Field(
        default=32 * 1024 * 1024, gt=0, description="bytes buffered before send blocks"
    )
    max_block_ms: int = Field(default=60_000, ge=0, description="how long send() blocks on a full buffer")
    retry_unacknowledged: bool = Field(
        default=False,
        description="re-send records whose PRODUCE was written but never answered (connection lost): "
        "at-least-once, may store them twice; the default fails them (at-most-once, no duplicates)",
    )

    @field_validator("acks", mode="before")
    @classmethod
    def _acks_text(cls, value: Any) -> Any:
        if isinstance(value, bool):
            raise ValueError("acks must be 'all', 'leader', 'none', '0', '1' or '-1'")
        return str(value).lower() if isinstance(value, (int, str)) else value

    @model_validator(mode="before")
    @classmethod
    def _retries_alias(cls, data: Any) -> Any:
        if isinstance(data, dict):
            has_retries = data.get("retries") is not None
            has_max = data.get("max_retries") is not None
            if has_retries and has_max and data["retries"] != data["max_retries"]:
                raise ValueError("retries and max_retries are the same setting; give one of them")
            if has_retries and not has_max:
                data = {**data, "max_retries": data["retries"]}
            elif has_max and not has_retries:
                data = {**data, "retries": data["max_retries"]}
        return data


class ConsumerConfig(_Config):
    """High-level consumer settings (the seed's table plus static membership and fetch size).

    FlyMQ has no group coordination: partitions are split between the members of a group by the
    client, either explicitly (``partitions``) or by static membership (``member_index`` of
    ``member_count``); by default one consumer reads every partition.
    """

    if TYPE_CHECKING:
        # Inputs are looser than the stored types (a comma string for a tuple, "GZIP" for "gzip",
        # a plain str for a SecretStr); validation normalises them. Keep type checkers from
        # demanding the stored types of callers.
        def __init__(self, **options: Any) -> None: ...

    group_id: str | None = None
    auto_offset_reset: Literal["earliest", "latest"] = "latest"
    enable_auto_commit: bool = True
    auto_commit_interval_ms: int = Field(default=5_000, gt=0)
    max_poll_records: int = Field(default=500, gt=0)
    fetch_max_messages: int = Field(
        default=500, gt=0, le=1_000, description="records per FETCH (the server scans at most 1,000)"
    )
    member_index: int | None = Field(default=None, ge=0)
    member_count: int | None = Field(default=None, gt=0)
    partitions: tuple[int, ...] | None = None

    @field_validator("auto_offset_reset", mode="before")
    @classmethod
    def _reset_lower(cls, value: Any) -> Any:
        if isinstance(value, str):
            lowered = value.lower()
            if lowered in ("smallest", "beginning"):
                return "earliest"
            if lowered in ("largest", "end"):
                return "latest"
            return lowered
        return value

    @field_validator("group_id", mode="before")
    @classmethod
    def _group_text(cls, value: Any) -> Any:
        if isinstance(value, str) and ("/" in value or "\x00" in value):
            raise ValueError("group_id must not contain '/' or NUL (the server stores offsets in files)")
        return None if value == "" else value

    @field_validator("partitions", mode="before")
    @classmethod
    def _partition_list(cls, value: Any) -> Any:
        if value is None:
            return None
        if isinstance(value, int) and not isinstance(value, bool):
            value = [value]
        items = list(value)
        for item in items:
            if isinstance(item, bool) or not isinstance(item, int) or item < 0:
                raise ValueError(f"partitions must be non-negative ints, got {item!r}")
        if len(set(items)) != len(items):
            raise ValueError("partitions contains duplicates")
        return tuple(items)

    @model_validator(mode="after")
    def _membership(self) -> ConsumerConfig:
        if (self.member_index is None) != (self.member_count is None):
            raise ValueError("member_index and member_count must be given together")
        if self.member_index is not None and self.member_count is not None:
            if self.member_index >= self.member_count:
                raise ValueError(
                    f"member_index ({self.member_index}) must be below member_count ({self.member_count})"
                )
            if self.partitions is not None:
                raise ValueError("give either partitions or member_index/member_count, not both")
        return self
