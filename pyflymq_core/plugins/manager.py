"""Builds the pluggy plugin manager and the registries, lazily, at first use.

Nothing happens at import time: the manager is built by the first :func:`get_plugin_manager`
(normally from the first ``connect()``), so ``import pyflymq`` never scans installed distributions.

Which plugins load is controlled by the ``PYFLYMQ_PLUGINS`` environment variable, read when the
manager is built:

* unset: every ``pyflymq`` entry point of every installed distribution, built-ins included (they are
  declared as entry points of the ``pyflymq`` distribution, exactly like third-party plugins);
* ``""`` (empty): only the built-in plugins, imported directly: hermetic tests;
* ``"a,b"``: the built-ins plus the entry points named ``a`` and ``b``.

Built-ins missing from the entry points (e.g. a source checkout that was never pip-installed) are
imported directly in every mode, so the SDK always has its transports and codecs.
"""

from __future__ import annotations

import importlib
import logging
import os
import threading
from dataclasses import dataclass, field
from typing import Any

import pluggy

from pyflymq_core.errors import ConfigurationError, FlyMQError
from pyflymq_core.plugins import hookspecs
from pyflymq_core.plugins.hookspecs import LIFECYCLE_HOOKS, PROJECT_NAME
from pyflymq_core.plugins.registry import PluginRegistry, Registry

__all__ = [
    "BUILTIN_PLUGINS",
    "ENTRY_POINT_GROUP",
    "ENV_VAR",
    "Lifecycle",
    "PluginInfo",
    "get_lifecycle",
    "get_plugin_manager",
    "get_registry",
    "list_plugins",
    "reset_plugins",
]

logger = logging.getLogger("pyflymq.plugins")

#: Entry-point group scanned for plugins.
ENTRY_POINT_GROUP = PROJECT_NAME
#: Environment variable selecting which entry points load (see the module docstring).
ENV_VAR = "PYFLYMQ_PLUGINS"
#: Built-in plugins: entry-point name -> module.  Registered first, in this order.
BUILTIN_PLUGINS: dict[str, str] = {
    "transports": "pyflymq_transports.plugin",
    "serde": "pyflymq_serde.plugin",
}
_SELF_DISTRIBUTION = "pyflymq"

_REGISTRATION_HOOKS: tuple[tuple[str, str], ...] = (
    ("pyflymq_register_transports", "transports"),
    ("pyflymq_register_codecs", "codecs"),
    ("pyflymq_register_encryptors", "encryptors"),
)


class Lifecycle:
    """Front door of the lifecycle hooks for the client hot path.

    ``active`` is a plain attribute kept up to date whenever a plugin is (un)registered, so a client
    pays one attribute read per request when no plugin observes it::

        lifecycle = get_lifecycle()
        if lifecycle.active:
            lifecycle.before_request(client, op, len(payload))

    A failing observer must not break messaging: exceptions raised by lifecycle hook
    implementations are logged (with traceback, logger ``pyflymq_core.plugins.manager``) and not
    propagated.
    """

    __slots__ = ("_hook", "active")

    def __init__(self, hook: pluggy.HookRelay) -> None:
        self._hook = hook
        self.active = False

    def refresh(self) -> None:
        """Recompute :attr:`active` from the currently registered implementations."""
        self.active = any(getattr(self._hook, name).get_hookimpls() for name in LIFECYCLE_HOOKS)

    def _call(self, name: str, **kwargs: Any) -> None:
        try:
            getattr(self._hook, name)(**kwargs)
        except Exception:
            logger.exception("pyflymq lifecycle hook %s raised; the client carries on", name)

    def client_connected(self, client: Any, server: str) -> None:
        """Call ``pyflymq_client_connected`` on every plugin."""
        self._call("pyflymq_client_connected", client=client, server=server)

    def client_closed(self, client: Any) -> None:
        """Call ``pyflymq_client_closed`` on every plugin."""
        self._call("pyflymq_client_closed", client=client)

    def before_request(self, client: Any, op: int, payload_size: int) -> None:
        """Call ``pyflymq_before_request`` on every plugin."""
        self._call("pyflymq_before_request", client=client, op=op, payload_size=payload_size)

    def after_response(
        self, client: Any, op: int, resp_op: int | None, elapsed_s: float, error: BaseException | None
    ) -> None:
        """Call ``pyflymq_after_response`` on every plugin."""
        self._call(
            "pyflymq_after_response", client=client, op=op, resp_op=resp_op, elapsed_s=elapsed_s, error=error
        )


