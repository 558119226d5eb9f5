"""Colour spaces whose channels are nearly independent, so each can be matched on its own.

Reinhard et al. (2001) move one image's colours toward another's by matching per-channel
mean and standard deviation; that only works where changing one channel does not drag the
others along. ``lab-alpha-beta`` is the paper's lαβ (Ruderman et al. 1998): RGB -> LMS cone
responses -> log10 -> a decorrelating rotation. ``lab`` is CIELAB (sRGB, D65), a common
practical substitute. Images are ``[N, 3, H, W]`` tensors in ``[0, 1]``, on any device.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import torch

Space = Literal["lab-alpha-beta", "lab"]

_RGB_TO_LMS = torch.tensor(
    [[0.3811, 0.5783, 0.0402], [0.1967, 0.7244, 0.0782], [0.0241, 0.1288, 0.8444]], dtype=torch.float64
)
_LOG_LMS_TO_LAB = torch.diag(torch.tensor([3.0, 6.0, 2.0], dtype=torch.float64).rsqrt()) @ torch.tensor(
    [[1.0, 1.0, 1.0], [1.0, 1.0, -2.0], [1.0, -1.0, 0.0]], dtype=torch.float64
)
_LMS_TO_RGB = torch.linalg.inv(_RGB_TO_LMS)
_LAB_TO_LOG_LMS = torch.linalg.inv(_LOG_LMS_TO_LAB)
_LMS_OFFSET = 1e-3
"""Added before log10 (whose 0 is -inf): about a quarter of the darkest non-black 8-bit grey,
so black stays finite, differentiable and close to its neighbours."""

_RGB_TO_XYZ = torch.tensor(
    [[0.4124564, 0.3575761, 0.1804375], [0.2126729, 0.7151522, 0.0721750], [0.0193339, 0.1191920, 0.9503041]],
    dtype=torch.float64,
)
_XYZ_TO_RGB = torch.linalg.inv(_RGB_TO_XYZ)
_WHITE = torch.tensor([0.95047, 1.0, 1.08883], dtype=torch.float64)  # D65
_DELTA = 6 / 29


def _mix(matrix: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Apply a 3x3 colour matrix to every pixel of ``[N, 3, H, W]`` at once."""
    return torch.einsum("ij,njhw->nihw", matrix.to(x), x)


def _channels(v: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    return v.to(x).view(1, 3, 1, 1)


def rgb_to_lab_alpha_beta(rgb: torch.Tensor) -> torch.Tensor:
    lms = _mix(_RGB_TO_LMS, rgb)
    lms = torch.where(lms < 0, 0.0, lms)  # an optimiser's pixels may stray below 0, where log10 is NaN; 0 keeps a gradient
    return _mix(_LOG_LMS_TO_LAB, (lms + _LMS_OFFSET).log10())


def lab_alpha_beta_to_rgb(lab: torch.Tensor) -> torch.Tensor:
    lms = torch.pow(10.0, _mix(_LAB_TO_LOG_LMS, lab)) - _LMS_OFFSET
    return _mix(_LMS_TO_RGB, lms).clamp(0, 1)


def rgb_to_cielab(rgb: torch.Tensor) -> torch.Tensor:
    # Both branches are computed; clamping keeps the unused one finite so gradients stay finite.
    linear = torch.where(rgb <= 0.04045, rgb / 12.92, ((rgb.clamp_min(0.04045) + 0.055) / 1.055) ** 2.4)
    t = _mix(_RGB_TO_XYZ, linear) / _channels(_WHITE, rgb)
    f = torch.where(t > _DELTA**3, t.clamp_min(_DELTA**3) ** (1 / 3), t / (3 * _DELTA**2) + 4 / 29)
    fx, fy, fz = f.unbind(1)
    return torch.stack([116 * fy - 16, 500 * (fx - fy), 200 * (fy - fz)], 1)


def cielab_to_rgb(lab: torch.Tensor) -> torch.Tensor:
    big_l, a, b = lab.unbind(1)
    fy = (big_l + 16) / 116
    f = torch.stack([fy + a / 500, fy, fy - b / 200], 1)
    t = torch.where(f > _DELTA, f**3, 3 * _DELTA**2 * (f - 4 / 29))
    linear = _mix(_XYZ_TO_RGB, t * _channels(_WHITE, lab)).clamp(0, 1)
    srgb = torch.where(linear <= 0.0031308, linear * 12.92, 1.055 * linear.clamp_min(0.0031308) ** (1 / 2.4) - 0.055)
    return srgb.clamp(0, 1)


SPACES: dict[str, tuple[Callable[[torch.Tensor], torch.Tensor], Callable[[torch.Tensor], torch.Tensor]]] = {
    "lab-alpha-beta": (rgb_to_lab_alpha_beta, lab_alpha_beta_to_rgb),
    "lab": (rgb_to_cielab, cielab_to_rgb),
}
"""Space name -> (from RGB, back to RGB, clamped to [0, 1])."""


def moments(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-image, per-channel mean and standard deviation over all pixels: two ``[N, 3]``.

    The std is floored just above zero so a flat image can be divided by, and differentiated.
    """
    var, mean = torch.var_mean(x, dim=(2, 3), correction=0)
    return mean, (var + 1e-12).sqrt()
