"""stylecap: restyle pictures and say something about them. See docs/architecture.md.

The names below load on first use (``stylecap.Pipeline`` imports torch then), so ``import stylecap``
and ``stylecap --version`` stay instant.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_LAZY = {
    "CaptionBackend": "core.component",
    "Colour": "core.component",
    "Component": "core.component",
    "Condition": "core.component",
    "ConditionEncoder": "core.component",
    "Encoder": "core.component",
    "IMAGE": "core.component",
    "Loss": "core.component",
    "StyleBackend": "core.component",
    "Trainer": "core.component",
    "Weights": "core.component",
    "field": "core.config",
    "StylecapError": "core.errors",
    "hookimpl": "core.hookspecs",
    "create": "core.host",
    "list_components": "core.host",
    "registry": "core.host",
    "Pipeline": "core.pipeline",
    "Result": "core.pipeline",
    "TrainConfig": "core.training.config",
    "train": "core.training.engine",
}

__all__ = [
    "CaptionBackend",
    "Colour",
    "Component",
    "Condition",
    "ConditionEncoder",
    "Encoder",
    "IMAGE",
    "Loss",
    "Pipeline",
    "Result",
    "StyleBackend",
    "StylecapError",
    "TrainConfig",
    "Trainer",
    "Weights",
    "__version__",
    "create",
    "field",
    "hookimpl",
    "list_components",
    "registry",
    "train",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'stylecap' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value  # once looked up, a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


if TYPE_CHECKING:  # for type checkers and editors: the same names, imported eagerly
    from .core.component import (
        IMAGE,
        CaptionBackend,
        Colour,
        Component,
        Condition,
        ConditionEncoder,
        Encoder,
        Loss,
        StyleBackend,
        Trainer,
        Weights,
    )
    from .core.config import field
    from .core.errors import StylecapError
    from .core.hookspecs import hookimpl
    from .core.host import create, list_components, registry
    from .core.pipeline import Pipeline, Result
    from .core.training.config import TrainConfig
    from .core.training.engine import train
