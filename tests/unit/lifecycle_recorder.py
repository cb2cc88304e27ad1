"""A lifecycle-hook plugin that records what it observes (shared by the sync and asyncio client tests)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from pyflymq_core.plugins import get_plugin_manager, hookimpl


class Recorder:
    """Records ``("connected", server)``, ``("before", op)``, ``("after", (op, resp_op, error type))``
    and ``("closed", None)`` in order."""

    def __init__(self) -> None:
        self.events: list[tuple[str, Any]] = []

    @hookimpl
    def pyflymq_client_connected(self, client: Any, server: str) -> None:
        self.events.append(("connected", server))

    @hookimpl
    def pyflymq_before_request(self, client: Any, op: int, payload_size: int) -> None:
        self.events.append(("before", op))

    @hookimpl
    def pyflymq_after_response(
        self, client: Any, op: int, resp_op: int | None, elapsed_s: float, error: BaseException | None
    ) -> None:
        self.events.append(("after", (op, resp_op, type(error).__name__ if error else None)))

    @hookimpl
    def pyflymq_client_closed(self, client: Any) -> None:
        self.events.append(("closed", None))


@contextmanager
def recording() -> Iterator[Recorder]:
    """A :class:`Recorder` registered as a plugin for the duration of the ``with`` block."""
    plugin = Recorder()
    manager = get_plugin_manager()
    manager.register(plugin, name="test-recorder")
    try:
        yield plugin
    finally:
        manager.unregister(name="test-recorder")
