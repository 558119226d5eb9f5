"""Adaptive instance normalisation (Huang & Belongie 2017) and the style code it transfers.

A style code is each layer's channel mean and standard deviation. AdaIN gives the content's
features the style's code; blends of styles mix codes linearly, masks give each style a region.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

EPS = 1e-5

Code = dict[str, tuple[torch.Tensor, torch.Tensor]]
"""Layer name -> (mean, std), each ``[B, C, 1, 1]``."""


def mean_std(x: torch.Tensor, mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Channel mean and (biased) standard deviation over space; with ``mask`` ``[B|1, 1, H, W]``,
    weighted by it, so a region's statistics ignore the rest of the picture."""
    x = x.float()
    if mask is None:
        var, mean = torch.var_mean(x, dim=(2, 3), keepdim=True, correction=0)
    else:
        w = mask / mask.sum((2, 3), keepdim=True).clamp_min(EPS)
        mean = (x * w).sum((2, 3), keepdim=True)
        var = ((x - mean).square() * w).sum((2, 3), keepdim=True)
    return mean, (var + EPS).sqrt()


def style_code(features: dict[str, torch.Tensor]) -> Code:
    return {name: mean_std(f) for name, f in features.items()}


def blend(codes: Sequence[Code], weights: Sequence[float]) -> Code:
    """The weighted mix of several codes: interpolating AdaIN outputs is interpolating codes."""
    return {
        name: (
            sum(w * code[name][0] for code, w in zip(codes, weights)),
            sum(w * code[name][1] for code, w in zip(codes, weights)),
        )
        for name in codes[0]
    }


def adain(x: torch.Tensor, mean: torch.Tensor, std: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """``x`` normalised by its own statistics (inside ``mask``), then given ``mean`` and ``std``."""
    own_mean, own_std = mean_std(x, mask)
    return (x.float() - own_mean) / own_std * std + mean


def transfer(
    features: dict[str, torch.Tensor],
    codes: Sequence[Code],
    weights: Sequence[float],
    *,
    alpha: float = 1.0,
    regions: torch.Tensor | None = None,
) -> dict[str, torch.Tensor]:
    """The decoder's targets: each layer's content features with the style's code.

    Without ``regions`` the codes are blended by ``weights``; with ``regions`` (``[K, 1, H, W]``,
    one per code) each style goes where its mask is and the content stays where none is.
    ``alpha`` mixes the result with the content features (0: the content, 1: all style).
    """
    mixed = blend(codes, weights) if regions is None else {}
    out = {}
    for name, f in features.items():
        f = f.float()
        if regions is None:
            mean, std = mixed[name]
            t = adain(f, mean, std)
        else:
            masks = shares(regions.to(f), f.shape[-2:])
            t = f * (1 - masks.sum(0, keepdim=True))
            for m, code in zip(masks, codes):
                t = t + m[None] * adain(f, *code[name], mask=m[None])
        out[name] = alpha * t + (1 - alpha) * f
    return out


def shares(regions: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
    """Each style's share of every position at ``size``: overlaps share, gaps keep the content."""
    masks = F.interpolate(regions, size=tuple(size), mode="bilinear", align_corners=False)
    return masks / masks.sum(0, keepdim=True).clamp_min(1)


def code_vector(code: Code, layers: Sequence[str]) -> torch.Tensor:
    """``layers``' channel means and log deviations in one ``[B, D, 1, 1]`` tensor: the code a
    conditioned decoder is told (logs: deviations differ by orders of magnitude across channels)."""
    return torch.cat([t for name in layers for t in (code[name][0], code[name][1].log())], 1)


def decoder_code(
    codes: Sequence[Code],
    weights: Sequence[float],
    layers: Sequence[str],
    *,
    own: Code | None = None,
    alpha: float = 1.0,
    regions: torch.Tensor | None = None,
    size: Sequence[int] = (1, 1),
) -> torch.Tensor:
    """The code a conditioned decoder is told, to go with :func:`transfer`'s targets: the blended
    styles' code, or with ``regions`` a map at ``size`` of each style's code where its mask is and
    the content's own code (``own``) where none is; ``alpha`` mixes it with the content's own.
    ``own`` is needed for regions and for alpha below 1 only."""
    if regions is None:
        told = code_vector(blend(codes, weights), layers)
    else:
        masks = shares(regions.to(codes[0][layers[0]][0]), size)
        told = code_vector(own, layers) * (1 - masks.sum(0, keepdim=True))
        for m, code in zip(masks, codes):
            told = told + m[None] * code_vector(code, layers)
    return told if alpha == 1 else alpha * told + (1 - alpha) * code_vector(own, layers)
