"""The plugin host: finding, loading and isolating plugins.

Built-in plugins and third-party ones arrive the same way: entry points in the ``stylecap``
group. Each is imported and registered on its own, so one broken plugin is reported (on
stderr, and by ``stylecap plugins``) and skipped while everything else keeps working. A plugin
that builds on another names it in a module attribute, ``requires = ("captions",)``: without
that plugin it is skipped with a message that names it, rather than failing later.

Environment:
  ``STYLECAP_LOAD_PLUGINS``    comma-separated allowlist of plugin names (empty: load none)
  ``STYLECAP_DISABLE_PLUGINS`` comma-separated blocklist
  ``STYLECAP_STRICT_PLUGINS=1`` raise on the first broken plugin instead of skipping it
  ``STYLECAP_DEBUG=1``         print the traceback of every plugin failure
"""

from __future__ import annotations

import difflib
import importlib.metadata
import os
import sys
import time
import traceback
from dataclasses import dataclass, field
from typing import Any

import pluggy

from . import hookspecs
from .component import Component
from .errors import PluginError, UsageError, debug
from .kinds import KINDS
from .registry import Entry, PluginInfo, Registry

GROUP = "stylecap"
BUILTIN_DISTRIBUTION = "stylecap"
SLOW_IMPORT_S = 10.0
"""A plugin whose import takes longer than this is reported on stderr (``stylecap plugins`` shows every time)."""


@dataclass
class PluginRecord:
    """One plugin as ``stylecap plugins`` shows it; ``error`` is set when it was skipped."""

    info: PluginInfo
    module: str
    hooks: list[str] = field(default_factory=list)
    requires: tuple[str, ...] = ()
    error: str | None = None
    import_s: float | None = None
    """Seconds its module took to import (None: registered in-process, not imported by the host)."""

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.info.name,
            "distribution": self.info.distribution,
            "version": self.info.version,
            "module": self.module,
            "hooks": self.hooks,
            "requires": list(self.requires),
            "error": self.error,
        }


def _env_names(var: str) -> set[str] | None:
    value = os.environ.get(var)
    if value is None:
        return None
    return {n.strip() for n in value.split(",") if n.strip()}


