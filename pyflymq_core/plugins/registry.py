"""Typed registries that plugins fill: transports by URL scheme, codecs and encryptors by name.

A registration holds either a callable or a lazy ``"module:attr"`` string.  Lazy factories are
imported the first time they are looked up, which keeps ``connect()`` cheap and means a missing
optional dependency (``fastavro``, ``cryptography``, ...) only matters to the code that actually
uses the feature, and then as a :class:`~pyflymq_core.errors.MissingExtraError` naming the pip extra.

This module imports nothing outside the standard library and :mod:`pyflymq_core.errors`; pluggy
lives in :mod:`pyflymq_core.plugins.manager`.
"""

from __future__ import annotations

import importlib
import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from pyflymq_core.errors import ConfigurationError, MissingExtraError

__all__ = [
    "DEFAULT_SCHEME",
    "Factory",
    "PluginRegistry",
    "Registration",
    "Registry",
    "missing_extra",
    "split_scheme",
]

T = TypeVar("T")

#: A factory as given to ``register``: a callable, or a lazy ``"module:attr"`` import path.
Factory = Callable[..., Any] | str

#: Scheme used for bootstrap addresses without ``scheme://`` (``"localhost:9092"``).
DEFAULT_SCHEME = "flymq"

_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9+._-]*$")
_LAZY_RE = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")
_PLUGINS_HINT = "Run `pyflymq plugins` to see every installed plugin and what it registers."


def missing_extra(
    feature: str, extra: str, missing_module: str, *, distribution: str = "pyflymq"
) -> MissingExtraError:
    """Build the error for ``feature`` whose optional dependency ``missing_module`` is absent.

    The hint names the exact install command, ``pip install '<distribution>[<extra>]'``, so that a
    third-party plugin's extras point at that plugin's distribution rather than at pyflymq.
    """
    return MissingExtraError(
        f"{feature} needs the optional dependency {missing_module!r}, which is not installed",
        extra=extra,
        hint=f"Install it with: pip install '{distribution}[{extra}]'",
    )


def _is_module_or_parent(missing: str, module_name: str) -> bool:
    """True when ``missing`` is ``module_name`` itself or one of its parent packages."""
    return missing == module_name or module_name.startswith(missing + ".")


@dataclass
class Registration(Generic[T]):
    """One registered factory and where it came from (shown by ``pyflymq plugins``)."""

    kind: str
    name: str
    factory: Callable[..., T] | str
    plugin: str
    distribution: str | None = None
    extra: str | None = None
    description: str = ""
    _resolved: Callable[..., T] | None = field(default=None, repr=False, compare=False)

    @property
    def lazy(self) -> bool:
        """Whether the factory is still an unresolved ``"module:attr"`` string."""
        return isinstance(self.factory, str) and self._resolved is None

    @property
    def target(self) -> str:
        """Human-readable factory location (the lazy path, or the callable's qualified name)."""
        if isinstance(self.factory, str):
            return self.factory
        module = getattr(self.factory, "__module__", None) or "?"
        qualname = getattr(self.factory, "__qualname__", None) or repr(self.factory)
        return f"{module}:{qualname}"

    def load(self) -> Callable[..., T]:
        """Return the factory, importing a lazy one on first use (then cached)."""
        resolved = self._resolved
        if resolved is not None:
            return resolved
        if not isinstance(self.factory, str):
            return self.factory
        resolved = self._import()
        self._resolved = resolved
        return resolved

    def _describe(self) -> str:
        return f"{self.kind} {self.name!r} (plugin {self.plugin!r})"

    def _import(self) -> Callable[..., T]:
        assert isinstance(self.factory, str)
        module_name, _, attr_path = self.factory.partition(":")
        try:
            obj: Any = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            missing = exc.name or module_name
            if _is_module_or_parent(missing, module_name):
                raise ConfigurationError(
                    f"{self._describe()} points at {self.factory!r}, but module {module_name!r} "
                    "does not exist",
                    hint="The plugin is broken or only partly installed: reinstall its distribution. "
                    + _PLUGINS_HINT,
                ) from exc
            if self.extra is not None:
                raise missing_extra(
                    self._describe(), self.extra, missing, distribution=self.distribution or "pyflymq"
                ) from exc
            raise ConfigurationError(
                f"{self._describe()} needs the module {missing!r}, which is not installed",
                hint=f"Install the package that provides {missing!r}.",
            ) from exc
        except ImportError as exc:
            raise ConfigurationError(
                f"{self._describe()} could not be imported from {module_name!r}: {exc}",
                hint="An installed dependency may have an incompatible version. " + _PLUGINS_HINT,
            ) from exc
        for part in attr_path.split("."):
            try:
                obj = getattr(obj, part)
            except AttributeError as exc:
                raise ConfigurationError(
                    f"{self._describe()} points at {self.factory!r}, but {module_name!r} has no "
                    f"attribute {attr_path!r}",
                    hint="The plugin does not match the installed code: reinstall its distribution.",
                ) from exc
        if not callable(obj):
            raise ConfigurationError(
                f"{self._describe()} points at {self.factory!r}, which is not callable",
                hint="A factory must be a class or a function.",
            )
        factory: Callable[..., T] = obj
        return factory


