"""Import an optional dependency on first use, turning its absence into ``MissingExtraError``.

Why: ``import pyflymq_serde`` must not import fastavro, protobuf, jsonschema or cryptography (they are
pip extras, and slow to import).  Every codec imports its dependency through :func:`require` when it
is constructed, so a missing package surfaces as one clear error naming the extra to install,
whether the codec was built directly or looked up by name in the plugin registry.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from pyflymq_core.plugins.registry import missing_extra

__all__ = ["require"]


def require(module: str, *, extra: str, feature: str) -> ModuleType:
    """Import ``module`` or raise ``MissingExtraError`` telling how to install ``pyflymq[extra]``.

    Only the absence of ``module`` itself (or one of its parent packages) is translated; any other
    import failure inside it is a real bug in that installation and propagates unchanged.
    """
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        missing = exc.name or module
        if missing == module or module.startswith(missing + "."):
            raise missing_extra(feature, extra, missing) from exc
        raise
