"""The Gatys weight study of docs/studies/gatys.md: style fall, content loss and time over content x style pairs.

    python3 benchmarks/gatys_study.py run grid.json astronaut:strokes chelsea:ihc --beta 30 --tv 10
    python3 benchmarks/gatys_study.py sheet grid.json docs/images/gatys_contact_sheet.png --tile 224
    python3 benchmarks/gatys_study.py edges grid.json

``run`` stylises each CONTENT:STYLE pair with ``Gatys`` and writes one JSON row per pair (the
style term at the first and last step, the final content term, seconds per step) and the
result as a PNG next to the JSON file. ``sheet`` lays out (content | style | result) triplets,
two per row, as a 256-colour PNG. ``edges`` prints how saturated each result's top row and left
column are, relative to its median row and column (about 1 without an edge artefact). All
pictures are offline: scikit-image's bundled samples (astronaut, chelsea, coffee, rocket;
ihc = immunohistochemistry, brick, gravel) and ``strokes``, a synthetic painting drawn here
from a seed.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFilter

from stylecap.core.imageio import resize_max, to_pil, to_tensor
from stylecap.plugins.gatys.backend import Gatys, GatysConfig

SKIMAGE_NAMES = {"ihc": "immunohistochemistry"}


def strokes(size: int = 512, seed: int = 0) -> Image.Image:
    """A synthetic painting: 6000 short thick strokes from a blue/orange palette along a swirling flow."""
    rng = np.random.default_rng(seed)
    palette = np.array(
        [(24, 46, 110), (46, 98, 170), (240, 200, 60), (230, 120, 30), (250, 240, 200), (20, 20, 40), (90, 150, 210)]
    )
    image = Image.new("RGB", (size, size), (40, 60, 120))
    draw = ImageDraw.Draw(image)
    for _ in range(6000):
        x, y = rng.uniform(0, size, 2)
        angle = np.sin(x / 60) * 2 + np.cos(y / 45) * 1.5
        length = rng.uniform(8, 22)
        dx, dy = np.cos(angle) * length, np.sin(angle) * length
        colour = np.clip(palette[rng.integers(len(palette))] + rng.integers(-20, 20, 3), 0, 255)
        width = int(rng.integers(3, 7))
        draw.line([(x - dx, y - dy), (x + dx, y + dy)], fill=tuple(int(c) for c in colour), width=width)
    return image.filter(ImageFilter.SMOOTH)


def load(name: str, size: int = 256) -> torch.Tensor:
    """An offline picture by name, its longer side shrunk to ``size``."""
    if name == "strokes":
        image = strokes()
    else:
        from skimage import data  # the study's only use of scikit-image (a test extra)

        image = Image.fromarray(getattr(data, SKIMAGE_NAMES.get(name, name))()).convert("RGB")
    return to_tensor(resize_max(image, size))


def run(args: argparse.Namespace) -> None:
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    weights = {"style_weight": args.beta, "tv_weight": args.tv}
    options = {k: v for k, v in weights.items() if v is not None}
    options |= {"encoder_weights": args.weights} if args.weights else {}
    rows = []
    for pair in args.pairs:
        content_name, style_name = pair.split(":")
        content, style = load(content_name, args.size), load(style_name, args.size)
        gatys = Gatys(GatysConfig(encoder=args.encoder, steps=args.steps, max_size=args.size, **options))
        log: list[dict[str, float]] = []
        start = time.perf_counter()
        result = gatys.stylize(content, [style], progress=lambda step, total, values, log=log: log.append(values))
        seconds = time.perf_counter() - start
        cfg = gatys.config
        picture = out.with_name(f"{out.stem}_{content_name}_{style_name}.png")
        to_pil(result).save(picture)
        row = {
            "content": content_name, "style": style_name, "encoder": args.encoder, "beta": cfg.style_weight,
            "tv": cfg.tv_weight, "steps": args.steps, "size": list(result.shape[-2:]),
            "style_start": log[0]["style"], "style_end": log[-1]["style"],
            "style_fall": 1 - log[-1]["style"] / log[0]["style"], "content_end": log[-1]["content"],
            "seconds_per_step": seconds / args.steps, "result": picture.name,
        }  # fmt: skip
        rows.append(row)
        print(json.dumps({k: round(v, 4) if isinstance(v, float) else v for k, v in row.items()}), flush=True)
    out.write_text(json.dumps(rows, indent=1))


def sheet(args: argparse.Namespace) -> None:
    rows, tile = json.loads(Path(args.study).read_text()), args.tile

    def fit(image: Image.Image) -> Image.Image:
        image = image.copy()
        image.thumbnail((tile, tile), Image.Resampling.LANCZOS)
        box = Image.new("RGB", (tile, tile), "white")
        box.paste(image, ((tile - image.width) // 2, (tile - image.height) // 2))
        return box

    page = Image.new("RGB", (6 * tile, (len(rows) + 1) // 2 * tile), "white")
    for i, row in enumerate(rows):
        result = Image.open(Path(args.study).with_name(row["result"]))
        for j, image in enumerate([to_pil(load(row["content"])), to_pil(load(row["style"])), result]):
            page.paste(fit(image), ((i % 2 * 3 + j) * tile, i // 2 * tile))
    palette = page.quantize(256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.FLOYDSTEINBERG)
    palette.save(args.out, optimize=True)


def edges(args: argparse.Namespace) -> None:
    ratios = []
    for row in json.loads(Path(args.study).read_text()):
        rgb = np.asarray(Image.open(Path(args.study).with_name(row["result"])).convert("RGB"), dtype=float)
        saturation = rgb.max(2) - rgb.min(2)
        rows, cols = saturation.mean(1), saturation.mean(0)
        ratios.append((rows[0] / np.median(rows), cols[0] / np.median(cols)))
        pair = f"{row['content']}:{row['style']}"
        print(f"{pair:18s} top row {ratios[-1][0]:.2f}, left column {ratios[-1][1]:.2f}")
    top, left = np.array(ratios).T
    print(f"median {np.median(top):.2f}, {np.median(left):.2f}; largest {top.max():.2f}, {left.max():.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    study = commands.add_parser("run", help="stylise content:style pairs, write JSON rows and result PNGs")
    study.add_argument("out", help="JSON file; results go next to it as OUT_CONTENT_STYLE.png")
    study.add_argument("pairs", nargs="+", metavar="CONTENT:STYLE")
    study.add_argument("--steps", type=int, default=200)
    study.add_argument("--size", type=int, default=256, help="longer side of the output")
    study.add_argument("--beta", type=float, help="style_weight (default: the backend's)")
    study.add_argument("--tv", type=float, help="tv_weight (default: the backend's)")
    study.add_argument("--encoder", default="efficientnet-lite0")
    study.add_argument("--weights", help="encoder weights, e.g. random for vgg19")
    study.add_argument("--threads", type=int, default=torch.get_num_threads())
    contact = commands.add_parser("sheet", help="contact sheet of a run's pairs")
    contact.add_argument("study", help="JSON file written by run")
    contact.add_argument("out", help="PNG file")
    contact.add_argument("--tile", type=int, default=224, help="side of each picture in pixels")
    border = commands.add_parser("edges", help="saturation of each result's top row and left column")
    border.add_argument("study", help="JSON file written by run")
    args = parser.parse_args()
    {"run": run, "sheet": sheet, "edges": edges}[args.command](args)


if __name__ == "__main__":
    main()
