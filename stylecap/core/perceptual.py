"""Several loss terms over ONE encoder pass: the objective of Gatys and of feed-forward training.

Each term (a ``Loss``, built-in or from a plugin) names the layers it reads; ``PerceptualLoss``
runs the encoder once over the union of those layers, and computes each term's target
statistics once, up front, from the target images.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import nn

from .component import IMAGE, Encoder, Features, Loss

Target = torch.Tensor | Sequence[tuple[torch.Tensor, "float | torch.Tensor"]]
"""One target image, or ``(image, weight)`` pairs whose statistics are blended by weight.

A weight may be a 1-D tensor ``[R]``: the blend then yields ``R`` targets, one per region."""


class PerceptualLoss(nn.Module):
    """Named, weighted loss terms computed from ONE encoder pass over the union of their layers.

    ``forward(image)`` returns the weighted total and each term's unweighted value.
    """

    def __init__(self, encoder: Encoder, terms: Mapping[str, tuple[Loss, float]]):
        super().__init__()
        self.encoder = encoder
        self.losses = nn.ModuleDict({name: loss for name, (loss, _) in terms.items()})
        self.weights = {name: float(weight) for name, (_, weight) in terms.items()}
        self.layers = self._union(self.losses.values())

    @staticmethod
    def _union(losses) -> tuple[str, ...]:
        return tuple(dict.fromkeys(layer for loss in losses for layer in loss.layers))

    def features(self, image: torch.Tensor, layers: Sequence[str]) -> Features:
        wanted = [layer for layer in layers if layer != IMAGE]
        features = dict(self.encoder.features(image, wanted)) if wanted else {}
        features[IMAGE] = image
        return features

    @torch.no_grad()
    def set_targets(self, **targets: Target) -> None:
        """Compute each named term's target once; each distinct image goes through the encoder once."""
        specs = {name: [(t, 1.0)] if isinstance(t, torch.Tensor) else list(t) for name, t in targets.items()}
        images: dict[int, tuple[torch.Tensor, list[Loss]]] = {}
        for name, pairs in specs.items():
            for image, _ in pairs:
                images.setdefault(id(image), (image, []))[1].append(self.losses[name])
        features = {key: self.features(image, self._union(losses)) for key, (image, losses) in images.items()}
        for name, pairs in specs.items():
            loss = self.losses[name]
            stats = [(loss.represent(features[id(image)]), weight) for image, weight in pairs]
            loss.set_target({layer: _blend([(s[layer], w) for s, w in stats]) for layer in stats[0][0]})

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        features = self.features(image, self.layers)
        values = {name: loss(features) for name, loss in self.losses.items()}
        total = sum(self.weights[name] * value for name, value in values.items())
        return total, values


def _blend(pairs: Sequence[tuple[torch.Tensor, float | torch.Tensor]]) -> torch.Tensor:
    """Σ wᵢ·sᵢ / Σ wᵢ over statistics ``sᵢ`` (batch 1); weights of shape ``[R]`` give ``R`` blends."""
    shape = (-1,) + (1,) * (pairs[0][0].dim() - 1)
    weights = [torch.as_tensor(w, dtype=s.dtype, device=s.device).reshape(shape) for s, w in pairs]
    return sum(w * s for (s, _), w in zip(pairs, weights)) / sum(weights)
