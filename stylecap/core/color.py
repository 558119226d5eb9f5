"""Colour handling for style transfer: keep the content's colours (Gatys et al. 2017), or take the style's.

Keeping them: transfer luminance only and put the content's chroma back (YIQ), or recolour the style
images to the content's colour statistics before transfer. Taking them: move a stylised picture's
colours to the style's palette after transfer (``take_palette``), for a network that keeps colours
the style lacks.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch.nn import functional as F

_RGB_TO_YIQ = torch.tensor([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]])
YIQ_TO_RGB = torch.linalg.inv(_RGB_TO_YIQ)
"""Columns: the RGB of one unit of Y (grey), I and Q."""


def _mix(matrix: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
    return torch.einsum("ij,bjhw->bihw", matrix.to(image), image)


def to_yiq(image: torch.Tensor) -> torch.Tensor:
    return _mix(_RGB_TO_YIQ, image)


def from_yiq(image: torch.Tensor) -> torch.Tensor:
    return _mix(YIQ_TO_RGB, image)


def turn_hue(image: torch.Tensor, angle: torch.Tensor, chroma: torch.Tensor) -> torch.Tensor:
    """Each picture ``[B, 3, H, W]`` with its colour (I, Q) turned by ``angle`` ``[B]`` (radians) and scaled by
    ``chroma`` ``[B]``, lightness kept, clamped to RGB: new palettes from one picture, for training."""
    yiq = to_yiq(image)
    cos, sin = (f(angle)[:, None, None] * chroma[:, None, None] for f in (torch.cos, torch.sin))
    i, q = yiq[:, 1], yiq[:, 2]
    turned = torch.stack([yiq[:, 0], cos * i - sin * q, sin * i + cos * q], 1)
    return from_yiq(turned).clamp(0, 1)


def grey(image: torch.Tensor, like: torch.Tensor | None = None) -> torch.Tensor:
    """The luminance as a 3-channel grey image; with ``like``, shifted and scaled to its mean and std.

    Matching the style's luminance to the content's keeps the output's brightness the content's.
    """
    y = to_yiq(image)[:, :1]
    if like is not None:
        ref = to_yiq(like)[:, :1]
        y = (y - y.mean()) / y.std().clamp_min(1e-6) * ref.std() + ref.mean()
    return y.clamp(0, 1).expand(-1, 3, -1, -1)


def recolor(image: torch.Tensor, content: torch.Tensor) -> torch.Tensor:
    """``image``'s luminance with ``content``'s chroma (I and Q)."""
    yiq = to_yiq(content)
    return from_yiq(torch.cat([to_yiq(image)[:, :1], yiq[:, 1:]], 1)).clamp(0, 1)


def match_histogram(source: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """``source`` with its colour mean and covariance moved to ``reference``'s (x ↦ A(x − μₛ) + μᵣ).

    A = Σᵣ^½ Σₛ^-½ with symmetric square roots, the linear map of Gatys et al. (2017).
    """
    return take_moments(source, reference.flatten(2)[0])


def take_moments(image: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """``image`` ``[1, 3, H, W]`` with its colour mean and covariance moved to those of ``reference``, colours
    ``[3, N]`` (one picture's pixels, or several pictures' :func:`palette`); see :func:`match_histogram`."""
    x = image.flatten(2)[0]
    mu_x, mu_r = x.mean(1, keepdim=True), reference.mean(1, keepdim=True)
    return (_moment_map(torch.cov(x), torch.cov(reference)) @ (x - mu_x) + mu_r).reshape(image.shape).clamp(0, 1)


def _moment_map(source_cov: torch.Tensor, reference_cov: torch.Tensor) -> torch.Tensor:
    """A = Σᵣ^½ Σₛ^-½: the linear map that gives centred colours of covariance Σₛ the covariance Σᵣ."""
    return _sqrtm(reference_cov) @ _sqrtm(source_cov, power=-0.5)


def _sqrtm(cov: torch.Tensor, power: float = 0.5) -> torch.Tensor:
    values, vectors = torch.linalg.eigh(cov + 1e-5 * torch.eye(len(cov), device=cov.device, dtype=cov.dtype))
    return vectors @ torch.diag(values.clamp_min(1e-8).pow(power)) @ vectors.T


PALETTE_SAMPLES = 16384
"""Pixels that a palette's statistics are taken from: enough for its quantiles, cheap at any size."""
PALETTE_QUANTILES = 256
LOOKUP = 4096


def palette(images: Sequence[torch.Tensor], weights: Sequence[float] | None = None) -> torch.Tensor:
    """The colours ``[3, N]`` of pictures ``[1, 3, H, W]``, evenly strided, each picture a ``weights`` share of
    the :data:`PALETTE_SAMPLES`: the reference :func:`take_palette` moves a picture to."""
    weights = [1.0] * len(images) if weights is None else weights
    parts = []
    for image, weight in zip(images, weights):
        flat, count = image.flatten(2)[0], round(PALETTE_SAMPLES * weight / sum(weights))
        parts.append(flat[:, torch.linspace(0, flat.shape[1] - 1, count, device=flat.device).long()])
    return torch.cat(parts, 1)


