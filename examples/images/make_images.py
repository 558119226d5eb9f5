"""Rebuild the bundled example pictures: public-domain/CC0 photos from scikit-image, and a
painterly style picture drawn here from seeded noise (so its licence is ours: Apache-2.0).

    python examples/images/make_images.py
"""

from pathlib import Path

import numpy as np
import skimage.data
from PIL import Image, ImageFilter

HERE = Path(__file__).parent


def swirls(out: int = 384, seed: int = 7) -> Image.Image:
    """Thick, warped colour bands with brush-like streaks: a stand-in for a painting."""
    size = out * 3 // 2
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size] / size
    warp = sum(
        rng.uniform(0.05, 0.15) * np.sin(2 * np.pi * (rng.uniform(1, 4) * x + rng.uniform(1, 4) * y + rng.uniform()))
        for _ in range(6)
    )
    phase = 6 * np.pi * (np.hypot(x - 0.5, y - 0.45) + warp)
    palette = np.array([[20, 40, 110], [40, 90, 170], [240, 200, 60], [250, 240, 180], [30, 60, 50]], float)
    t = (np.sin(phase) + 1) / 2 * (len(palette) - 1)
    lo = np.floor(t).astype(int).clip(0, len(palette) - 2)
    frac = (t - lo)[..., None]
    rgb = palette[lo] * (1 - frac) + palette[lo + 1] * frac
    strokes = rng.normal(0, 18, (size // 4, size))
    strokes = np.repeat(strokes, 4, axis=0)[:size]
    rgb = (rgb + strokes[..., None]).clip(0, 255).astype(np.uint8)
    img = Image.fromarray(rgb).filter(ImageFilter.ModeFilter(5)).rotate(30, resample=Image.BICUBIC)
    margin = (size - out) // 2
    return img.crop((margin, margin, margin + out, margin + out))


def main() -> None:
    for name in ("chelsea", "astronaut", "coffee"):
        img = Image.fromarray(getattr(skimage.data, name)())
        img.thumbnail((384, 384), Image.LANCZOS)
        img.save(HERE / f"{name}.jpg", quality=92)
    swirls().save(HERE / "swirls.jpg", quality=92)
    Image.fromarray(skimage.data.hubble_deep_field()).resize((384, 384), Image.LANCZOS).save(
        HERE / "hubble.jpg", quality=92
    )


if __name__ == "__main__":
    main()
