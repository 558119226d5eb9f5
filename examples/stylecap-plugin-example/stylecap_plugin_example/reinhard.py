"""Reinhard colour transfer: give the content the style's colour statistics, nothing else.

Reinhard, Ashikhmin, Gooch and Shirley, "Color Transfer between Images" (2001): in a
decorrelated colour space, shift and scale each channel of the content so its mean and
standard deviation equal the style's. No network, no optimisation: milliseconds on a CPU.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import stylecap
import torch
from stylecap.core.component import ProgressCallback
from stylecap.core.errors import UsageError

from .color import SPACES, Space, moments


@dataclass
class ReinhardConfig:
    strength: float = stylecap.field(1.0, help="0 keeps the content, 1 applies the style's colours fully.")
    preserve_luminance: bool = stylecap.field(
        False, help="Transfer only the two colour channels and keep the content's lightness."
    )
    space: Space = stylecap.field("lab-alpha-beta", help="lab-alpha-beta (lαβ, as in the paper) or lab (CIELAB).")

    def validate(self) -> None:
        if not 0 <= self.strength <= 1:
            raise ValueError(f"strength must be between 0 and 1, got {self.strength}")


class Reinhard(stylecap.StyleBackend):
    """Colour transfer by matching channel mean and std (Reinhard et al. 2001); instant, no network.

    Several style images are blended by ``style_weights``: their means and stds are averaged
    in proportion. Only colours move; the content's shapes and texture are kept exactly.
    """

    name = "reinhard"
    Config = ReinhardConfig

    def stylize(
        self,
        content: torch.Tensor,
        styles: Sequence[torch.Tensor],
        *,
        style_weights: Sequence[float] | None = None,
        progress: ProgressCallback | None = None,
    ) -> torch.Tensor:
        to_space, to_rgb = SPACES[self.config.space]
        weights = _blend_weights(style_weights, len(styles)).to(content).view(-1, 1, 1)
        means, stds = zip(*(moments(to_space(s.to(content))) for s in styles))
        target_mean = (torch.stack(means) * weights).sum(0)[..., None, None]
        target_std = (torch.stack(stds) * weights).sum(0)[..., None, None]

        x = to_space(content)
        mean, std = (m[..., None, None] for m in moments(x))
        moved = (x - mean) / std * target_std + target_mean
        if self.config.preserve_luminance:
            moved = torch.cat([x[:, :1], moved[:, 1:]], 1)
        return content.lerp(to_rgb(moved), self.config.strength)


def _blend_weights(weights: Sequence[float] | None, count: int) -> torch.Tensor:
    """Weights normalised to sum to 1; equal weights when none are given."""
    if count == 0:
        raise UsageError("style backend 'reinhard' needs a style image", "pass one with --style IMG")
    w = torch.ones(count) if weights is None else torch.tensor([float(v) for v in weights])
    if len(w) != count:
        raise UsageError(f"{len(w)} style weights for {count} style images", "give one weight per style image")
    if bool((w < 0).any()) or float(w.sum()) <= 0:
        raise UsageError(f"style weights {list(weights)} cannot be blended", "use weights >= 0, not all zero")
    return w / w.sum()
