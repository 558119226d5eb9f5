"""A style loss on colour alone: cheap, layout-free, and differentiable."""

from __future__ import annotations

from dataclasses import dataclass

import stylecap
import torch

from .color import SPACES, Space, moments


@dataclass
class ColorMomentsConfig:
    space: Space = stylecap.field(
        "lab-alpha-beta", help="Colour space of the statistics: lab-alpha-beta (lαβ) or lab (CIELAB, larger numbers)."
    )


class ColorMoments(stylecap.Component, torch.nn.Module):
    """Squared distance between two images' per-channel colour mean and std (lαβ by default).

    Zero when ``image`` has the target's colour statistics whatever its layout, so it pulls
    colours toward a style without copying the style's shapes. Sizes may differ; a target
    batch of one is compared with every image of the batch.
    """

    name = "color-moments"
    Config = ColorMomentsConfig

    def forward(self, image: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        to_space = SPACES[self.config.space][0]
        mean, std = moments(to_space(image))
        target_mean, target_std = moments(to_space(target))
        return ((mean - target_mean) ** 2 + (std - target_std) ** 2).mean()
