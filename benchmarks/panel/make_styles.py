"""Draw the panel's two contrasting style pictures from seeded noise (their licence is ours).

    python benchmarks/panel/make_styles.py

styles/gloomy.jpg: dark blues, greys and black in broad, jagged, criss-crossing strokes with pale slashes.
styles/sunny.jpg: yellows, light blues and pinks in long, soft, blurred strokes around a warm glow.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

HERE = Path(__file__).parent
SIZE = 384
SCALE = 2  # drawn at twice the size, then reduced: smoother edges


def smooth_noise(rng: np.random.Generator, size: int, cells: int) -> np.ndarray:
    """Values in 0..1 that vary slowly: a coarse random grid, enlarged with bicubic resampling."""
    grid = rng.random((cells, cells)).astype(np.float32)
    img = Image.fromarray(grid, mode="F").resize((size, size), Image.Resampling.BICUBIC)
    field = np.asarray(img)
    return (field - field.min()) / (np.ptp(field) + 1e-6)


def ramp(t: np.ndarray, colours: list[tuple[int, int, int]]) -> np.ndarray:
    """Map t in 0..1 onto a list of colours, blending between neighbours."""
    pal = np.asarray(colours, np.float32)
    pos = np.clip(t, 0, 1) * (len(pal) - 1)
    lo = np.minimum(pos.astype(int), len(pal) - 2)
    frac = (pos - lo)[..., None]
    return pal[lo] * (1 - frac) + pal[lo + 1] * frac


def pick(rng: np.random.Generator, colours: list[tuple[int, int, int]], jitter: float) -> tuple[int, int, int]:
    c = np.asarray(colours[rng.integers(len(colours))], float) + rng.normal(0, jitter, 3)
    return tuple(int(v) for v in c.clip(0, 255))


def gloomy(seed: int = 11) -> Image.Image:
    """Storm-dark ground, broad black-blue strokes, jagged slate strokes and a few pale slashes."""
    rng = np.random.default_rng(seed)
    n = SIZE * SCALE
    y = np.linspace(0, 1, n)[:, None]
    t = 0.55 * smooth_noise(rng, n, 5) + 0.45 * (1 - y)  # a little lighter towards the top
    ground = ramp(t, [(4, 5, 10), (14, 20, 36), (30, 40, 62), (58, 66, 84)])
    img = Image.fromarray(ground.astype(np.uint8))
    draw = ImageDraw.Draw(img)
    angle = smooth_noise(rng, n, 4) * 2 * np.pi  # a turbulent stroke direction that changes quickly

    def jagged(x: float, y: float, turns: int, step: tuple[float, float], bend: float) -> list[tuple[float, float]]:
        a = angle[int(y) % n, int(x) % n] + rng.normal(0, 0.3)
        pts = [(x, y)]
        for _ in range(turns):  # straight segments with sharp turns: a zig-zag
            a += rng.choice([-1, 1]) * rng.uniform(0.3, bend)
            d = rng.uniform(*step) * SCALE
            x, y = x + d * np.cos(a), y + d * np.sin(a)
            pts.append((x, y))
        return pts

    broad = [(0, 0, 0), (6, 8, 16), (14, 20, 38), (24, 32, 56)]
    for _ in range(260):  # heavy dark masses
        draw.line(
            jagged(*rng.uniform(0, n, 2), 3, (20, 50), 0.9),
            fill=pick(rng, broad, 3),
            width=int(rng.integers(10, 22)) * SCALE,
        )
    slate = [(36, 46, 70), (52, 62, 86), (70, 78, 96), (22, 28, 44)]
    for _ in range(700):  # agitated mid-tone strokes
        draw.line(
            jagged(*rng.uniform(0, n, 2), int(rng.integers(2, 5)), (8, 24), 1.3),
            fill=pick(rng, slate, 4),
            width=int(rng.integers(2, 6)) * SCALE,
        )
    slash = np.pi / 3 + rng.normal(0, 0.08)  # pale slashes share one steep, rain-like direction
    for _ in range(90):
        x, y = rng.uniform(0, n, 2)
        d = rng.uniform(12, 40) * SCALE
        a = slash + rng.normal(0, 0.12)
        ink = pick(rng, [(140, 150, 168), (112, 124, 146), (176, 182, 192)], 5)
        draw.line([(x, y), (x + d * np.cos(a), y + d * np.sin(a))], fill=ink, width=int(rng.integers(1, 4)) * SCALE)
    img = img.filter(ImageFilter.UnsharpMask(radius=2, percent=160, threshold=2))
    return img.resize((SIZE, SIZE), Image.Resampling.LANCZOS)


def sunny(seed: int = 5) -> Image.Image:
    """Pale warm ground with a yellow glow, overlaid with long curving strokes, then softened."""
    rng = np.random.default_rng(seed)
    n = SIZE * SCALE
    yy, xx = np.mgrid[0:n, 0:n] / n
    glow = np.exp(-((xx - 0.68) ** 2 + (yy - 0.3) ** 2) / 0.09)  # a sun, up and to the right
    t = 0.6 * smooth_noise(rng, n, 4) + 0.4 * yy
    ground = ramp(t, [(255, 236, 150), (255, 214, 226), (178, 222, 248), (206, 236, 255)])
    ground = ground * (1 - 0.7 * glow[..., None]) + np.array([255, 246, 190]) * 0.7 * glow[..., None]
    img = Image.fromarray(ground.clip(0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(img)
    inks = [
        (255, 222, 90),
        (255, 200, 70),
        (255, 244, 170),
        (250, 176, 200),
        (255, 206, 222),
        (150, 206, 245),
        (196, 230, 255),
    ]
    flow = smooth_noise(rng, n, 3) * np.pi  # a gentle, slowly turning stroke direction
    for _ in range(520):
        x, y = rng.uniform(0, n, 2)
        ink = pick(rng, inks, 8)
        r = rng.uniform(7, 16) * SCALE / 2
        for _ in range(int(rng.integers(10, 28))):  # a long curved stroke laid down as round dabs
            a = flow[int(y) % n, int(x) % n]
            draw.ellipse((x - r, y - r, x + r, y + r), fill=ink)
            x, y = x + 0.8 * r * np.cos(a), y + 0.8 * r * np.sin(a)
            r *= 0.97
    img = img.filter(ImageFilter.GaussianBlur(3 * SCALE))
    return img.resize((SIZE, SIZE), Image.Resampling.LANCZOS)


def main() -> None:
    out = HERE / "styles"
    out.mkdir(exist_ok=True)
    gloomy().save(out / "gloomy.jpg", quality=92)
    sunny().save(out / "sunny.jpg", quality=92)


if __name__ == "__main__":
    main()
