"""Colour handling for style transfer that keeps the content's colours (Gatys et al. 2017).

Two ways: transfer luminance only and put the content's chroma back (YIQ), or recolour the
style images to the content's colour statistics before transfer.
"""

from __future__ import annotations

import torch

_RGB_TO_YIQ = torch.tensor([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]])
_YIQ_TO_RGB = torch.linalg.inv(_RGB_TO_YIQ)


def _mix(matrix: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
    return torch.einsum("ij,bjhw->bihw", matrix.to(image), image)


def to_yiq(image: torch.Tensor) -> torch.Tensor:
    return _mix(_RGB_TO_YIQ, image)


def from_yiq(image: torch.Tensor) -> torch.Tensor:
    return _mix(_YIQ_TO_RGB, image)


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
    x, r = source.flatten(2)[0], reference.flatten(2)[0]
    mu_x, mu_r = x.mean(1, keepdim=True), r.mean(1, keepdim=True)
    a = _sqrtm(torch.cov(r)) @ _sqrtm(torch.cov(x), power=-0.5)
    return (a @ (x - mu_x) + mu_r).reshape(source.shape).clamp(0, 1)


def _sqrtm(cov: torch.Tensor, power: float = 0.5) -> torch.Tensor:
    values, vectors = torch.linalg.eigh(cov + 1e-5 * torch.eye(3, device=cov.device, dtype=cov.dtype))
    return vectors @ torch.diag(values.clamp_min(1e-8).pow(power)) @ vectors.T