COLORFUL = 82.0
"""Hasler and Süsstrunk's colourfulness of a "highly colourful" picture (their scale, 0-255 units)."""


def colorfulness(colours: torch.Tensor) -> float:
    """Hasler and Süsstrunk's (2003) colourfulness of colours ``[3, N]`` in 0..1, on their 0-255 scale:
    0 for grey, about 33 for a moderately and 82 for a highly colourful picture."""
    r, g, b = colours * 255
    rg, yb = r - g, (r + g) / 2 - b
    spread = (rg.var(correction=0) + yb.var(correction=0)).sqrt()
    return float(spread + 0.3 * (rg.mean() ** 2 + yb.mean() ** 2).sqrt())


def take_palette(image: torch.Tensor, reference: torch.Tensor, strength: float = 1.0) -> torch.Tensor:
    """``image`` ``[1, 3, H, W]`` with its colours moved ``strength`` of the way to ``reference``'s (colours
    ``[3, N]``, see :func:`palette`), keeping its light and shade.

    Lightness (YIQ's Y) gets the reference's mean, and its contrast as far as no pixel clips, by one affine
    map: every edge keeps its place and relative strength. Colour (I, Q) gets the reference's mean and
    covariance (the linear map of :func:`match_histogram`), then the reference's quantiles along each of its
    principal colour axes, so a picture takes colours the style has and drops those it lacks. Colours
    outside RGB are pulled toward the grey of their own lightness, not clipped per channel (which would
    change the lightness).
    """
    yiq, ref = to_yiq(image), _RGB_TO_YIQ.to(reference) @ reference
    y, chroma = yiq[0, :1].flatten(1), yiq[0, 1:].flatten(1)
    seen = palette([yiq])
    y_mean = seen[:1].mean()
    low, high = y.min() - y_mean, y.max() - y_mean
    mean = y_mean + strength * (ref[:1].mean() - y_mean)
    gain = strength * ref[:1].std() / seen[:1].std().clamp_min(1e-6) + 1 - strength
    gain = torch.stack([gain, mean / (-low).clamp_min(1e-6), (1 - mean) / high.clamp_min(1e-6)]).min()
    y = ((y - y_mean) * gain + mean).clamp(0, 1)  # an affine map, the mean the target's, nothing clipped
    mu, mu_ref = seen[1:].mean(1, keepdim=True), ref[1:].mean(1, keepdim=True)
    ref_cov = torch.cov(ref[1:])
    axes = torch.linalg.eigh(ref_cov)[1]
    along, along_ref = axes.T @ _moment_map(torch.cov(seen[1:]), ref_cov) @ (chroma - mu), axes.T @ (ref[1:] - mu_ref)
    moved = axes @ _match_quantiles(along, along[:, :: max(1, along.shape[1] // PALETTE_SAMPLES)], along_ref) + mu_ref
    offset = YIQ_TO_RGB[:, 1:].to(chroma) @ (chroma + strength * (moved - chroma))  # RGB = Y + offset
    return (y + _into_gamut(y, offset) * offset).reshape(image.shape).clamp(0, 1)


def _match_quantiles(values: torch.Tensor, sample: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """Each row of ``values`` mapped piecewise linearly so that its quantiles (estimated on ``sample``'s row) become
    ``reference``'s, through a table of :data:`LOOKUP` points over the row's range (a search per pixel: 10x slower)."""
    q = torch.linspace(0, 1, PALETTE_QUANTILES + 1, dtype=values.dtype, device=values.device)
    ours, theirs = torch.quantile(sample, q, dim=1).T.contiguous(), torch.quantile(reference, q, dim=1).T
    low, high = ours[:, :1], ours[:, -1:]
    grid = low + (high - low) * torch.linspace(0, 1, LOOKUP, dtype=values.dtype, device=values.device)
    i = torch.searchsorted(ours, grid).clamp(1, PALETTE_QUANTILES)
    below, above = ours.gather(1, i - 1), ours.gather(1, i)
    t = ((grid - below) / (above - below).clamp_min(1e-8)).clamp(0, 1)
    table = theirs.gather(1, i - 1) + t * (theirs.gather(1, i) - theirs.gather(1, i - 1))
    x = (values - low) / (high - low).clamp_min(1e-8) * 2 - 1  # grid_sample's coordinates: the table's ends at -1, 1
    where = torch.stack([x, torch.zeros_like(x)], -1)[:, None]
    return F.grid_sample(table[:, None, None], where, align_corners=True, padding_mode="border")[:, 0, 0]


def _into_gamut(y: torch.Tensor, offset: torch.Tensor) -> torch.Tensor:
    """The largest k in [0, 1] per pixel with ``y + k * offset`` inside [0, 1] in every channel (RGB = Y + offset)."""
    room = torch.where(offset > 0, 1 - y, y) / offset.abs().clamp_min(1e-12)
    return room.amin(0, keepdim=True).clamp(max=1)
