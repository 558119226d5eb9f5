"""Steadier video: each stylised frame leans on the previous one where the picture has not changed.

Per-frame AdaIN lays its texture on the encoder's pixel grid, so a camera pan makes strokes swim
and crawl even where the scene is still. ``TemporalBlend`` finds the camera's shift between two
frames (phase correlation over the whole picture), moves the previous result by it, and blends it
into the new result where the shifted previous frame still matches the new one, so moving objects
and revealed borders take the new result alone. Measured in docs/adain.md.
"""

from __future__ import annotations

import torch


def global_shift(before: torch.Tensor, after: torch.Tensor) -> tuple[int, int]:
    """The whole-pixel ``(dy, dx)`` by which ``after`` shows ``before`` moved (phase correlation)."""
    a, b = torch.fft.rfft2(before.float().mean(-3)), torch.fft.rfft2(after.float().mean(-3))
    cross = b * a.conj()
    surface = torch.fft.irfft2(cross / cross.abs().clamp_min(1e-8), s=before.shape[-2:]).sum(0)
    h, w = surface.shape
    dy, dx = divmod(int(surface.argmax()), w)
    return (dy if dy <= h // 2 else dy - h), (dx if dx <= w // 2 else dx - w)


def shifted(image: torch.Tensor, dy: int, dx: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``image`` moved by ``(dy, dx)``, and a mask ``[..., 1, H, W]`` of where it has content."""
    h, w = image.shape[-2:]
    moved = torch.roll(image, (dy, dx), (-2, -1))
    valid = torch.zeros_like(image[..., :1, :, :])
    valid[..., max(dy, 0) : h + min(dy, 0), max(dx, 0) : w + min(dx, 0)] = 1
    return moved, valid


class TemporalBlend:
    """Blends each frame's result with the previous result, shifted with the camera.

    ``strength`` (0-1) is the previous result's share where nothing changed; ``tolerance`` is the
    mean colour difference (0-1 scale) at which a pixel counts as changed (its share falls as
    ``exp(-difference / tolerance)``). Frames of a new size start afresh.
    """

    def __init__(self, strength: float, tolerance: float = 0.05):
        self.strength, self.tolerance = strength, tolerance
        self.previous: tuple[torch.Tensor, torch.Tensor] | None = None

    def __call__(self, frame: torch.Tensor, result: torch.Tensor) -> torch.Tensor:
        """The blended result for ``frame`` (one picture, ``[1, 3, H, W]``) stylised as ``result``."""
        if self.previous is not None and self.previous[0].shape == frame.shape:
            before, earlier = self.previous
            dy, dx = global_shift(before, frame)
            before, valid = shifted(before, dy, dx)
            earlier, _ = shifted(earlier, dy, dx)
            still = valid * torch.exp(-(frame - before).abs().mean(-3, keepdim=True) / self.tolerance)
            result = result + self.strength * still * (earlier - result)
        self.previous = frame, result
        return result
