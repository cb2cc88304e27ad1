"""What the sync and asyncio clients share besides the operations: configuration, addresses,
transport options, the value seam and the metadata cache.  No I/O.

The value seam: every produced value goes through :meth:`ClientBase._encode_value` and every
consumed value through :meth:`ClientBase._decode_value` (the call builders receive
``_value_encoder``/``_value_decoder``, ``None`` when there is nothing to do, so hot loops skip the
call).  With ``encryption_enabled`` the transform is AES-256-GCM from :mod:`pyflymq_serde.values`, so
no produce or consume variant can bypass encryption.  DLQ records are returned as stored (their
payload is replayed verbatim by the server).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pyflymq_core.client.calls import ValueDecoder, ValueEncoder
from pyflymq_core.client.cluster import MetadataCache
from pyflymq_core.client.schema_guard import SchemaGuard
from pyflymq_core.config import ClientConfig
from pyflymq_core.errors import ConfigurationError
from pyflymq_transports.base import ServerAddress, TransportOptions, parse_address

__all__ = ["ClientBase", "build_config"]


def build_config(
    bootstrap_servers: Any,
    config: ClientConfig | None,
    username: str | None,
    password: str | None,
    options: Mapping[str, Any],
) -> ClientConfig:
    """The effective :class:`ClientConfig` from the constructor arguments.

    ``config`` is the base; ``bootstrap_servers``, ``username``, ``password`` and keyword options
    override it.  A :class:`ClientConfig` passed as the first argument is taken as ``config``.
    """
    if isinstance(bootstrap_servers, ClientConfig):
        if config is not None:
            raise ConfigurationError("pass the ClientConfig once (either positionally or as config=)")
        config, bootstrap_servers = bootstrap_servers, None
    if config is not None and not isinstance(config, ClientConfig):
        raise ConfigurationError(
            f"config must be a ClientConfig, got {type(config).__name__}",
            hint="Build it with pyflymq.ClientConfig(...), or pass the options as keywords.",
        )
    changes = dict(options)
    if bootstrap_servers is not None:
        changes["bootstrap_servers"] = bootstrap_servers
    if username is not None:
        changes["username"] = username
    if password is not None:
        changes["password"] = password
    if config is None:
        return ClientConfig(**changes)
    return config.with_options(**changes) if changes else config


class ClientBase:
    """Configuration-derived state common to every client flavour."""

    def __init__(self, config: ClientConfig) -> None:
        self._config = config
        default_scheme = "flymqs" if config.tls_enabled else "flymq"
        self._servers: list[ServerAddress] = [
            parse_address(server, default_scheme=default_scheme) for server in config.bootstrap_servers
        ]
        self._transport_options = TransportOptions(
            connect_timeout=config.connect_timeout,
            tls_ca_file=config.tls_ca_file,
            tls_cert_file=config.tls_cert_file,
            tls_key_file=config.tls_key_file,
            tls_insecure_skip_verify=config.tls_insecure_skip_verify,
            tls_server_hostname=config.tls_server_hostname,
        )
        self._metadata = MetadataCache(config.metadata_max_age_ms / 1000.0)
        self._schemas = SchemaGuard()
        self._compress = config.compression == "gzip"
        #: ``None`` while the value seam is the identity (skips a call per message on hot paths).
        self._value_encoder: ValueEncoder | None = None
        self._value_decoder: ValueDecoder | None = None
        if config.encryption_enabled:
            # The transform comes from pyflymq_serde (AES-256-GCM, FlyMQ's format; extra "crypto").
            from pyflymq_serde.values import value_transform_from_config

            transform = value_transform_from_config(config)
            if transform.enabled:
                self._value_encoder = transform.encode
                self._value_decoder = transform.decode

    @property
    def config(self) -> ClientConfig:
        """The configuration this client runs with (immutable)."""
        return self._config

    @property
    def bootstrap_servers(self) -> list[ServerAddress]:
        """The parsed bootstrap list."""
        return list(self._servers)

    def _encode_value(self, topic: str, value: bytes) -> bytes:
        """Seam applied to every produced value (encryption when configured)."""
        encoder = self._value_encoder
        return value if encoder is None else encoder(topic, value)

    def _decode_value(self, topic: str, partition: int, offset: int, value: bytes) -> bytes:
        """Seam applied to every consumed value (decryption when configured)."""
        decoder = self._value_decoder
        return value if decoder is None else decoder(topic, partition, offset, value)
