"""Guided upsampling: a picture worked out at a low resolution, brought back to full size with the
full-size photo's edges (the fast guided filter: He, Sun & Tang, TPAMI 2013; He & Sun, 2015).

A style network's cost grows with the pixels, but a plain enlargement of its result blurs every edge.
Instead, at the low resolution, fit in every small window the affine colour map (a 3 x 3 matrix and an
offset) that takes the low-resolution photo to the result; smooth and enlarge the maps bilinearly; apply
them to the full-size photo. The colours and broad texture come from the result, the sharp edges from
the photo. Texture finer than the low-resolution pixels, and texture the photo's colours do not explain,
is what is lost.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch.nn import functional as F

RADIUS = 2
"""Window radius at the low resolution (5 x 5 windows): small keeps the result's texture, big smooths it."""
EPS = 1e-3
"""Regulariser on the photo's colour covariance (pixels in [0, 1]): where the photo is flat in a window
(variance far below it), the fit falls back to the window's mean colour instead of amplifying noise."""


def box(x: torch.Tensor, radius: int) -> torch.Tensor:
    """Mean over the ``(2r+1)^2`` window around each pixel, counting only the pixels inside the picture:
    a depthwise convolution (on a CPU 3-7x faster than ``avg_pool2d`` with that count) over the count."""
    r = min(radius, (min(x.shape[-2:]) - 1) // 2)
    if r <= 0:
        return x
    k = 2 * r + 1
    ones = torch.ones(1, 1, *x.shape[-2:], dtype=x.dtype, device=x.device)
    count = F.conv2d(ones, torch.ones(1, 1, k, k, dtype=x.dtype, device=x.device), padding=r)
    summed = F.conv2d(x, torch.ones(x.shape[1], 1, k, k, dtype=x.dtype, device=x.device), padding=r, groups=x.shape[1])
    return summed / count


PAIRS = ((0, 0), (0, 1), (0, 2), (1, 1), (1, 2), (2, 2))
"""The guide's colour products a covariance needs (it is symmetric)."""


def inverse3(m: Sequence[torch.Tensor]) -> list[torch.Tensor]:
    """The inverse of symmetric 3 x 3 matrices given as their six entries (:data:`PAIRS` order, any shape
    each), by cofactors: a few whole-picture products instead of one LAPACK call per pixel."""
    a, b, c, d, e, f = m
    ca, cb, cc = d * f - e * e, c * e - b * f, b * e - c * d
    cd, ce, cf = a * f - c * c, b * c - a * e, a * d - b * b
    det = a * ca + b * cb + c * cc
    return [x / det for x in (ca, cb, cc, cd, ce, cf)]


def fit(guide: torch.Tensor, target: torch.Tensor, radius: int = RADIUS, eps: float = EPS) -> torch.Tensor:
    """Per-pixel affine maps ``target ~ A @ guide + b`` (``guide`` 1 or 3 channels, ``target`` C channels, the
    same size), least squares over each window plus ``eps`` ridge, then averaged over the windows that
    cover each pixel (as the guided filter does). Returns the maps as ``[B, (G + 1) C, H, W]`` for a guide of
    G channels: ``A[c, j]`` at channel ``G c + j``, then ``b``."""
    i, p = guide.float(), target.float()
    g, channels = i.shape[1], p.shape[1]
    if g == 1:  # a scalar gain per channel: the cheap way (6 maps to enlarge for a colour picture, not 12)
        means = box(torch.cat([i, p, i * i, p * i], 1), radius)
        mi, mp, ii, pi = means.split([1, channels, 1, channels], 1)
        a = (pi - mp * mi) / (ii - mi * mi + eps)
        return box(torch.cat([a, mp - a * mi], 1), radius)
    if g != 3:
        raise ValueError(f"a guide has 1 or 3 channels, not {g}")
    products = [i[:, j] * i[:, k] for j, k in PAIRS]
    crossed = [p[:, c] * i[:, j] for c in range(channels) for j in range(3)]
    means = box(torch.stack([*i.unbind(1), *p.unbind(1), *products, *crossed], 1), radius)
    mi, mp = means[:, :3], means[:, 3 : 3 + channels]
    sigma = means[:, 3 + channels : 9 + channels] - torch.stack([mi[:, j] * mi[:, k] for j, k in PAIRS], 1)
    sigma = sigma + eps * torch.tensor([1.0, 0, 0, 1, 0, 1]).view(1, 6, 1, 1)
    cov = means[:, 9 + channels :] - (mp[:, :, None] * mi[:, None]).flatten(1, 2)  # [B, 3C, H, W]
    ca, cb, cc, cd, ce, cf = inverse3(sigma.unbind(1))
    inv = ((ca, cb, cc), (cb, cd, ce), (cc, ce, cf))
    a = [sum(cov[:, 3 * c + k] * inv[k][j] for k in range(3)) for c in range(channels) for j in range(3)]
    b = [mp[:, c] - sum(a[3 * c + j] * mi[:, j] for j in range(3)) for c in range(channels)]
    return box(torch.stack(a + b, 1), radius)


def apply(maps: torch.Tensor, guide: torch.Tensor) -> torch.Tensor:
    """``A @ guide + b`` per pixel, the maps (as :func:`fit` gives them for this guide's channels) enlarged
    bilinearly to ``guide``'s size first."""
    size = tuple(guide.shape[-2:])
    if tuple(maps.shape[-2:]) != size:
        maps = F.interpolate(maps, size=size, mode="bilinear", align_corners=False)
    g, guide = guide.shape[1], guide.float()
    channels = maps.shape[1] // (g + 1)
    out = maps[:, g * channels :].clone()
    for j in range(g):  # out[c] += A[c, j] * guide[j], every c at once
        out.addcmul_(maps[:, j : g * channels : g], guide[:, j : j + 1])
    return out


def upsample(
    small: torch.Tensor,
    guide_small: torch.Tensor,
    guide: torch.Tensor,
    radius: int = RADIUS,
    eps: float = EPS,
    residual: bool = True,
) -> torch.Tensor:
    """``small`` (a result worked out from ``guide_small``) at ``guide``'s full size, with ``guide``'s edges.

    With ``residual``, what the affine maps miss at the low resolution (texture the photo does not explain:
    brush strokes over a flat sky) is added back, enlarged bilinearly: the result then never has less of
    the style's texture than a plain enlargement, where the maps alone would smooth it away."""
    if tuple(small.shape[-2:]) != tuple(guide_small.shape[-2:]):
        raise ValueError(f"the result {tuple(small.shape)} and its guide {tuple(guide_small.shape)} differ in size")
    maps = fit(guide_small, small, radius, eps)
    if residual:
        channels = small.shape[1]
        missed = small.float() - apply(maps, guide_small)
        maps = torch.cat([maps[:, :-channels], maps[:, -channels:] + missed], 1)
    return apply(maps, guide)
