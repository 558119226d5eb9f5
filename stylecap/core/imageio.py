"""Read and write images so that every model sees plain 8-bit RGB, whatever the file held.

Reading normalises orientation, mode and bit depth and keeps transparency aside, so the
models never deal with alpha and the writer can put it back. Every failure a user can fix
(missing file, broken image, oversized image, unknown suffix) becomes a
:class:`~stylecap.core.errors.StylecapError` that names the file.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from stylecap.core.atomic import atomic_path
from stylecap.core.errors import ImageError, StylecapError, UsageError

SUPPORTED_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff", ".gif")
"""Suffixes :func:`find_images` picks up from folders (lower case)."""

_WRITE_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP"}
OUTPUT_SUFFIXES = tuple(_WRITE_FORMATS)
"""Suffixes :func:`write_image` can write (lower case)."""

_HIGH_DEPTH_MODES = ("I;16", "I;16L", "I;16B", "I;16N", "I", "F")

MAX_PIXELS = 64_000_000
"""The most pixels :func:`read_image` decodes by default; sizes derived from options and files are held to it too."""


def check_size(height: int, width: int, what: str, fix: str, *, max_pixels: int = MAX_PIXELS) -> None:
    """Refuse to make a picture (or a feature map per channel) of ``height`` x ``width`` beyond the reader's limit.

    ``what`` names where the size comes from (an option, a file's metadata), ``fix`` what to change.
    """
    if height * width > max_pixels:
        raise UsageError(
            f"{what} asks for a {height}x{width} picture ({height * width:,} pixels), more than the limit of "
            f"{max_pixels:,}",
            fix,
        )


@dataclass(frozen=True)
class LoadedImage:
    """An image as the models want it (``rgb``), with its transparency kept for writing back."""

    rgb: Image.Image
    alpha: Image.Image | None
    path: Path | None


def read_image(
    path: str | os.PathLike,
    *,
    max_pixels: int = MAX_PIXELS,
    background: tuple[int, int, int] = (255, 255, 255),
) -> LoadedImage:
    """Decode ``path`` fully into upright 8-bit RGB, with alpha split off when it is real.

    Transparent pixels are composited over ``background`` so ``rgb`` looks like the image
    does in a viewer. The size is checked against ``max_pixels`` before decoding so a
    small malicious file cannot exhaust memory.
    """
    path = Path(path)
    if path.is_dir():
        raise UsageError(f"{path} is a folder, not an image file", "pass an image file")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                _check_pixels(path, im.size, max_pixels)
                im.load()
                upright = ImageOps.exif_transpose(im)
            rgb, alpha = split_alpha(upright, background)
    except FileNotFoundError:
        raise UsageError(f"image not found: {path}", "check the path") from None
    except PermissionError as e:
        raise ImageError(f"cannot read {path}: permission denied", "check the file's permissions") from e
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise ImageError(
            f"{path} is too large to decode safely: {e}",
            "if you trust this file, raise PIL.Image.MAX_IMAGE_PIXELS and read_image(max_pixels=...)",
        ) from e
    except StylecapError:
        raise
    except (OSError, SyntaxError, ValueError, EOFError) as e:
        reason = "not a known image format" if isinstance(e, UnidentifiedImageError) else e
        raise ImageError(
            f"{path} is not a readable image: {reason}",
            "check that the file is a complete image in a supported format",
        ) from e
    except Exception as e:  # a decoder tripping over a hostile file is that file's problem, not the run's
        raise ImageError(
            f"{path} is not a readable image: {type(e).__name__}: {e}",
            "check that the file is a complete image in a supported format",
        ) from e
    return LoadedImage(rgb=rgb, alpha=alpha, path=path)


def _check_pixels(path: Path, size: tuple[int, int], max_pixels: int) -> None:
    width, height = size
    if width * height > max_pixels:
        raise ImageError(
            f"{path} is {width}x{height} = {width * height:,} pixels, more than the limit of {max_pixels:,}",
            "if you trust this file, pass a larger read_image(max_pixels=...)",
        )


def split_alpha(im: Image.Image, background: tuple[int, int, int]) -> tuple[Image.Image, Image.Image | None]:
    """Return (rgb over background, alpha or None); an all-opaque alpha carries no information."""
    if im.mode in _HIGH_DEPTH_MODES:
        im = _to_8bit(im)
    if not im.has_transparency_data:
        return im.convert("RGB"), None
    rgba = im.convert("RGBA")
    alpha = rgba.getchannel("A")
    if alpha.getextrema() == (255, 255):
        return rgba.convert("RGB"), None
    rgb = Image.new("RGB", rgba.size, background)
    rgb.paste(rgba, mask=alpha)
    return rgb, alpha


def _to_8bit(im: Image.Image) -> Image.Image:
    """Scale 16-bit (or float) grey to 8-bit; PIL's own convert("L") clips instead of scaling.

    Float images whose values lie in [0, 1] are taken as normalised; everything else as 16-bit.
    """
    data = np.asarray(im, dtype=np.float64)
    scale = 255.0 if im.mode == "F" and data.size and data.max() <= 1.0 else 255.0 / 65535.0
    return Image.fromarray(np.clip(np.rint(data * scale), 0, 255).astype(np.uint8))


def write_image(
    path: str | os.PathLike,
    rgb: Image.Image,
    *,
    alpha: Image.Image | None = None,
    quality: int = 95,
) -> Path:
    """Write ``rgb`` (plus ``alpha`` where the format holds it) atomically; return the path.

    The format follows the suffix. JPEG has no alpha channel, so ``alpha`` is dropped there.
    Writing goes through a temporary file, so a failure never leaves a half-written image
    and never damages an existing one.
    """
    path = Path(path)
    fmt = _WRITE_FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise UsageError(
            f"cannot write {path}: unsupported image suffix {path.suffix or '(none)'!r}",
            f"use one of {', '.join(OUTPUT_SUFFIXES)}",
        )
    img = rgb.convert("RGB")
    if alpha is not None and fmt != "JPEG":
        if alpha.size != img.size:
            alpha = alpha.resize(img.size, Image.Resampling.LANCZOS)
        img.putalpha(alpha.convert("L"))
    try:
        with atomic_path(path) as tmp:
            img.save(tmp, format=fmt, quality=quality)
    except OSError as e:
        raise ImageError(f"cannot write {path} ({e})", "check that the folder is writable and has free space") from e
    return path


def to_tensor(img: Image.Image) -> torch.Tensor:
    """Turn an RGB image into the float32 [1, 3, H, W] batch in [0, 1] that models take."""
    data = np.asarray(img.convert("RGB"), dtype=np.float32) / 255.0
    return torch.from_numpy(data).permute(2, 0, 1).unsqueeze(0).contiguous()


def to_pil(t: torch.Tensor) -> Image.Image:
    """Turn a model output ([1, 3, H, W] or [3, H, W], nominally in [0, 1]) into an RGB image."""
    if t.dim() == 4 and t.shape[0] == 1:
        t = t[0]
    if t.dim() != 3 or t.shape[0] != 3:
        raise ValueError(f"expected a [1, 3, H, W] or [3, H, W] tensor, got shape {tuple(t.shape)}")
    data = t.detach().float().clamp(0, 1).mul(255).round().to(torch.uint8)
    return Image.fromarray(data.permute(1, 2, 0).cpu().numpy())


def find_images(paths: Iterable[str | os.PathLike]) -> list[Path]:
    """Expand folders into the images they hold, so callers accept files and folders alike.

    Files are kept as given, whatever their suffix: :func:`read_image` judges them. Folders
    are listed non-recursively in sorted order, keeping files with a supported suffix and
    skipping hidden ones (such as macOS ``._name.png`` metadata files).
    """
    found: list[Path] = []
    for path in map(Path, paths):
        if path.is_dir():
            images = sorted(
                p
                for p in path.iterdir()
                if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in SUPPORTED_SUFFIXES
            )
            if not images:
                raise UsageError(
                    f"no images in folder {path}",
                    f"put files ending in {', '.join(SUPPORTED_SUFFIXES)} there",
                )
            found.extend(images)
        elif path.exists():
            found.append(path)
        else:
            raise UsageError(f"{path} does not exist", "check the path")
    return found


def resize_max(img: Image.Image, max_size: int | None) -> Image.Image:
    """Shrink ``img`` so its longer side is at most ``max_size``; smaller images are returned as is.

    Never upscales: enlarging adds no detail and only costs compute.
    """
    if max_size is None:
        return img
    if max_size < 1:
        raise UsageError(f"max size must be at least 1 pixel, got {max_size}")
    width, height = img.size
    longer = max(width, height)
    if longer <= max_size:
        return img
    scale = max_size / longer
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return img.resize(size, Image.Resampling.LANCZOS)