class _PluginManager(pluggy.PluginManager):
    """A pluggy manager that counts changes, so registries and the lifecycle flag follow
    plugins registered or removed at run time (e.g. a metrics plugin registered by the app)."""

    def __init__(self) -> None:
        super().__init__(PROJECT_NAME)
        self.add_hookspecs(hookspecs)
        self.generation = 0
        self.lifecycle = Lifecycle(self.hook)
        #: plugin name -> (distribution name, version) for plugins not loaded via entry points.
        self.direct_distributions: dict[str, tuple[str | None, str | None]] = {}

    def register(self, plugin: object, name: str | None = None) -> str | None:
        result = super().register(plugin, name)
        self._changed()
        return result

    def unregister(self, plugin: object | None = None, name: str | None = None) -> Any | None:
        result = super().unregister(plugin, name)
        self._changed()
        return result

    def _changed(self) -> None:
        self.generation += 1
        self.lifecycle.refresh()


@dataclass(frozen=True)
class PluginInfo:
    """What ``pyflymq plugins`` shows about one plugin."""

    name: str
    module: str
    distribution: str | None
    version: str | None
    builtin: bool
    registered: dict[str, list[str]] = field(default_factory=dict)
    hooks: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "name": self.name,
            "module": self.module,
            "distribution": self.distribution,
            "version": self.version,
            "builtin": self.builtin,
            "registered": {kind: list(names) for kind, names in self.registered.items()},
            "hooks": list(self.hooks),
        }


# --------------------------------------------------------------------------- state

_lock = threading.RLock()
_pm: _PluginManager | None = None
_loading = False
#: (registry, manager generation it was built from), swapped as one object for lock-free reads.
_registry_state: tuple[PluginRegistry, int] | None = None


def _own_version() -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(_SELF_DISTRIBUTION)
    except PackageNotFoundError:
        logger.debug("distribution %r is not installed; built-in plugins show no version", _SELF_DISTRIBUTION)
        return None


def _register_builtins(pm: _PluginManager) -> None:
    """Import and register the built-in plugins the entry points did not provide."""
    for name, module_name in BUILTIN_PLUGINS.items():
        if pm.is_blocked(name):
            continue
        module = importlib.import_module(module_name)
        existing = pm.get_plugin(name)
        if existing is module:
            continue
        if existing is not None:
            owner = getattr(existing, "__name__", None) or repr(existing)
            raise ConfigurationError(
                f"the plugin name {name!r} is reserved for pyflymq's built-in {module_name}, "
                f"but {owner} was registered under it",
                hint="Rename that plugin's entry point (in its distribution's pyproject.toml).",
            )
        pm.register(module, name=name)
        pm.direct_distributions[name] = (_SELF_DISTRIBUTION, _own_version())


def _first_unloaded(pm: _PluginManager, only: str | None) -> str:
    """Describe the entry point that most likely failed: the first one not registered."""
    from importlib.metadata import entry_points

    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if only is not None and ep.name != only:
            continue
        if pm.has_plugin(ep.name) or pm.is_blocked(ep.name):
            continue
        dist = getattr(ep, "dist", None)
        dist_name = dist.metadata["Name"] if dist is not None else "unknown distribution"
        return f"{ep.name!r} ({ep.value}, from {dist_name})"
    return repr(only) if only is not None else "unknown"


