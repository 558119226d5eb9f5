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


class ColorMoments(stylecap.Loss):
    """Squared distance between an image's per-channel colour mean and std and a target's (lαβ by default).

    Zero when the image has the target's colour statistics whatever its layout, so it pulls
    colours toward a style without copying the style's shapes. It reads the image itself
    (``stylecap.IMAGE``), so it joins any perceptual objective at no extra encoder cost:
    ``stylecap run ... --style-backend gatys -s extra_losses=color-moments:100``.
    """

    name = "color-moments"
    Config = ColorMomentsConfig
    layers = (stylecap.IMAGE,)

    def represent(self, features: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        mean, std = moments(SPACES[self.config.space][0](features[stylecap.IMAGE]))
        return {"mean": mean, "std": std}

    def forward(self, features: dict[str, torch.Tensor]) -> torch.Tensor:
        current = self.represent(features)
        return ((current["mean"] - self.targets["mean"]) ** 2 + (current["std"] - self.targets["std"]) ** 2).mean()
