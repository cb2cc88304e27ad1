"""pyflymq's plugin system: pluggy hooks, entry-point discovery and the factory registries.

Write a plugin::

    from pyflymq_core.plugins import hookimpl

    @hookimpl
    def pyflymq_register_codecs(register):
        register("csv", "my_pkg.csv_codec:CsvCodec", description="comma-separated values")

and declare it in the plugin distribution's ``pyproject.toml``::

    [project.entry-points.pyflymq]
    my-plugin = "my_pkg.plugin"

Importing this package loads pluggy but does not scan installed distributions; that happens on
the first :func:`get_plugin_manager` / :func:`get_registry` call.
"""

from __future__ import annotations

from pyflymq_core.plugins.hookspecs import (
    LIFECYCLE_HOOKS,
    PROJECT_NAME,
    RegisterCallback,
    TransportRegisterCallback,
    hookimpl,
    hookspec,
)
from pyflymq_core.plugins.manager import (
    BUILTIN_PLUGINS,
    ENTRY_POINT_GROUP,
    ENV_VAR,
    Lifecycle,
    PluginInfo,
    get_lifecycle,
    get_plugin_manager,
    get_registry,
    list_plugins,
    reset_plugins,
)
from pyflymq_core.plugins.registry import (
    DEFAULT_SCHEME,
    PluginRegistry,
    Registration,
    Registry,
    missing_extra,
    split_scheme,
)

__all__ = [
    "BUILTIN_PLUGINS",
    "DEFAULT_SCHEME",
    "ENTRY_POINT_GROUP",
    "ENV_VAR",
    "LIFECYCLE_HOOKS",
    "PROJECT_NAME",
    "Lifecycle",
    "PluginInfo",
    "PluginRegistry",
    "RegisterCallback",
    "Registration",
    "Registry",
    "TransportRegisterCallback",
    "get_lifecycle",
    "get_plugin_manager",
    "get_registry",
    "hookimpl",
    "hookspec",
    "list_plugins",
    "missing_extra",
    "reset_plugins",
    "split_scheme",
]
