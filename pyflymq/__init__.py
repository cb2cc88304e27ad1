"""pyflymq: the Python client SDK for FlyMQ.

This module is a lazy facade (PEP 562): ``import pyflymq`` imports nothing else, and each public name
is imported from the package that implements it on first access.  That keeps ``import pyflymq``
cheap (no pydantic, no optional dependency) for CLIs and short scripts, while
``from pyflymq import FlyMQClient`` works as usual.

A name whose implementation needs an optional dependency that is not installed (``reactivex`` for
the reactive API, ``cryptography`` for encryption) raises
:class:`pyflymq.exceptions.MissingExtraError` naming the pip extra to install.
"""

from __future__ import annotations

import importlib

# Not ``typing.TYPE_CHECKING``: importing typing would cost this facade a few milliseconds, and
# mypy treats any constant named TYPE_CHECKING as true.
TYPE_CHECKING = False

__version__ = "0.1.0"

__all__ = [
    "AsyncFlyMQClient",
    "AsyncReactiveConsumer",
    "ClientConfig",
    "ConsumedMessage",
    "Consumer",
    "ConsumerConfig",
    "ConsumerGroup",
    "Encryptor",
    "FetchResult",
    "FlyMQClient",
    "HighLevelConsumer",
    "HighLevelProducer",
    "Producer",
    "ProducerConfig",
    "ReactiveConsumer",
    "ReactiveProducer",
    "RecordMetadata",
    "__version__",
    "connect",
    "connect_async",
    "exceptions",
    "generate_key",
]

#: public name -> module that defines it.
_EXPORTS: dict[str, str] = {
    "connect": "pyflymq_core.client.sync_client",
    "FlyMQClient": "pyflymq_core.client.sync_client",
    "connect_async": "pyflymq_core.client.async_client",
    "AsyncFlyMQClient": "pyflymq_core.client.async_client",
    "ClientConfig": "pyflymq_core.config",
    "ProducerConfig": "pyflymq_core.config",
    "ConsumerConfig": "pyflymq_core.config",
    "RecordMetadata": "pyflymq_core.models",
    "ConsumedMessage": "pyflymq_core.models",
    "FetchResult": "pyflymq_core.models",
    "HighLevelProducer": "pyflymq_core.producer",
    "Producer": "pyflymq_core.producer",
    "HighLevelConsumer": "pyflymq_core.consumer",
    "Consumer": "pyflymq_core.consumer",
    "ConsumerGroup": "pyflymq_core.consumer",
    "Encryptor": "pyflymq_serde.crypto",
    "generate_key": "pyflymq_serde.crypto",
    "ReactiveConsumer": "pyflymq_rx",
    "ReactiveProducer": "pyflymq_rx",
    "AsyncReactiveConsumer": "pyflymq_rx",
}

#: public submodules of this package, imported on attribute access.
_SUBMODULES = frozenset({"exceptions"})

#: module -> (pip extra, third-party top-level modules that extra provides).
_EXTRAS: dict[str, tuple[str, frozenset[str]]] = {
    "pyflymq_serde.crypto": ("crypto", frozenset({"cryptography"})),
    "pyflymq_rx": ("rx", frozenset({"reactivex"})),
}

if TYPE_CHECKING:
    # The "ignore[..., unused-ignore]" comments only cover modules still being written; remove them
    # once every module below exists (mypy then checks the names for real).
    from typing import Any

    from pyflymq import exceptions
    from pyflymq_core.client.async_client import AsyncFlyMQClient, connect_async  # type: ignore[import-not-found, attr-defined, unused-ignore]
    from pyflymq_core.client.sync_client import FlyMQClient, connect  # type: ignore[import-not-found, attr-defined, unused-ignore]
    from pyflymq_core.config import ClientConfig, ConsumerConfig, ProducerConfig  # type: ignore[import-not-found, attr-defined, unused-ignore]
    from pyflymq_core.consumer import Consumer, ConsumerGroup, HighLevelConsumer  # type: ignore[import-not-found, attr-defined, unused-ignore]
    from pyflymq_core.models import ConsumedMessage, FetchResult, RecordMetadata  # type: ignore[import-not-found, attr-defined, unused-ignore]
    from pyflymq_core.producer import HighLevelProducer, Producer  # type: ignore[import-not-found, attr-defined, unused-ignore]
    from pyflymq_rx import AsyncReactiveConsumer, ReactiveConsumer, ReactiveProducer  # type: ignore[import-not-found, attr-defined, unused-ignore]
    from pyflymq_serde.crypto import Encryptor, generate_key  # type: ignore[import-not-found, attr-defined, unused-ignore]


def _import(module_name: str, public_name: str) -> Any:
    """Import ``module_name``, turning a missing optional dependency into MissingExtraError."""
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        extra = _EXTRAS.get(module_name)
        missing = (exc.name or "").partition(".")[0]
        if extra is None or missing not in extra[1]:
            raise
        from pyflymq_core.plugins.registry import missing_extra

        raise missing_extra(f"pyflymq.{public_name}", extra[0], missing) from exc


def __getattr__(name: str) -> Any:
    module_name = _EXPORTS.get(name)
    if module_name is not None:
        value = getattr(_import(module_name, name), name)
    elif name in _SUBMODULES:
        value = importlib.import_module(f"{__name__}.{name}")
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value  # later accesses skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
