"""stylecap: restyle pictures and say something about them. See docs/architecture.md."""

__version__ = "0.1.0"

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
