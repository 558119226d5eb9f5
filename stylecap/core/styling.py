"""What every style backend does with its inputs, in one place: check the style weights, fit
sizes, read per-style region masks and keep the content's colours."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Literal

import torch
from torch.nn import functional as F

from . import color
from .errors import UsageError
from .imageio import read_image, to_tensor

ColorMode = Literal["none", "luminance", "histogram"]


def fit_size(size: Sequence[int], longer: int | None, grow: bool = False) -> tuple[int, int]:
    """``size`` (h, w) scaled so its longer side is ``longer`` (only shrunk unless ``grow``)."""
    h, w = size
    if longer is None or (max(h, w) <= longer and not grow):
        return h, w
    scale = longer / max(h, w)
    return max(1, round(h * scale)), max(1, round(w * scale))


def resize(image: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
    """Antialiased bilinear resize of ``[B, C, H, W]``; a no-op at the same size."""
    if tuple(image.shape[-2:]) == tuple(size):
        return image
    return F.interpolate(image, size=tuple(size), mode="bilinear", antialias=True, align_corners=False)


def shrink(image: torch.Tensor, longer: int | None) -> torch.Tensor:
    """``image`` shrunk so its longer side is at most ``longer``; never enlarged."""
    return resize(image, fit_size(image.shape[-2:], longer))


def frame(
    image: torch.Tensor, multiple: int = 1, border: int = 0
) -> tuple[torch.Tensor, Callable[[torch.Tensor], torch.Tensor]]:
    """``image`` with ``border`` reflected pixels around it, then padded (replicating the edge) at
    the bottom and right to a multiple of ``multiple``; and the crop that takes a same-size result back.

    Networks with strides only take sizes divisible by them, and a reflected border keeps the
    zero padding of their convolutions away from the picture's own edge rows."""
    h, w = image.shape[-2:]
    b = max(0, min(border, h - 1, w - 1))
    if b:
        image = F.pad(image, (b, b, b, b), mode="reflect")
    pad_h, pad_w = -image.shape[-2] % multiple, -image.shape[-1] % multiple
    if pad_h or pad_w:
        image = F.pad(image, (0, pad_w, 0, pad_h), mode="replicate")
    return image, lambda out: out[..., b : b + h, b : b + w]


def run_padded(
    net: Callable[[torch.Tensor], torch.Tensor], image: torch.Tensor, multiple: int | None = None
) -> torch.Tensor:
    """``net(image)`` for any size: framed to ``multiple`` (default: the net's) and cropped back."""
    framed, crop = frame(image, multiple or getattr(net, "multiple", 1))
    return crop(net(framed))


def blend_weights(backend: str, styles: Sequence[torch.Tensor], weights: Sequence[float] | None) -> list[float]:
    """One non-negative weight per style image, normalised to sum to 1 (equal when not given)."""
    weights = [1.0] * len(styles) if weights is None else [float(w) for w in weights]
    if not styles or len(weights) != len(styles) or min(weights) < 0 or sum(weights) <= 0:
        raise UsageError(
            f"{backend} got {len(styles)} style images and {len(weights)} weights",
            "pass at least one style image, and one non-negative weight per style",
        )
    return [w / sum(weights) for w in weights]


def regions(
    backend: str, masks: torch.Tensor | Sequence[Path] | None, count: int, size: Sequence[int]
) -> torch.Tensor | None:
    """Per-style masks as ``[count, 1, H, W]`` in [0, 1] at ``size``, from tensors or grey image files."""
    if masks is None or len(masks) == 0:
        return None
    if not isinstance(masks, torch.Tensor):
        masks = torch.cat([resize(to_tensor(read_image(p).rgb), size).mean(1, keepdim=True) for p in masks])
    if masks.shape[0] != count:
        raise UsageError(f"{backend} got {masks.shape[0]} masks for {count} styles", "give one mask per style image")
    return resize(masks.float().reshape(count, 1, *masks.shape[-2:]), size)


def keep_colors(
    mode: ColorMode, content: torch.Tensor, styles: Sequence[torch.Tensor]
) -> tuple[torch.Tensor, list[torch.Tensor], Callable[[torch.Tensor], torch.Tensor]]:
    """Colour preservation (Gatys et al. 2017) around any backend: returns the content and styles
    to stylise, and the function that turns the result into the output.

    ``luminance`` stylises grey images and puts the content's chroma back; ``histogram`` recolours
    the styles to the content's colour statistics first; ``none`` only clamps.
    """
    if mode == "luminance":

        def finish(image: torch.Tensor) -> torch.Tensor:
            return color.recolor(image.clamp(0, 1), resize(content, image.shape[-2:]))

        return color.grey(content), [color.grey(s, like=content) for s in styles], finish
    if mode == "histogram":
        styles = [color.match_histogram(s, content) for s in styles]
    return content, list(styles), lambda image: image.clamp(0, 1)
