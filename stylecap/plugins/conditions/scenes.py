"""The setting of a photo (beach, street, field, room, snow, sky, mountains, forest, water, garden), from ImageNet.

ImageNet-1k has a few scene classes (seashore, alp, valley, lakeside) and many objects that only turn up in one
kind of place (a snowmobile, a streetcar, a studio couch, a canoe). data/scenes.tsv names, by hand, the scene each
such class points to; the scene's score is the summed probability of its classes over the whole picture. Most
pictures say no scene at all: that is the honest answer for close-ups, abstract pictures and most indoor portraits.
docs/studies/conditions-people-scenes.md has the measurements.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from stylecap.core.component import Condition, ConditionEncoder
from stylecap.core.config import field as option
from stylecap.core.errors import UsageError

SCENE_CLASSES = Path(__file__).with_name("data") / "scenes.tsv"
"""ImageNet class index -> the scene it points to (only classes that point to one are listed)."""


@functools.cache
def scene_classes() -> tuple[tuple[str, ...], torch.Tensor]:
    """The scene names and a ``[1000, scenes]`` 0/1 matrix of which classes count for which scene."""
    rows = [line.split("\t") for line in SCENE_CLASSES.read_text().splitlines()[1:] if line.strip()]
    names = tuple(sorted({r[2] for r in rows}))
    matrix = torch.zeros(1000, len(names))
    for index, _, scene in rows:
        matrix[int(index), names.index(scene)] = 1.0
    return names, matrix


class SceneConcepts(ConditionEncoder):
    """The scene of a photo (beach, street, field, room, snow, sky, mountains, forest, water, garden) from ImageNet.

    Sums the EfficientNet-Lite0 classifier's probabilities of scene-telling classes (seashore, alp, streetcar,
    studio couch, snowmobile, ...; data/scenes.tsv). Offline; says nothing when no scene is clear.
    """

    name = "scenes"

    @dataclass
    class Config:
        encoder: str = option("efficientnet-lite0", help="An encoder with an ImageNet-1k classifier layer.")
        layer: str = option("logits", help="The encoder layer holding the 1000 ImageNet logits.")
        size: int = option(224, help="Side the picture is resized to (square) before classifying.")
        min_score: float = option(0.2, help="Scenes whose classes sum to less than this are left out.")
        top: int = option(2, help="At most this many scenes, best first.")

        def validate(self) -> None:
            if not 0 < self.min_score <= 1:
                raise ValueError(f"min_score must be in (0, 1], not {self.min_score}")

    def __init__(self, config=None, *, encoder: torch.nn.Module | None = None):
        super().__init__(config)
        self._encoder = encoder
        self.names, self.matrix = scene_classes()

    @property
    def encoder(self) -> torch.nn.Module:
        """The ImageNet classifier, made on first use (``stylecap.create``) unless one was given."""
        if self._encoder is None:
            import stylecap

            self._encoder = stylecap.create("encoder", self.config.encoder).eval()
        return self._encoder

    @torch.no_grad()
    def probabilities(self, image: torch.Tensor) -> torch.Tensor:
        """The classifier's 1000 class probabilities for the whole picture."""
        encoder = self.encoder
        param = next(encoder.parameters(), None)
        x = F.interpolate(image.float(), size=(self.config.size,) * 2, mode="bilinear", antialias=True)
        x = x.clamp(0, 1).to(None if param is None else param.device)
        logits = encoder.features(x, [self.config.layer])[self.config.layer].flatten(1)
        if logits.shape[1] != self.matrix.shape[0]:
            raise UsageError(
                f"layer {self.config.layer!r} of encoder {self.config.encoder!r} gives {logits.shape[1]} values",
                "choose an encoder and layer giving the 1000 ImageNet-1k logits",
            )
        return logits.softmax(-1)[0].float().cpu()

    def scores(self, image: torch.Tensor) -> dict[str, float]:
        """Every scene's score (summed class probability, in [0, 1])."""
        summed = self.probabilities(image) @ self.matrix
        return {name: float(s) for name, s in zip(self.names, summed.clamp(0, 1))}

    @torch.no_grad()
    def encode(self, image: torch.Tensor) -> Condition:
        ranked = sorted(self.scores(image).items(), key=lambda item: -item[1])
        kept = [(scene, score) for scene, score in ranked[: self.config.top] if score >= self.config.min_score]
        source = f"scenes: ImageNet classes of {self.config.encoder} summed per scene (data/scenes.tsv)"
        return Condition(kept, sources={scene: source for scene, _ in kept})
