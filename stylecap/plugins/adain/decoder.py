"""The AdaIN decoder: from restyled encoder features back to pixels.

It starts at the deepest level and doubles the resolution until it reaches the picture's; where
a shallower level has that resolution, its (restyled) features join as a skip connection. Two
3x3 convolutions per resolution, reflection padding against border artefacts, nearest-neighbour
upsampling against checkerboards (as in the AdaIN reference), and a width that halves as the
resolution doubles, so a 1024-px picture costs about 20 GMAC on top of the encoder.
"""

from __future__ import annotations

import torch
from torch import nn


def conv(cin: int, cout: int, relu: bool = True) -> nn.Sequential:
    layers = [nn.ReflectionPad2d(1), nn.Conv2d(cin, cout, 3)]
    return nn.Sequential(*layers, nn.ReLU(inplace=True)) if relu else nn.Sequential(*layers)


class Residual(nn.Module):
    """x + conv(conv(x)): depth at the coarsest resolution, where it is cheap and sees far."""

    def __init__(self, channels: int):
        super().__init__()
        self.body = nn.Sequential(conv(channels, channels), conv(channels, channels, relu=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class Decoder(nn.Module):
    """Decodes features at ``strides`` (level name -> input size / feature size, deepest first)
    with ``channels`` per level; ``width`` channels at full resolution, doubled per halving up to
    ``8 * width``, and ``blocks`` residual blocks after the deepest level's convolutions.
    Output: an image ``[B, 3, H, W]``, about [0, 1] (callers clamp)."""

    def __init__(self, channels: dict[str, int], strides: dict[str, int], width: int = 16, blocks: int = 0):
        super().__init__()
        self.levels = list(strides)
        deepest = strides[self.levels[0]]
        values = list(strides.values())
        if sorted(set(values), reverse=True) != values:
            raise ValueError(f"decoder levels must be deepest first, one per resolution, not {strides}")
        if deepest & (deepest - 1):
            raise ValueError(f"the deepest level's stride must be a power of two, not {deepest}")
        self.multiple = deepest
        self.skips = {stride: name for name, stride in strides.items()}
        self.stages = nn.ModuleDict()
        cin, stride = channels[self.levels[0]], deepest
        while stride > 1:
            w = min(width * stride, 8 * width)
            if stride != deepest and stride in self.skips:
                cin += channels[self.skips[stride]]
            extra = [Residual(w) for _ in range(blocks if stride == deepest else 0)]
            self.stages[str(stride)] = nn.Sequential(conv(cin, w), conv(w, w), *extra)
            cin, stride = w, stride // 2
        self.to_rgb = conv(cin, 3, relu=False)
        self.up = nn.Upsample(scale_factor=2, mode="nearest")

    def forward(self, features: dict[str, torch.Tensor]) -> torch.Tensor:
        x = features[self.levels[0]]
        for key, stage in self.stages.items():
            stride = int(key)
            if stride in self.skips and self.skips[stride] != self.levels[0]:
                x = torch.cat([x, features[self.skips[stride]].to(x.dtype)], 1)
            x = self.up(stage(x))
        return self.to_rgb(x)