def _load_entry_points(pm: _PluginManager, only: str | None) -> int:
    try:
        return pm.load_setuptools_entrypoints(ENTRY_POINT_GROUP, only)
    except FlyMQError:
        raise
    except Exception as exc:
        culprit = _first_unloaded(pm, only)
        raise ConfigurationError(
            f"the pyflymq plugin {culprit} failed to load: {type(exc).__name__}: {exc}",
            hint=f"Fix or uninstall that plugin, or set {ENV_VAR} to a comma-separated list of the "
            f"plugins to load ({ENV_VAR}= loads only the built-ins).",
        ) from exc


def _available_entry_points() -> list[str]:
    from importlib.metadata import entry_points

    return sorted({ep.name for ep in entry_points(group=ENTRY_POINT_GROUP)})


def _build_manager(selection: str | None) -> _PluginManager:
    pm = _PluginManager()
    if selection is None:
        _load_entry_points(pm, None)
    else:
        _register_builtins(pm)
        for name in (part.strip() for part in selection.split(",")):
            if not name or pm.has_plugin(name):
                continue
            if _load_entry_points(pm, name) == 0:
                available = ", ".join(_available_entry_points()) or "none"
                raise ConfigurationError(
                    f"{ENV_VAR} names the plugin {name!r}, but no installed distribution has a "
                    f"{ENTRY_POINT_GROUP!r} entry point of that name; installed: {available}",
                    hint=f"Fix {ENV_VAR} or install the plugin's distribution.",
                )
    _register_builtins(pm)
    logger.debug("pyflymq plugins loaded: %s", ", ".join(name for name, _ in pm.list_name_plugin()))
    return pm


def get_plugin_manager() -> pluggy.PluginManager:
    """The process-wide plugin manager, built on first call (thread-safe).

    Register an extra plugin object at run time with ``get_plugin_manager().register(obj)``;
    registries and lifecycle dispatch pick it up on their next use.
    """
    return _manager()


def _manager() -> _PluginManager:
    global _pm, _loading
    pm = _pm
    if pm is not None:
        return pm
    with _lock:
        if _pm is None:
            if _loading:
                raise ConfigurationError(
                    "a pyflymq plugin asked for the plugin manager while plugins were still loading",
                    hint="Plugins must not call get_plugin_manager()/get_registry() at import time.",
                )
            _loading = True
            try:
                _pm = _build_manager(os.environ.get(ENV_VAR))
            finally:
                _loading = False
        return _pm


def get_lifecycle() -> Lifecycle:
    """The lifecycle dispatcher (``.active`` is False when no plugin observes clients)."""
    return _manager().lifecycle


def _ordered_plugins(pm: _PluginManager) -> list[tuple[str, object]]:
    """Built-ins first (in :data:`BUILTIN_PLUGINS` order), then the others by name."""
    plugins = [(name, plugin) for name, plugin in pm.list_name_plugin() if plugin is not None]
    builtin_order = {name: index for index, name in enumerate(BUILTIN_PLUGINS)}
    return sorted(plugins, key=lambda item: (builtin_order.get(item[0], len(builtin_order)), item[0]))


def _distributions(pm: _PluginManager) -> dict[str, tuple[str | None, str | None]]:
    """plugin name -> (distribution name, version)."""
    result = dict(pm.direct_distributions)
    for plugin, dist in pm.list_plugin_distinfo():
        name = pm.get_name(plugin)
        if name is not None:
            result[name] = (dist.metadata["Name"], dist.version)
    return result


