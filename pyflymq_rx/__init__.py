"""pyflymq_rx: reactive streams over the FlyMQ clients (pip extra ``rx``: reactivex).

* :class:`ReactiveConsumer` — ``consumer.messages()`` is an Observable of
  :class:`~pyflymq_core.models.ConsumedMessage`; ``start()``/``stop()``.  Needs ``reactivex``.
* :class:`ReactiveProducer` — ``source.pipe(producer.publish())`` maps values to
  :class:`~pyflymq_core.models.RecordMetadata`.  Needs ``reactivex``.
* :class:`AsyncReactiveConsumer` — ``async with AsyncReactiveConsumer(client, topic, group) as c:
  async for message in c``.  Pure asyncio (works without ``reactivex``).

Backpressure everywhere is a bounded buffer with a policy (:class:`Backpressure`: ``block`` the fetch
loop, ``drop_oldest``, or ``error``); see docs/reactive.md.

Importing this package imports nothing heavy; a name that needs ``reactivex`` when it is not
installed raises :class:`~pyflymq_core.errors.MissingExtraError` naming ``pyflymq[rx]``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pyflymq_rx.aio import AsyncReactiveConsumer
    from pyflymq_rx.backpressure import Backpressure
    from pyflymq_rx.consumer import ReactiveConsumer
    from pyflymq_rx.producer import ReactiveProducer

__all__ = ["AsyncReactiveConsumer", "Backpressure", "ReactiveConsumer", "ReactiveProducer"]

#: name -> (module, needs reactivex)
_EXPORTS: dict[str, tuple[str, bool]] = {
    "ReactiveConsumer": ("pyflymq_rx.consumer", True),
    "ReactiveProducer": ("pyflymq_rx.producer", True),
    "AsyncReactiveConsumer": ("pyflymq_rx.aio", False),
    "Backpressure": ("pyflymq_rx.backpressure", False),
}


def __getattr__(name: str) -> Any:
    entry = _EXPORTS.get(name)
    if entry is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module_name, needs_rx = entry
    if needs_rx:
        from pyflymq_rx._deps import require_reactivex

        require_reactivex(f"pyflymq.{name}")
    value = getattr(importlib.import_module(module_name), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
