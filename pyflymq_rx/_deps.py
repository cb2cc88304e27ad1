"""The ``reactivex`` dependency: imported on first use, its absence a clear ``MissingExtraError``."""

from __future__ import annotations

import importlib
from types import ModuleType

from pyflymq_core.plugins.registry import missing_extra

__all__ = ["require_reactivex"]


def require_reactivex(feature: str) -> ModuleType:
    """``reactivex``, or :class:`MissingExtraError` telling to ``pip install 'pyflymq[rx]'``.

    Only the absence of ``reactivex`` itself is translated; any other import failure inside it is a
    broken installation and propagates unchanged.
    """
    try:
        return importlib.import_module("reactivex")
    except ModuleNotFoundError as exc:
        if (exc.name or "reactivex").partition(".")[0] != "reactivex":
            raise
        raise missing_extra(feature, "rx", "reactivex") from exc
