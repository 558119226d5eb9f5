"""The built-in loss terms: content, Gram (style), total variation and a soft pixel range.

Each is a small ``Loss`` (stylecap.core.component) that ``PerceptualLoss`` composes over one
shared encoder pass, exactly as it composes the losses a plugin registers.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from stylecap.core.component import IMAGE, Features, Loss
from stylecap.core.config import field


def gram(features: torch.Tensor, masks: torch.Tensor | None = None) -> torch.Tensor:
    """G = F·Fᵀ / (H·W) in one batched matmul; with ``masks [R, 1, H, W]``, one Gram per region.

    A masked Gram is divided by the mask's mass, so a region's statistics are comparable with
    the unmasked Gram of a whole style image.
    """
    if masks is not None:
        features = features * masks
        mass = masks.flatten(1).pow(2).sum(1).clamp_min(1e-8).view(-1, 1, 1)
    else:  # a plain number: no host-to-device copy, which a CUDA graph capture forbids
        mass = float(features.shape[-2] * features.shape[-1])
    return _Gram.apply(features.flatten(2), mass)


class _Gram(torch.autograd.Function):
    """F·Fᵀ / mass whose backward, (∂G + ∂Gᵀ)·F / mass, is one matmul: autograd's is two and a
    strided add (F appears twice, once transposed): about 2% of a Gatys step on a CPU."""

    @staticmethod
    def forward(ctx, flat: torch.Tensor, mass: torch.Tensor | float) -> torch.Tensor:
        ctx.save_for_backward(flat)
        ctx.mass = mass
        return torch.bmm(flat, flat.transpose(1, 2)) / mass

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        (flat,) = ctx.saved_tensors
        return torch.bmm(grad + grad.transpose(1, 2), flat) / ctx.mass, None


def relative_error(value: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """‖x − t‖² / ‖t‖², averaged over the batch: the same size whatever the layer's scale."""
    diff = (value - target).flatten(1).pow(2).sum(1)
    return (diff / target.flatten(1).pow(2).sum(1).clamp_min(1e-12)).mean()


@dataclass
class LayerLossConfig:
    layers: list[str] = field([], help="encoder layers this loss reads")
    layer_weights: list[float] | None = field(None, help="weight per layer (normalised to sum 1); None: equal")

    def validate(self) -> None:
        if not self.layers:
            raise ValueError("layers is empty: name the encoder layers this loss reads")
        if self.layer_weights is not None and len(self.layer_weights) != len(self.layers):
            raise ValueError(f"{len(self.layer_weights)} layer_weights for {len(self.layers)} layers")


class _LayerLoss(Loss):
    """Weighted mean over layers of the relative error between a statistic and its target."""

    Config = LayerLossConfig

    def __init__(self, config=None):
        super().__init__(config)
        self.config.validate()
        self.layers = tuple(self.config.layers)
        weights = self.config.layer_weights or [1.0] * len(self.layers)
        self.layer_weights = [w / sum(weights) for w in weights]

    def statistic(self, feature: torch.Tensor) -> torch.Tensor:
        return feature

    def current(self, feature: torch.Tensor) -> torch.Tensor:
        """The statistic of the image being optimised (it may differ from a target's: masks)."""
        return self.statistic(feature)

    def represent(self, features: Features) -> Features:
        return {layer: self.statistic(features[layer]) for layer in self.layers}

    def forward(self, features: Features) -> torch.Tensor:
        return sum(
            w * relative_error(self.current(features[layer]), self.targets[layer])
            for layer, w in zip(self.layers, self.layer_weights)
        )


class ContentLoss(_LayerLoss):
    """Feature reconstruction: squared error of feature maps, relative to the target's norm."""

    name = "content"


class GramLoss(_LayerLoss):
    """Style as Gram matrices (Gatys et al.): channel correlations, relative to the target's norm.

    Set ``masks`` (``[R, 1, H, W]`` in image space) to compare each region's Gram with its own
    target: the loss then needs ``R`` targets per layer (see :class:`PerceptualLoss`).
    """

    name = "gram"
    masks: torch.Tensor | None = None

    def statistic(self, feature: torch.Tensor) -> torch.Tensor:
        return gram(feature)

    def current(self, feature: torch.Tensor) -> torch.Tensor:
        if self.masks is None:
            return gram(feature)
        masks = nn.functional.interpolate(self.masks, size=feature.shape[-2:], mode="area")
        return gram(feature, masks)


@dataclass
class TVConfig:
    exponent: float = field(2.0, help="power of the neighbour differences: 2 is smooth, 1 keeps edges")


class TVLoss(Loss):
    """Total variation of the image: mean power of neighbour differences, against noise."""

    name = "tv"
    Config = TVConfig
    layers = (IMAGE,)

    def forward(self, features: Features) -> torch.Tensor:
        x = features[IMAGE]
        return self._mean_power(x[..., 1:, :], x[..., :-1, :]) + self._mean_power(x[..., 1:], x[..., :-1])

    def _mean_power(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """mean |a − b|^p; for p = 2 by ``mse_loss``, one fused kernel each way (half the time)."""
        p = self.config.exponent
        return F.mse_loss(a, b) if p == 2 else (a - b).abs().pow(p).mean()


class RangeLoss(Loss):
    """Mean squared excess of pixels outside [0, 1]: a soft box constraint.

    Optimisers such as L-BFGS keep a curvature model of the loss; clamping the pixels after
    each step silently breaks it and makes them oscillate, while this penalty keeps it valid.
    """

    name = "range"
    layers = (IMAGE,)

    def forward(self, features: Features) -> torch.Tensor:
        x = features[IMAGE]
        return F.mse_loss(x, x.detach().clamp(0, 1))  # same value and gradient: inside [0, 1] both are 0
