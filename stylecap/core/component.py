"""What a plugin registers: component classes with a name, a ``Config`` and a known kind.

A component is made from its config alone (``cls(config)``), so the registry, the CLI and
``Pipeline.load`` can all rebuild one from a name and a JSON object. Components that hold
weights expose ``state_dict``/``load_state_dict`` (``torch.nn.Module`` already does).
"""

from __future__ import annotations

import copy
import dataclasses
import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from .training.config import TrainConfig


@dataclass
class NoConfig:
    """The config of a component that has no options."""


@dataclass(frozen=True)
class Weights:
    """A named set of pretrained weights a component can load, bound to where it comes from."""

    name: str
    description: str
    source: str
    offline: bool = False


class Component:
    """Base of every registered component.

    Subclasses set ``name`` and usually a ``Config`` dataclass; ``weights`` lists named
    pretrained weights for ``stylecap info``. Works alongside ``torch.nn.Module``:
    ``class MyLoss(Component, nn.Module)``.
    """

    name: ClassVar[str]
    Config: ClassVar[type] = NoConfig
    weights: ClassVar[Sequence[Weights]] = ()

    def __init__(self, config: Any = None):
        super().__init__()
        self.config = self.Config() if config is None else config

    @classmethod
    def describe(cls) -> str:
        """First paragraph of the class docstring: the one line ``stylecap list`` shows."""
        doc = inspect.getdoc(cls) or ""
        return doc.split("\n\n")[0].replace("\n", " ")


ProgressCallback = Callable[[int, int, dict[str, float]], None]
"""``progress(step, total, scalars)``: long-running components call it as they work."""


class StyleBackend(Component):
    """Puts a style onto a content image.

    Images are float tensors ``[1, 3, H, W]`` in ``[0, 1]`` on the device the caller chose;
    the result has the content's size unless the config says otherwise.
    """

    needs_style: ClassVar[bool] = True
    """False for backends whose style is learnt (CycleGAN): they ignore ``styles``."""

    def stylize(
        self,
        content: torch.Tensor,
        styles: Sequence[torch.Tensor],
        *,
        style_weights: Sequence[float] | None = None,
        progress: ProgressCallback | None = None,
    ) -> torch.Tensor:
        raise NotImplementedError


class CaptionBackend(Component):
    """Says something about a picture, in words."""

    def caption(self, image: torch.Tensor, *, content: torch.Tensor | None = None) -> str:
        """Caption ``image`` (``[1, 3, H, W]`` in ``[0, 1]``); ``content`` is the unstylised
        picture when the caller has one, for backends that condition on both."""
        raise NotImplementedError

    def captions(self, image: torch.Tensor, *, content: torch.Tensor | None = None, seed: int = 0) -> Captions:
        """The captions, best first, and the condition they were made from: what a pipeline shows its user.
        Backends that know more than one sentence override this; the default wraps :meth:`caption`."""
        return Captions([self.caption(image, content=content)])


