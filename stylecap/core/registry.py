"""Name -> component class, one registry per kind, each entry remembering its plugin."""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Any

from . import config as config_mod
from .component import Component
from .errors import PluginError, UnknownComponentError
from .kinds import KINDS


@dataclass(frozen=True)
class PluginInfo:
    """Where components come from: a plugin name and, if installed, its distribution."""

    name: str
    distribution: str | None = None
    version: str | None = None

    @property
    def origin(self) -> str:
        if self.distribution:
            return f"{self.distribution} {self.version or ''}".strip()
        return f"plugin {self.name}"


@dataclass(frozen=True)
class Entry:
    kind: str
    name: str
    cls: type[Component]
    plugin: PluginInfo

    @property
    def label(self) -> str:
        return f"{KINDS[self.kind].label} {self.name!r}"

    def build_config(self, values: dict[str, Any] | None = None) -> Any:
        return config_mod.build(self.cls.Config, values or {}, owner=self.label)

    def create(self, config: Any = None, **values: Any) -> Component:
        """Make the component from a ready ``Config`` or from field values (strings allowed)."""
        if config is None:
            config = self.build_config(values)
        elif values:
            raise TypeError("pass either a config object or field values, not both")
        return self.cls(config)

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "name": self.name,
            "description": self.cls.describe(),
            "plugin": self.plugin.name,
            "distribution": self.plugin.distribution,
            "version": self.plugin.version,
        }


class Registry:
    """The components of one kind. ``get``/``create`` fail with close matches on a typo."""

    def __init__(self, kind: str):
        self.kind = kind
        self._entries: dict[str, Entry] = {}

    def add(self, entry: Entry) -> None:
        old = self._entries.get(entry.name)
        if old is not None:
            raise PluginError(
                f"{entry.label} is registered twice: by {old.plugin.origin} and by {entry.plugin.origin}",
                "uninstall or disable one of them (STYLECAP_DISABLE_PLUGINS=name)",
            )
        self._entries[entry.name] = entry

    def remove(self, name: str) -> None:
        del self._entries[name]

    def names(self) -> list[str]:
        return sorted(self._entries)

    def entries(self) -> list[Entry]:
        return [self._entries[n] for n in self.names()]

    def __contains__(self, name: str) -> bool:
        return name in self._entries

    def get(self, name: str) -> Entry:
        try:
            return self._entries[name]
        except KeyError:
            pass
        label = KINDS[self.kind].label
        if not self._entries:
            raise UnknownComponentError(
                f"unknown {label} {name!r}: no {label}s are installed",
                "install a plugin that provides one (see `stylecap plugins`)",
            )
        close = difflib.get_close_matches(name, self.names(), n=3, cutoff=0.5)
        hint = f"did you mean {' or '.join(repr(c) for c in close)}? " if close else ""
        raise UnknownComponentError(f"unknown {label} {name!r}", f"{hint}available: {', '.join(self.names())}")

    def create(self, name: str, config: Any = None, **values: Any) -> Component:
        return self.get(name).create(config, **values)
