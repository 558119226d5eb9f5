"""The AdaIN decoder: from restyled encoder features back to pixels.

It starts at the deepest level and doubles the resolution until it reaches the picture's; where
a shallower level has that resolution, its (restyled) features join as a skip connection. Two
3x3 convolutions per resolution, reflection padding against border artefacts, nearest-neighbour
upsampling against checkerboards (as in the AdaIN reference), and a width that halves as the
resolution doubles, so a 1024-px picture costs about 20 GMAC on top of the encoder.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
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


PHASES = torch.tensor([[[1, 0, 0], [0, 1, 1], [0, 0, 0]], [[0, 0, 0], [1, 1, 0], [0, 0, 1]]], dtype=torch.float32)
"""``PHASES[a, o + 1, d + 1]``: whether tap ``d`` of a 3x3 kernel, at output row ``2i + a`` of a picture enlarged
2x by nearest neighbours, reads source row ``i + o`` (``(a + d) // 2 == o``)."""


def upsampled_conv(x: torch.Tensor, conv: nn.Conv2d) -> torch.Tensor:
    """``conv(ReflectionPad2d(1)(Upsample(2)(x)))`` for a 3x3 ``conv``, computed at ``x``'s resolution: each of the
    four output phases is a 3x3 convolution of ``x`` padded by its edge (reflecting one pixel of a picture
    enlarged by repetition repeats its edge), and a pixel shuffle interleaves them. The same numbers without
    the enlarged copy: the decoder's last step, 3 channels at full size, took a sixth of its CPU time so."""
    kernel = torch.einsum("ayk,bxl,ockl->oabcyx", PHASES.to(conv.weight), PHASES.to(conv.weight), conv.weight)
    bias = None if conv.bias is None else conv.bias.repeat_interleave(4)
    out = F.conv2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), kernel.flatten(0, 2), bias)
    return F.pixel_shuffle(out, 2)


def fit_to(t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """A per-channel map ``t`` at ``x``'s resolution (one value per channel broadcasts as it is)."""
    if t.shape[-2:] == (1, 1):
        return t
    return F.interpolate(t, size=x.shape[-2:], mode="bilinear", align_corners=False)


class StyleCondition(nn.Module):
    """A per-channel scale and shift for each resolution of the decoder, made from the target style
    code (FiLM, as the style prediction network of Ghiasi et al. 2017 conditions its transformer).
    The restyled inputs carry the style's statistics of their own layers only; this tells the
    decoder those of every style layer, the deeper ones too. The last layer starts at zero, so a
    decoder gains it without changing its output until it trains."""

    def __init__(self, code_size: int, channels: list[int], hidden: int = 256):
        super().__init__()
        self.register_buffer("center", torch.zeros(code_size))  # standardises the code (`fit`)
        self.register_buffer("scale", torch.ones(code_size))
        self.net = nn.Sequential(nn.Conv2d(code_size, hidden, 1), nn.ReLU(inplace=True))
        self.net.append(nn.Conv2d(hidden, 2 * sum(channels), 1))
        nn.init.zeros_(self.net[-1].weight)
        nn.init.zeros_(self.net[-1].bias)
        self.splits = [c for c in channels for _ in range(2)]  # a scale and a shift per resolution

    def fit(self, codes: torch.Tensor) -> None:
        """Standardise codes like these ``[N, code_size, 1, 1]`` (a sample of training styles)."""
        self.center.copy_(codes.mean((0, 2, 3)))
        self.scale.copy_(codes.std((0, 2, 3)).clamp_min(1e-3))

    def forward(self, code: torch.Tensor) -> list[torch.Tensor]:
        """``code`` ``[B, code_size, h, w]`` (1 x 1, or a map where styles have regions) -> scale,
        shift, scale, shift... per resolution, deepest first."""
        return list(self.net((code - self.center[:, None, None]) / self.scale[:, None, None]).split(self.splits, 1))


class Decoder(nn.Module):
    """Decodes features at ``strides`` (level name -> input size / feature size, deepest first)
    with ``channels`` per level; ``width`` channels at full resolution, doubled per halving up to
    ``8 * width``, and ``blocks`` residual blocks after the deepest level's convolutions. With
    ``code_size``, a :class:`StyleCondition` scales and shifts each resolution's output.
    Output: an image ``[B, 3, H, W]``, about [0, 1] (callers clamp)."""

    def __init__(
        self, channels: dict[str, int], strides: dict[str, int], width: int = 16, blocks: int = 0, code_size: int = 0
    ):
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
        widths = [stage[1][1].out_channels for stage in self.stages.values()]
        self.condition = StyleCondition(code_size, widths) if code_size else None

    def forward(self, features: dict[str, torch.Tensor], code: torch.Tensor | None = None) -> torch.Tensor:
        """``code``: the target style code (``statistics.decoder_code``), for a conditioned decoder only."""
        if (code is None) != (self.condition is None):
            raise ValueError("a conditioned decoder needs the style code, and only it takes one")
        film = self.condition(code) if self.condition is not None else []
        x = features[self.levels[0]]
        for i, (key, stage) in enumerate(self.stages.items()):
            stride = int(key)
            x = self.up(x) if i else x
            if stride in self.skips and self.skips[stride] != self.levels[0]:
                x = torch.cat([x, features[self.skips[stride]].to(x.dtype)], 1)
            x = stage(x)
            if film:
                scale, shift = (fit_to(t, x) for t in film[2 * i : 2 * i + 2])
                x = torch.addcmul(shift, x, 1 + scale)  # one pass over x
        return upsampled_conv(x, self.to_rgb[1]) if self.stages else self.to_rgb(x)