class Encoder(Component, torch.nn.Module):
    """A frozen image network exposing named feature maps; it owns its preprocessing.

    Callers pass images in ``[0, 1]``; ``features`` normalises them the way the weights
    expect and runs the network once, stopping after the deepest layer asked for, so that
    every loss reads its layers from one shared pass.
    """

    layers: ClassVar[tuple[str, ...]] = ()
    """All layer names, shallow to deep."""
    style_layers: ClassVar[tuple[str, ...]] = ()
    content_layers: ClassVar[tuple[str, ...]] = ()

    def preprocess(self, image: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def features(self, image: torch.Tensor, layers: Sequence[str]) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def geometry(self, layers: Sequence[str], probe: int = 64) -> dict[str, tuple[int, int]]:
        """``(channels, stride)`` of each layer's feature map, measured on a blank ``probe``-px picture."""
        param = next(self.parameters(), None)
        image = torch.zeros(1, 3, probe, probe, device=None if param is None else param.device)
        with torch.no_grad():
            found = self.features(image, layers)
        return {name: (f.shape[1], probe // f.shape[-1]) for name, f in found.items()}

    def folded(self) -> Encoder:
        """A copy for inference with every eval-mode BatchNorm that follows a convolution in a
        Sequential folded into that convolution: the same function, one pass over the
        activations fewer (about a fifth of EfficientNet's time on a CPU)."""
        encoder = copy.deepcopy(self)
        for block in encoder.modules():
            if isinstance(block, nn.Sequential):
                names = list(block._modules)
                for a, b in zip(names, names[1:]):
                    conv, norm = block._modules[a], block._modules[b]
                    if isinstance(conv, nn.Conv2d) and isinstance(norm, nn.BatchNorm2d) and not norm.training:
                        block._modules[a], block._modules[b] = fuse_conv_bn_eval(conv.eval(), norm), nn.Identity()
        return encoder


IMAGE = "image"
"""The key under which the image itself sits in a feature dict, for image-space losses."""

Features = dict[str, torch.Tensor]


class Loss(Component, torch.nn.Module):
    """A perceptual loss term: reads named features, compares them with a target's statistics.

    Subclasses set ``layers`` (encoder layer names, or ``IMAGE`` for the picture itself),
    implement ``forward(features) -> scalar`` and, if they compare against a target,
    ``represent(features)``: the statistics ``set_target`` stores. ``PerceptualLoss``
    (stylecap.core.perceptual) composes any number of them over one shared encoder pass.
    """

    layers: tuple[str, ...] = ()

    def __init__(self, config=None):
        super().__init__(config)
        self.targets: Features = {}

    def represent(self, features: Features) -> Features:
        """The statistics of a target image that this loss compares against (none by default)."""
        return {}

    def set_target(self, target: Features) -> None:
        self.targets = {k: v.detach() for k, v in target.items()}

    def forward(self, features: Features) -> torch.Tensor:
        raise NotImplementedError


@dataclass(frozen=True)
class Colour:
    """A named colour of a picture: a basic colour term, the share of pixels it covers, and where it sits."""

    term: str
    share: float
    where: str = "all over"


@dataclass
class Condition:
    """What condition encoders say about one picture; several encoders' conditions merge into one.

    ``concepts``: what is there, best first, scores in [0, 1], with ``sources[concept]`` saying which
    encoder found it and on which picture. ``features``: a pooled feature vector (paired models).
    ``colours``, ``look`` (brightness, saturation, warmth, contrast), ``mood`` (pleasure, arousal,
    dominance, each in [-1, 1]) and ``feeling`` (the mood in one word) are measured from the pixels.
    """

    concepts: list[tuple[str, float]] = dataclasses.field(default_factory=list)
    features: torch.Tensor | None = None
    sources: dict[str, str] = dataclasses.field(default_factory=dict)
    colours: list[Colour] = dataclasses.field(default_factory=list)
    look: dict[str, float] = dataclasses.field(default_factory=dict)
    mood: dict[str, float] = dataclasses.field(default_factory=dict)
    feeling: str | None = None

    def top(self, k: int, threshold: float = 0.0) -> list[str]:
        """The ``k`` best concepts scoring at least ``threshold``; the best one always, so a caption has a subject."""
        kept = [c for c, s in self.concepts[:k] if s >= threshold]
        return kept or [c for c, _ in self.concepts[:1]]

    def merged(self, other: Condition) -> Condition:
        """Both conditions in one: each concept at its best score (and that score's source); the pixel facts
        and features of ``other`` where it has them, else this one's."""
        best = dict(self.concepts)
        sources = dict(self.sources)
        for concept, score in other.concepts:
            if score > best.get(concept, -1.0):
                best[concept] = score
                if concept in other.sources:
                    sources[concept] = other.sources[concept]
        return Condition(
            concepts=sorted(best.items(), key=lambda item: -item[1]),
            features=other.features if other.features is not None else self.features,
            sources=sources,
            colours=other.colours or self.colours,
            look=other.look or self.look,
            mood=other.mood or self.mood,
            feeling=other.feeling or self.feeling,
        )

    def to_json(self) -> dict[str, Any]:
        """The condition as a person or a program reads it (``stylecap run --json``); features are left out."""
        return {
            "concepts": [{"concept": c, "score": round(s, 4), "source": self.sources.get(c)} for c, s in self.concepts],
            "colours": [{"term": c.term, "share": round(c.share, 4), "where": c.where} for c in self.colours],
            "look": {k: round(v, 4) for k, v in self.look.items()},
            "mood": {k: round(v, 4) for k, v in self.mood.items()},
            "feeling": self.feeling,
        }


@dataclass
class Captions:
    """What a caption backend says about one picture: captions, best first, and the condition behind them."""

    texts: list[str]
    condition: Condition | None = None


class ConditionEncoder(Component):
    """Turns a picture into a :class:`Condition`.

    ``encode`` takes one image ``[1, 3, H, W]`` in ``[0, 1]``, any size. ``dim`` is the length of
    ``Condition.features`` (0 for concept-only encoders), so models can be sized before data arrives.
    """

    dim: int = 0

    def encode(self, image: torch.Tensor) -> Condition:
        raise NotImplementedError


class Trainer(Component):
    """Trains one backend; the training engine owns the loop.

    ``build(engine)`` fills ``models``, ``optimizers`` and ``dataset`` (a map-style dataset
    whose items the default collate can batch). ``train_step(batch, engine)`` calls
    ``engine.optimize(name, loss)`` once per optimiser it steps (so G and D alternate
    naturally) and returns the scalars to log. ``export()`` returns the trained backend.
    The ``Config`` must subclass ``TrainConfig``; its fields become ``stylecap train`` options.
    """

    target: ClassVar[str]
    """The kind of backend this trains: ``style`` or ``caption``."""
    Config: ClassVar[type] = TrainConfig

    models: dict[str, torch.nn.Module]
    optimizers: dict[str, torch.optim.Optimizer]
    dataset: torch.utils.data.Dataset

    def build(self, engine: Any) -> None:
        raise NotImplementedError

    def train_step(self, batch: Any, engine: Any) -> dict[str, torch.Tensor | float]:
        raise NotImplementedError

    def sample(self, engine: Any) -> Any:
        """A PIL image or text showing progress, saved every ``sample_every`` steps; ``None`` if none."""
        return None

    def export(self) -> Component:
        raise NotImplementedError