class Registry(Generic[T]):
    """Name -> factory map for one kind of pluggable thing (e.g. codecs).

    Names are case-insensitive (stored lower-case).  Lookups of unknown names raise
    :class:`ConfigurationError` listing what is available.
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, Registration[T]] = {}
        self._lock = threading.Lock()

    def add(
        self,
        name: str,
        factory: Callable[..., T] | str,
        *,
        plugin: str,
        distribution: str | None = None,
        extra: str | None = None,
        description: str = "",
        replace: bool = False,
    ) -> Registration[T]:
        """Register ``factory`` under ``name``; see :class:`~.hookspecs.RegisterCallback`."""
        key = name.lower() if isinstance(name, str) else name
        if not isinstance(key, str) or not _NAME_RE.match(key):
            raise ConfigurationError(
                f"plugin {plugin!r} registered a {self.kind} with the invalid name {name!r}",
                hint="Names are lower-case letters, digits and '+', '.', '-', '_' (like URL schemes).",
            )
        if isinstance(factory, str):
            if not _LAZY_RE.match(factory):
                raise ConfigurationError(
                    f"plugin {plugin!r} registered {self.kind} {key!r} with the factory {factory!r}, "
                    "which is not a 'module:attr' path",
                    hint="Pass a callable, or a string like 'package.module:ClassName'.",
                )
        elif not callable(factory):
            raise ConfigurationError(
                f"plugin {plugin!r} registered {self.kind} {key!r} with a non-callable factory {factory!r}",
                hint="Pass a callable, or a string like 'package.module:ClassName'.",
            )
        if extra is not None and not re.match(r"^[A-Za-z0-9][A-Za-z0-9._-]*$", extra):
            raise ConfigurationError(
                f"plugin {plugin!r} registered {self.kind} {key!r} with the invalid extra {extra!r}",
                hint="An extra is the name in brackets of `pip install 'dist[extra]'`.",
            )
        entry: Registration[T] = Registration(
            kind=self.kind,
            name=key,
            factory=factory,
            plugin=plugin,
            distribution=distribution,
            extra=extra,
            description=description,
        )
        with self._lock:
            existing = self._entries.get(key)
            if existing is not None and not replace:
                raise ConfigurationError(
                    f"{self.kind} {key!r} is registered by both plugin {existing.plugin!r} "
                    f"and plugin {plugin!r}",
                    hint="Uninstall one of the plugins, select plugins with PYFLYMQ_PLUGINS, or have "
                    "the later plugin pass replace=True to override on purpose.",
                )
            self._entries[key] = entry
        return entry

    def names(self) -> list[str]:
        """Registered names, sorted."""
        return sorted(self._entries)

    def entries(self) -> list[Registration[T]]:
        """Registrations, sorted by name."""
        return [self._entries[name] for name in sorted(self._entries)]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._entries)

    def entry(self, name: str) -> Registration[T]:
        """The registration for ``name``; :class:`ConfigurationError` if there is none."""
        found = self._entries.get(name.lower())
        if found is None:
            available = ", ".join(self.names()) or "none"
            raise ConfigurationError(
                f"unknown {self.kind} {name!r}; available: {available}",
                hint="Check the spelling, or install a plugin that provides it. " + _PLUGINS_HINT,
            )
        return found

    def get(self, name: str) -> Callable[..., T]:
        """The (resolved) factory for ``name``."""
        return self.entry(name).load()

    def create(self, name: str, /, *args: Any, **kwargs: Any) -> T:
        """Call the factory for ``name`` with the given arguments."""
        return self.get(name)(*args, **kwargs)


def split_scheme(url: str, default: str = DEFAULT_SCHEME) -> tuple[str, str]:
    """Split ``"scheme://rest"`` into ``(scheme, rest)``; no ``://`` means ``default``.

    ``urllib.parse`` would read ``"localhost:9092"`` as scheme ``localhost``, hence this helper.
    """
    scheme, sep, rest = url.partition("://")
    if not sep:
        return default, url
    return scheme.lower(), rest


@dataclass
class PluginRegistry:
    """Every registry the plugins fill, plus who registered what."""

    transports: Registry[Any] = field(default_factory=lambda: Registry("transport"))
    async_transports: Registry[Any] = field(default_factory=lambda: Registry("async transport"))
    codecs: Registry[Any] = field(default_factory=lambda: Registry("codec"))
    encryptors: Registry[Any] = field(default_factory=lambda: Registry("encryptor"))

    def transport_for_url(self, url: str, *, asynchronous: bool = False) -> Callable[..., Any]:
        """The transport factory for ``url``'s scheme (``flymq`` when it has none)."""
        scheme, _ = split_scheme(url)
        registry = self.async_transports if asynchronous else self.transports
        return registry.get(scheme)

    def by_plugin(self) -> dict[str, dict[str, list[str]]]:
        """``{plugin: {kind: [names]}}`` over all registries."""
        result: dict[str, dict[str, list[str]]] = {}
        for registry in (self.transports, self.async_transports, self.codecs, self.encryptors):
            for entry in registry.entries():
                result.setdefault(entry.plugin, {}).setdefault(registry.kind, []).append(entry.name)
        return result