def _build_registry(pm: _PluginManager) -> PluginRegistry:
    registry = PluginRegistry()
    distributions = _distributions(pm)
    impls = {
        hook_name: {impl.plugin_name: impl for impl in getattr(pm.hook, hook_name).get_hookimpls()}
        for hook_name, _ in _REGISTRATION_HOOKS
    }
    for plugin_name, _plugin in _ordered_plugins(pm):
        dist_name = distributions.get(plugin_name, (None, None))[0]
        for hook_name, attr in _REGISTRATION_HOOKS:
            impl = impls[hook_name].get(plugin_name)
            if impl is None:
                continue
            if impl.hookwrapper or impl.wrapper:
                raise ConfigurationError(
                    f"plugin {plugin_name!r} implements {hook_name} as a wrapper",
                    hint="Registration hooks must be plain @hookimpl functions.",
                )
            callback = _make_register(registry, attr, plugin_name, dist_name)
            try:
                impl.function(**{arg: callback for arg in impl.argnames})
            except FlyMQError:
                raise
            except Exception as exc:
                raise ConfigurationError(
                    f"plugin {plugin_name!r} failed in {hook_name}: {type(exc).__name__}: {exc}",
                    hint=f"Fix or uninstall that plugin, or leave it out with {ENV_VAR}.",
                ) from exc
    return registry


def _make_register(registry: PluginRegistry, attr: str, plugin_name: str, dist_name: str | None) -> Any:
    """The ``register`` callback one plugin receives for one registration hook."""
    if attr == "transports":

        def register_transport(
            name: str,
            factory: Any,
            *,
            extra: str | None = None,
            description: str = "",
            replace: bool = False,
            asynchronous: bool = False,
        ) -> None:
            target = registry.async_transports if asynchronous else registry.transports
            target.add(
                name,
                factory,
                plugin=plugin_name,
                distribution=dist_name,
                extra=extra,
                description=description,
                replace=replace,
            )

        return register_transport

    target: Registry[Any] = getattr(registry, attr)

    def register(
        name: str, factory: Any, *, extra: str | None = None, description: str = "", replace: bool = False
    ) -> None:
        target.add(
            name,
            factory,
            plugin=plugin_name,
            distribution=dist_name,
            extra=extra,
            description=description,
            replace=replace,
        )

    return register


def get_registry() -> PluginRegistry:
    """The registries filled by every loaded plugin (rebuilt when plugins change)."""
    global _registry_state
    pm = _manager()
    state = _registry_state
    if state is not None and state[1] == pm.generation:
        return state[0]
    with _lock:
        state = _registry_state
        if state is None or state[1] != pm.generation:
            state = (_build_registry_once(pm), pm.generation)
            _registry_state = state
        return state[0]


def _build_registry_once(pm: _PluginManager) -> PluginRegistry:
    """Build the registry, refusing re-entry from a plugin's registration hook."""
    global _loading
    if _loading:
        raise ConfigurationError(
            "a pyflymq plugin asked for the registry while the registry was being built",
            hint="Registration hooks must only call register(); look factories up later, when used.",
        )
    _loading = True
    try:
        generation = pm.generation
        registry = _build_registry(pm)
        if pm.generation != generation:
            raise ConfigurationError(
                "a pyflymq plugin registered or removed plugins from inside a registration hook",
                hint="Register plugins before the first connect(), not from within hooks.",
            )
        return registry
    finally:
        _loading = False


def list_plugins() -> list[PluginInfo]:
    """Every loaded plugin with its distribution, whether it is built in, and what it registered."""
    pm = _manager()
    by_plugin = get_registry().by_plugin()
    distributions = _distributions(pm)
    infos = []
    for name, plugin in _ordered_plugins(pm):
        dist_name, version = distributions.get(name, (None, None))
        hooks = sorted(caller.name for caller in pm.get_hookcallers(plugin) or [])
        module = (
            getattr(plugin, "__name__", None) or type(plugin).__module__ + "." + type(plugin).__qualname__
        )
        infos.append(
            PluginInfo(
                name=name,
                module=module,
                distribution=dist_name,
                version=version,
                builtin=BUILTIN_PLUGINS.get(name) == module,
                registered=by_plugin.get(name, {}),
                hooks=hooks,
            )
        )
    return infos


def reset_plugins() -> None:
    """Forget the manager and registries; the next use rebuilds them (re-reading ``PYFLYMQ_PLUGINS``).

    For tests.  Clients that already hold a :class:`Lifecycle` keep the old one.
    """
    global _pm, _registry_state
    with _lock:
        _pm = None
        _registry_state = None