class PluginHost:
    """A pluggy manager plus the registries built from its plugins."""

    def __init__(self, *, strict: bool | None = None):
        self.strict = os.environ.get("STYLECAP_STRICT_PLUGINS", "") not in ("", "0") if strict is None else strict
        self.pm = pluggy.PluginManager(GROUP)
        self.pm.add_hookspecs(hookspecs)
        self._records: dict[str, PluginRecord] = {}
        self._absent: dict[str, str] = {}  # plugin name -> why it is not loaded (disabled, not allowed)
        self._registries: dict[str, Registry] | None = None

    # -- loading -------------------------------------------------------------------------

    def load_entry_points(self) -> None:
        """Import every ``stylecap`` entry point allowed by the environment, built-ins first."""
        allow = _env_names("STYLECAP_LOAD_PLUGINS")
        block = _env_names("STYLECAP_DISABLE_PLUGINS") or set()
        eps = importlib.metadata.entry_points(group=GROUP)

        def order(ep: importlib.metadata.EntryPoint) -> tuple[bool, str]:
            dist = ep.dist.name if ep.dist else ""
            return (dist != BUILTIN_DISTRIBUTION, ep.name)

        for ep in sorted(eps, key=order):
            if ep.name in block:
                self._absent[ep.name] = "disabled by STYLECAP_DISABLE_PLUGINS"
                continue
            if allow is not None and ep.name not in allow:
                self._absent[ep.name] = "not in STYLECAP_LOAD_PLUGINS"
                continue
            info = PluginInfo(ep.name, ep.dist.name if ep.dist else None, ep.dist.version if ep.dist else None)
            start = time.perf_counter()
            try:
                plugin = ep.load()
            except KeyboardInterrupt:
                raise
            except BaseException as e:  # any import failure (a sys.exit() too) must not take the CLI down
                record = PluginRecord(info, ep.value, import_s=time.perf_counter() - start)
                self._fail(record, f"failed to import {ep.value}: {_describe_error(e)}", e)
                continue
            took = time.perf_counter() - start
            record = self.register(plugin, info)
            record.import_s = took
            if took > SLOW_IMPORT_S:
                print(
                    f"stylecap: warning: plugin {info.name!r} ({info.origin}) took {took:.1f} s to import "
                    f"(`stylecap plugins` shows every plugin's time; STYLECAP_DISABLE_PLUGINS={info.name} skips it)",
                    file=sys.stderr,
                )

    def register(self, plugin: Any, info: PluginInfo | str) -> PluginRecord:
        """Add a plugin object (usually a module) under ``info``; invalid ones are skipped."""
        if isinstance(info, str):
            info = PluginInfo(info)
        record = PluginRecord(info, getattr(plugin, "__name__", type(plugin).__name__))
        if info.name in self._records:
            self._fail(record, f"a plugin named {info.name!r} is already loaded")
            return record
        try:
            self.pm.register(plugin, name=info.name)
        except Exception as e:
            self._fail(record, f"failed to register: {e}")
            return record
        self._records[info.name] = record
        unknown = [hc.name for hc in self.pm.get_hookcallers(plugin) or [] if not hc.has_spec()]
        if unknown:
            self.pm.unregister(plugin)
            close = difflib.get_close_matches(unknown[0], [k.hook for k in KINDS.values()] + ["register_commands"], n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            self._fail(record, f"implements unknown hook {unknown[0]!r}{hint}")
            return record
        record.hooks = sorted(hc.name for hc in self.pm.get_hookcallers(plugin) or [])
        record.requires = tuple(getattr(plugin, "requires", ()))
        self._registries = None
        return record

    def unregister(self, name: str) -> None:
        self.pm.unregister(name=name)
        self._records.pop(name, None)
        self._registries = None

    def _fail(self, record: PluginRecord, message: str, error: BaseException | None = None) -> None:
        record.error = message
        self._records.setdefault(record.info.name, record)
        text = f"plugin {record.info.name!r} ({record.info.origin}) {message}"
        if error is not None and debug():
            sys.stderr.write("".join(traceback.format_exception(type(error), error, error.__traceback__)))
        if self.strict:
            raise PluginError(text, "fix or uninstall that plugin, or unset STYLECAP_STRICT_PLUGINS")
        hint = "" if error is None or debug() else " (STYLECAP_DEBUG=1 shows the traceback)"
        print(f"stylecap: warning: {text}; skipped{hint}", file=sys.stderr)
        if self.pm.has_plugin(record.info.name):
            self.pm.unregister(name=record.info.name)
        self._registries = None

    # -- what the plugins provide --------------------------------------------------------

    def plugins(self) -> list[PluginRecord]:
        if self._registries is None:
            self._build()  # registration errors show up in the records too
        return sorted(self._records.values(), key=lambda r: r.info.name)

    def registry(self, kind: str) -> Registry:
        if self._registries is None:
            self._build()
        try:
            return self._registries[kind]
        except KeyError:
            kinds = ", ".join(KINDS)
            raise UsageError(f"unknown component kind {kind!r}", f"use one of {kinds}") from None

    def call_each(self, hook: str, **kwargs: Any) -> None:
        """Call every plugin's ``hook`` separately so that one failure skips only that plugin (and a plugin
        already skipped, for want of another, is not called)."""
        failed = {r.info.name for r in self.plugins() if r.error}
        for impl in getattr(self.pm.hook, hook).get_hookimpls():
            if impl.plugin_name in failed:
                continue
            try:
                impl.function(**kwargs)
            except KeyboardInterrupt:
                raise
            except BaseException as e:
                self._fail(self._records[impl.plugin_name], f"failed in {hook}: {_describe_error(e)}", e)

    def _missing(self, record: PluginRecord) -> str | None:
        """Why a plugin this one requires is not there, or None if all are."""
        for need in record.requires:
            other = self._records.get(need)
            if other is None:
                why = self._absent.get(need, "not installed")
                return f"needs plugin {need!r}, which is {why}"
            if other.error:
                return f"needs plugin {need!r}, which failed to load"
        return None

    def _build(self) -> None:
        registries = {kind: Registry(kind) for kind in KINDS}
        failed = True
        while failed:  # a plugin skipped for want of another can leave a third without its own
            failed = False
            for name, record in list(self._records.items()):
                missing = None if record.error or not self.pm.has_plugin(name) else self._missing(record)
                if missing:
                    self._fail(record, missing)
                    failed = True
        for name, record in list(self._records.items()):
            if record.error or not self.pm.has_plugin(name):
                continue
            added: list[Entry] = []
            hook = None
            try:
                for kind in KINDS.values():
                    hook = kind.hook
                    register = self._registrar(registries[kind.name], record.info, added)
                    for impl in getattr(self.pm.hook, kind.hook).get_hookimpls():
                        if impl.plugin_name == name:
                            impl.function(register=register)
            except KeyboardInterrupt:
                raise
            except BaseException as e:
                for entry in added:  # all or nothing: a half-registered plugin is confusing
                    registries[entry.kind].remove(entry.name)
                self._fail(record, f"failed in {hook}: {_describe_error(e)}", e)
        self._registries = registries

    @staticmethod
    def _registrar(registry: Registry, info: PluginInfo, added: list[Entry]):
        """The ``register`` callback handed to one plugin's hook for one kind."""
        base = KINDS[registry.kind].base

        def register(cls: type) -> None:
            if not (isinstance(cls, type) and issubclass(cls, base)):
                raise PluginError(f"{cls!r} registered as a {registry.kind} is not a subclass of {base.__name__}")
            if not getattr(cls, "name", None):
                raise PluginError(f"{cls.__name__} has no name", "set the class attribute `name`")
            entry = Entry(registry.kind, cls.name, cls, info)
            registry.add(entry)
            added.append(entry)

        return register


def _describe_error(e: BaseException) -> str:
    """``Type: message``; stylecap's own errors (already worded for users) without the type."""
    if isinstance(e, PluginError):
        return str(e)
    if isinstance(e, SystemExit):
        return f"SystemExit({e.code!r}): the module called sys.exit() or exit()"
    return f"{type(e).__name__}: {e}"


_host: PluginHost | None = None


def host() -> PluginHost:
    """The process-wide plugin host, loaded from entry points on first use."""
    global _host
    if _host is None:
        _host = PluginHost()
        _host.load_entry_points()
    return _host


def reset() -> None:
    """Forget loaded plugins (tests use this after changing the environment)."""
    global _host
    _host = None


def registry(kind: str) -> Registry:
    return host().registry(kind)


def list_components(kind: str | None = None) -> list[Entry]:
    kinds = [kind] if kind else list(KINDS)
    return [e for k in kinds for e in registry(k).entries()]


def create(kind: str, name: str, config: Any = None, **values: Any) -> Component:
    """Build a registered component: ``create("style", "gatys", steps=200)``."""
    return registry(kind).create(name, config, **values)
