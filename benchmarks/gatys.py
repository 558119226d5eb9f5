"""Gatys speed against a plain reference loop, and peak memory of large outputs.

    python3 benchmarks/gatys.py                                   # 256 px, efficientnet-lite0, 50 steps, 3 rounds
    python3 benchmarks/gatys.py --encoder vgg19 --steps 20        # random-init VGG19 (no ImageNet weights offline)
    python3 benchmarks/gatys.py --memory 1024 2048 4096 --tile-size 512 --steps 3
    python3 benchmarks/gatys.py --profile                         # where a step's time goes, both loops
    python3 benchmarks/gatys.py --device cuda --encoder vgg19 --size 512 --optimizer adam --precision bf16
    python3 benchmarks/gatys.py --time-to-quality --out ttq/ --sheet sheet.jpg --sheet-rows 5  # old vs new defaults
    python3 benchmarks/gatys.py --time-to-quality --device cuda --out ttq-gpu/   # the same on a GPU
    python3 benchmarks/gatys.py --time-to-quality --set fresh --sizes 384 --out ttq-fresh/  # pairs not chosen on

Speed: the ``gatys`` backend and the PyTorch neural-style tutorial's loop, written here (encoder
forward per step, a Gram by ``mm`` per layer in a Python loop, MSE terms, L-BFGS, clamp in the
closure), take turns in one process on the same encoder, pictures and number of steps. The
tutorial's MSE terms are divided by their target's mean square, so both loops minimise the same
relative errors with the same weights (the tutorial's raw 1e6 : 1 was tuned for VGG). Step
times are medians over all rounds of the time between consecutive steps, wall clock and process
CPU (CPU time stays honest when other jobs share the cores). The final losses of both results
are measured by one ``PerceptualLoss`` (style and content relative errors) twice: over the
plain encoder, the reference's objective, and over the framed one, the backend's.

On CUDA (``--device cuda``) a step is not waited for, so ms/step is the marginal cost instead:
(time of a run of ``--steps`` − time of a run of a fifth as many) / the difference in steps, each
run timed from a synchronised start to a synchronised end; set-up, targets and the backend's
graph capture cancel out. ``--precision bf16`` puts the reference's encoder under autocast too.

Time to quality (``--time-to-quality``): today's reference configuration (``REFERENCE``: 200
L-BFGS steps of plain pixels from the content) and the backend's defaults (or ``-s KEY=VALUE``
options) take turns in one process, with glibc keeping freed memory as the ``stylecap`` command
does (docs/performance.md), pair by pair, on the same encoder: offline content x style
pairs (``PAIRS``) at each ``--sizes``. Per run: wall and process CPU seconds of ``stylize``
(AdaIN init included), then the final pictures are judged at full size by one objective, the
backend's own (content, style, TV and range terms, weights as configured), and by two measures
the optimisation never sees: the sliced Wasserstein distance between the picture's and the
style's colours in CIE Lab (``palette``), and the relative Gram error to the style over the
five style layers of a random-init VGG19 (seed 0, ``vgg_gram``). For both, "moved" is how far
the picture came from the content towards the style: 1 − d(result) / d(content). With ``--device
cuda`` both run there, each timed to a synchronised end; the look measures run on the CPU.

Memory: each size runs in a fresh process (peak RSS is a high-water mark), untiled (up to
``--untiled-up-to``) and with ``--tile-size``, for a few steps of the default L-BFGS.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import look
import torch
import torch.nn.functional as F
from look import gram_distance, palette_distance
from PIL import Image

import stylecap
from stylecap.core.config import parse_assignments
from stylecap.core.imageio import read_image, to_pil, to_tensor
from stylecap.core.perceptual import PerceptualLoss
from stylecap.core.styling import fit_size, resize
from stylecap.plugins.gatys.backend import Gatys, GatysConfig
from stylecap.plugins.gatys.tiling import TiledEncoder
from stylecap.plugins.losses.terms import ContentLoss, GramLoss, LayerLossConfig

ROOT = Path(__file__).resolve().parent.parent
IMAGES = ROOT / "examples" / "images"
PANEL = ROOT / "benchmarks" / "panel"

REFERENCE = {"steps": 200, "scales": 1, "line_search": "none", "tolerance": 0, "lbfgs_history": 50, "init": "content",
             "range_weight": 1e3}  # fmt: skip
"""The Gatys defaults before time to quality: 200 unit L-BFGS steps on the pixels from the content picture."""

PAIRS = [
    ("chelsea", "swirls"),
    ("astronaut", "strokes"),
    ("coffee", "panel/styles/gloomy"),
    ("panel/10-man-at-canyon", "panel/styles/sunny"),
    ("panel/17-pagoda", "sk:brick"),
    ("panel/18-dahlia", "sk:immunohistochemistry"),
    ("hubble", "sk:gravel"),
    ("panel/40-rowing-boats", "swirls"),
]
"""Content x style pairs of --time-to-quality: bundled pictures by name, ``panel/NAME`` from
benchmarks/panel, ``sk:NAME`` from scikit-image's data, ``strokes`` drawn by gatys_study.py."""

FRESH_PAIRS = [
    ("panel/02-grace-hopper", "panel/styles/sunny"),
    ("panel/11-cat", "panel/styles/gloomy"),
    ("panel/20-dog-in-woods", "swirls"),
    ("panel/24-storm", "strokes"),
    ("panel/33-mountain-meadow", "sk:grass"),
    ("panel/37-forest-stream", "panel/styles/gloomy"),
    ("panel/41-foggy-jetty", "panel/styles/sunny"),
    ("panel/44-cups", "sk:brick"),
]
"""``--set fresh``: pairs that no default was chosen on, for a check after a choice (first run 2026-12-03)."""

CHECK_PAIRS = [
    ("panel/05-woman-on-beach", "strokes"),
    ("panel/19-raccoon", "sk:gravel"),
    ("panel/22-snowy-airport", "swirls"),
    ("panel/26-marigold", "panel/styles/gloomy"),
    ("panel/34-rocky-peaks", "sk:brick"),
    ("panel/35-two-dogs", "panel/styles/sunny"),
    ("panel/39-sunset", "sk:grass"),
    ("panel/42-forest-path", "sk:immunohistochemistry"),
]
"""``--set check``: the third set, fixed before ``coarse_color`` was measured on it; its default was chosen on these
(2026-12-03, docs/studies/gatys.md)."""

FINAL_PAIRS = [
    ("panel/06-people-in-the-sea", "swirls"),
    ("panel/09-playing-pool", "panel/styles/gloomy"),
    ("panel/21-rabbit", "strokes"),
    ("panel/23-dune-grass", "sk:gravel"),
    ("panel/29-nuthatch", "panel/styles/sunny"),
    ("panel/32-drum-and-wine", "sk:brick"),
    ("panel/38-dandelions", "sk:grass"),
    ("panel/43-kite", "sk:immunohistochemistry"),
]
"""``--set final``: the fourth set, fixed before anything was chosen on ``check``: run once, after the choice."""


def picture(name: str, size: int) -> torch.Tensor:
    """A bundled example picture resized (up or down) so its longer side is ``size``."""
    image = to_tensor(read_image(IMAGES / f"{name}.jpg").rgb)
    h, w = image.shape[-2:]
    scale = size / max(h, w)
    return F.interpolate(image, size=(round(h * scale), round(w * scale)), mode="bicubic", antialias=True).clamp(0, 1)


def offline(name: str, size: int) -> torch.Tensor:
    """An offline picture by name (see ``PAIRS``), resized (up or down) so its longer side is ``size``."""
    if name == "strokes":
        from gatys_study import strokes  # benchmarks/ is on the path when this file runs

        image = to_tensor(strokes())
    elif name.startswith("sk:"):
        from skimage import data

        array = getattr(data, name[3:])()
        image = to_tensor(Image.fromarray(array).convert("RGB"))
    elif name.startswith("panel/"):
        image = to_tensor(read_image(PANEL / f"{name[6:]}.jpg").rgb)
    else:
        image = to_tensor(read_image(IMAGES / f"{name}.jpg").rgb)
    return resize(image, fit_size(image.shape[-2:], size, grow=True)).clamp(0, 1)


def encoder_options(args: argparse.Namespace) -> dict:
    return {"weights": "random"} if args.encoder == "vgg19" else {}


def reference(
    encoder, content, style, steps, style_weight, progress, clamp=True, optimizer="lbfgs", lr=0.02, bf16=False
) -> torch.Tensor:
    """The PyTorch tutorial's neural style loop (one L-BFGS closure evaluation per step; or Adam)."""
    content_layers, style_layers = list(encoder.content_layers), list(encoder.style_layers)

    def gram_matrix(feature):
        a, b, c, d = feature.size()
        flat = feature.view(a * b, c * d)
        return torch.mm(flat, flat.t()).div(a * b * c * d)

    with torch.no_grad():
        content_targets = encoder.features(content, content_layers)
        style_targets = {k: gram_matrix(v) for k, v in encoder.features(style, style_layers).items()}
        content_scales = {k: v.pow(2).mean() for k, v in content_targets.items()}
        style_scales = {k: v.pow(2).mean() for k, v in style_targets.items()}
    x = content.clone().requires_grad_(True)
    optimizer = torch.optim.LBFGS([x], max_iter=1) if optimizer == "lbfgs" else torch.optim.Adam([x], lr=lr)

    def closure():
        if clamp:
            with torch.no_grad():
                x.clamp_(0, 1)
        optimizer.zero_grad()
        with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=bf16):
            features = encoder.features(x, style_layers + content_layers)
        features = {k: v.float() for k, v in features.items()}
        style_score = 0
        for layer in style_layers:
            style_score += F.mse_loss(gram_matrix(features[layer]), style_targets[layer]) / style_scales[layer]
        content_score = 0
        for layer in content_layers:
            content_score += F.mse_loss(features[layer], content_targets[layer]) / content_scales[layer]
        loss = style_weight * style_score / len(style_layers) + content_score / len(content_layers)
        loss.backward()
        return loss

    for step in range(1, steps + 1):
        optimizer.step(closure)
        progress(step)
    with torch.no_grad():
        return x.clamp_(0, 1).detach()


def judge(encoder, content, style, framed: bool) -> Callable[[torch.Tensor], tuple[float, float]]:
    """One yardstick for both results: (style, content) relative errors, no TV, over the encoder
    as the reference sees it or, ``framed``, as the backend does (reflected border, tiling.py)."""
    layers = {"content": list(encoder.content_layers), "style": list(encoder.style_layers)}
    seen = TiledEncoder(encoder, layers["style"] + layers["content"]) if framed else encoder
    terms = {"content": (ContentLoss(LayerLossConfig(layers["content"])), 1.0)}
    terms["style"] = (GramLoss(LayerLossConfig(layers["style"])), 1.0)
    loss = PerceptualLoss(seen, terms)
    loss.set_targets(content=content, style=style)

    def measure(image: torch.Tensor) -> tuple[float, float]:
        with torch.no_grad():
            values = loss(image)[1]
        return values["style"].item(), values["content"].item()

    return measure


def stamp() -> tuple[float, float]:
    return time.perf_counter(), time.process_time()


def per_step(stamps: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Wall and CPU seconds between consecutive steps (the first step, with any warm-up, is left out)."""
    return [(b[0] - a[0], b[1] - a[1]) for a, b in zip(stamps, stamps[1:])]


def speed(args: argparse.Namespace) -> None:
    content, style = picture(args.content, args.size), picture(args.style, args.size)
    encoder = stylecap.create("encoder", args.encoder, **encoder_options(args))
    config = GatysConfig(
        encoder=args.encoder,
        steps=args.gatys_steps or args.steps,
        max_size=args.size,
        style_weight=args.style_weight,
        tv_weight=args.tv,
        precision=args.precision,
        encoder_weights=encoder_options(args).get("weights"),
    )
    ours = Gatys(config, encoder=encoder)
    runs = {
        "reference": lambda progress: reference(
            encoder, content, style, args.steps, args.style_weight, progress, clamp=not args.no_clamp
        ),
        "gatys": lambda progress: ours.stylize(content, [style], progress=lambda *_: progress(None)),
    }
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in runs}
    results = {}
    for round_ in range(args.rounds):
        for name in runs if round_ % 2 == 0 else reversed(runs):  # alternate who goes first
            stamps: list[tuple[float, float]] = []
            results[name] = runs[name](lambda _, stamps=stamps: stamps.append(stamp()))
            times[name] += per_step(stamps)
    yardsticks = [judge(encoder, content, style, framed) for framed in (False, True)]
    print(
        f"{args.encoder}, {content.shape[-1]}x{content.shape[-2]}, {args.steps} steps "
        f"({config.steps} for gatys), {args.rounds} rounds "
        f"interleaved, {torch.get_num_threads()} threads, torch {torch.__version__}, tv {args.tv:g}, "
        f"style weight {args.style_weight:g}, precision {args.precision}" + (", reference unclamped" * args.no_clamp)
    )
    print(f"{'':10s} {'ms/step':>8s} {'CPU ms':>7s}  unframed: style content  framed: style content")
    medians = {}
    for name, steps in times.items():
        medians[name] = [1000 * statistics.median(step[i] for step in steps) for i in (0, 1)]
        losses = "".join(f"{s:16.4f} {c:7.3f}" for s, c in (measure(results[name]) for measure in yardsticks))
        print(f"{name:10s} {medians[name][0]:8.1f} {medians[name][1]:7.1f} {losses}")
    wall, cpu = (medians["reference"][i] / medians["gatys"][i] for i in (0, 1))
    print(f"speed-up (reference / gatys): {wall:.2f}x wall, {cpu:.2f}x CPU")


def cuda_speed(args: argparse.Namespace) -> None:
    """Marginal ms per step of both loops on CUDA (see the module docstring), rounds interleaved."""
    device = torch.device(args.device)
    content, style = picture(args.content, args.size).to(device), picture(args.style, args.size).to(device)
    encoder = stylecap.create("encoder", args.encoder, **encoder_options(args)).to(device).eval()

    def config(steps: int) -> GatysConfig:
        return GatysConfig(
            encoder=args.encoder, steps=steps, max_size=args.size, style_weight=args.style_weight, tv_weight=args.tv,
            precision=args.precision, optimizer=args.optimizer, cuda_graph=not args.no_graph,
        )  # fmt: skip

    runs = {
        "reference": lambda steps: reference(
            encoder, content, style, steps, args.style_weight, lambda _: None, clamp=not args.no_clamp,
            optimizer=args.optimizer, bf16=args.precision == "bf16",
        ),
        "gatys": lambda steps: Gatys(config(steps), encoder=encoder).stylize(content, [style]),
    }  # fmt: skip

    def seconds(run, steps):
        torch.cuda.synchronize()
        start = time.perf_counter()
        result = run(steps)
        torch.cuda.synchronize()
        return time.perf_counter() - start, result

    short = max(1, args.steps // 5)
    per_step: dict[str, list[float]] = {name: [] for name in runs}
    results = {}
    for name in runs:  # warm-up: cuDNN choices, lazy set-up
        runs[name](short)
    for round_ in range(args.rounds):
        for name in runs if round_ % 2 == 0 else reversed(runs):
            (long_s, results[name]), (short_s, _) = seconds(runs[name], args.steps), seconds(runs[name], short)
            per_step[name].append(1000 * (long_s - short_s) / (args.steps - short))
    yardsticks = [judge(encoder, content, style, framed) for framed in (False, True)]
    print(
        f"{args.encoder}, {content.shape[-1]}x{content.shape[-2]}, {torch.cuda.get_device_name(device)}, "
        f"{args.optimizer}, precision {args.precision}, cuda graph {'off' if args.no_graph else 'on'}, "
        f"{args.steps} vs {short} steps, {args.rounds} rounds, torch {torch.__version__}"
    )
    print(f"{'':10s} {'ms/step':>8s}  unframed: style content  framed: style content")
    medians = {name: statistics.median(times) for name, times in per_step.items()}
    for name in runs:
        losses = "".join(f"{s:16.4f} {c:7.3f}" for s, c in (measure(results[name]) for measure in yardsticks))
        print(f"{name:10s} {medians[name]:8.2f} {losses}")
    print(f"speed-up (reference / gatys): {medians['reference'] / medians['gatys']:.2f}x")


def full_size_loss(gatys: Gatys, encoder, content: torch.Tensor, style: torch.Tensor) -> dict[str, float]:
    """The backend's objective (its terms and weights) at the output's size, on the final (clamped) picture."""
    objective = gatys._objective(encoder)
    objective.set_targets(content=content, style=gatys._styles([style], [1.0], content.shape[-2:]))

    def measure(image: torch.Tensor) -> dict[str, float]:
        with torch.no_grad():
            total, values = objective(image.clamp(0, 1))
        return {"loss": total.item(), **{k: v.item() for k, v in values.items()}}

    return measure


def slug(name: str) -> str:
    return name.replace("panel/styles/", "").replace("panel/", "").replace("sk:", "").replace("/", "-")


def time_to_quality(args: argparse.Namespace) -> None:
    from stylecap.plugins.gatys import tiling
    from stylecap_cli.main import keep_freed_memory

    keep_freed_memory()  # as the stylecap command does: without it the new steps' extra tensors fault pages anew

    device = torch.device(args.device)
    encoder = stylecap.create("encoder", args.encoder, **encoder_options(args)).to(device)
    vgg = stylecap.create("encoder", "vgg19", weights="random", seed=0).eval()  # scores on the CPU
    configs = {"reference": {**REFERENCE}, "new": parse_assignments(args.new)}
    passes = [0]
    run_encoder = tiling.TiledEncoder.run

    def counted(self, image, layers):  # encoder passes that will be differentiated: one per loss evaluation
        passes[0] += torch.is_grad_enabled()
        return run_encoder(self, image, layers)

    tiling.TiledEncoder.run = counted
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    pairs = {"issue": PAIRS, "fresh": FRESH_PAIRS, "check": CHECK_PAIRS, "final": FINAL_PAIRS}[args.set]
    jobs = [(c, st, size) for size in args.sizes for c, st in pairs[: args.pairs]]
    backends = {}
    for name, options in configs.items():  # warm-up (lazy set-up, the AdaIN decoder's loading) off the clock
        backends[name] = {size: Gatys(stylecap.create("style", "gatys", max_size=size, **options).config,
                                      encoder=encoder) for size in args.sizes}  # fmt: skip
        for gatys in backends[name].values():
            gatys.stylize(offline("coffee", 48).to(device), [offline("swirls", 48).to(device)])
    print(
        f"{args.encoder}, {device}, {torch.get_num_threads()} threads, torch {torch.__version__}; "
        f"reference {REFERENCE}; "
        f"new: defaults{' + ' + str(configs['new']) if configs['new'] else ''}; load average at start "
        f"{' '.join(f'{v:.1f}' for v in os.getloadavg())}"
    )
    header = (
        f"{'content':>16s} {'style':>10s} {'size':>7s} | {'wall s':>11s} {'CPU s':>11s} {'ratio':>5s} | "
        f"{'steps':>7s} {'passes':>7s} | {'loss':>13s} {'ratio':>5s} | {'style':>15s} {'content':>11s} | "
        f"{'palette moved':>13s} | {'vgg moved':>11s}"
    )
    print(header)
    rows = []
    for index, (content_name, style_name, size) in enumerate(jobs):
        content, style = offline(content_name, size).to(device), offline(style_name, size).to(device)
        row = {"content": content_name, "style": style_name, "size": list(content.shape[-2:])}
        order = list(configs) if index % 2 == 0 else list(reversed(configs))  # alternate who goes first
        results = {}
        for name in order:
            gatys, steps = backends[name][size], []
            passes[0] = 0
            wall, cpu = time.perf_counter(), time.process_time()
            log = lambda step, _, __, steps=steps: steps.append(step)  # noqa: E731
            results[name] = gatys.stylize(content, [style], progress=log)
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            row[name] = {"wall_s": time.perf_counter() - wall, "cpu_s": time.process_time() - cpu,
                         "steps": steps[-1], "passes": passes[0]}  # fmt: skip
            stem = f"{slug(content_name)}-{slug(style_name)}-{size}-{name}.png"
            to_pil(results[name]).save(out / stem)
            row[name]["picture"] = stem
        measure = full_size_loss(backends["reference"][size], encoder, content, style)
        styled = backends["reference"][size]._styles([style], [1.0], content.shape[-2:])[0][0].cpu()
        start = {"palette": palette_distance(content.cpu(), styled), "vgg": gram_distance(vgg, content.cpu(), styled)}
        for name, image in results.items():
            row[name] |= measure(image)
            image = image.cpu()
            row[name]["palette"] = palette_distance(image, styled)
            row[name]["vgg"] = gram_distance(vgg, image, styled)
            for key in ("palette", "vgg"):
                row[name][f"{key}_moved"] = 1 - row[name][key] / start[key]
        row["start"] = start
        rows.append(row)
        ref, new = row["reference"], row["new"]
        print(
            f"{slug(content_name):>16s} {slug(style_name):>10s} {content.shape[-1]:>3d}x{content.shape[-2]:<3d} | "
            f"{ref['wall_s']:5.1f} {new['wall_s']:5.1f} {ref['cpu_s']:5.1f} {new['cpu_s']:5.1f} "
            f"{new['wall_s'] / ref['wall_s']:5.2f} | {ref['steps']:3d} {new['steps']:3d} {ref['passes']:3d} "
            f"{new['passes']:3d} | {ref['loss']:6.3f} {new['loss']:6.3f} {new['loss'] / ref['loss']:5.2f} | "
            f"{ref['style']:.4f} {new['style']:.4f} {ref['content']:.3f} {new['content']:.3f} | "
            f"{ref['palette_moved']:6.2f} {new['palette_moved']:6.2f} | "
            f"{ref['vgg_moved']:5.2f} {new['vgg_moved']:5.2f}",
            flush=True,
        )
        (out / "time-to-quality.json").write_text(json.dumps(rows, indent=1))

    def median(key: str, name: str = "new", over: str | None = "reference") -> float:
        return statistics.median(r[name][key] / (r[over][key] if over else 1) for r in rows)

    print(
        f"median over {len(rows)} runs, new / reference: wall {median('wall_s'):.2f}, CPU {median('cpu_s'):.2f}, "
        f"loss {median('loss'):.3f}, style {median('style'):.3f}, content {median('content'):.3f}, "
        f"palette moved {median('palette_moved'):.2f}, vgg moved {median('vgg_moved'):.2f}; "
        f"worst loss ratio {max(r['new']['loss'] / r['reference']['loss'] for r in rows):.3f}"
    )
    if args.sheet:
        contact_sheet(rows, out, Path(args.sheet), args.sheet_rows)


def contact_sheet(rows: list[dict], folder: Path, path: Path, count: int, tile: int = 200) -> None:
    """content | style | reference | new, one run a row (the largest size of the first ``count`` pairs)."""
    seen, picked = set(), []
    for r in sorted(rows, key=lambda r: -max(r["size"])):
        if (r["content"], r["style"]) not in seen:
            seen.add((r["content"], r["style"]))
            picked.append(r)
    lines = []
    for r in picked[:count]:
        size = max(r["size"])
        lines.append([to_pil(offline(r["content"], size)), to_pil(offline(r["style"], size))])
        lines[-1] += [folder / r[name]["picture"] for name in ("reference", "new")]
    look.contact_sheet(lines, path, (tile, tile))


def profile(args: argparse.Namespace) -> None:
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as torch_profile

    content, style = picture(args.content, args.size), picture(args.style, args.size)
    encoder = stylecap.create("encoder", args.encoder, **encoder_options(args))
    config = GatysConfig(encoder=args.encoder, steps=args.steps, max_size=args.size, tv_weight=args.tv)
    ours = Gatys(config, encoder=encoder)
    for name, run in (
        ("reference", lambda: reference(encoder, content, style, args.steps, args.style_weight, lambda _: None)),
        ("gatys", lambda: ours.stylize(content, [style])),
    ):
        run()  # warm-up
        with torch_profile(activities=[ProfilerActivity.CPU]) as prof:
            run()
        print(f"== {name}, {args.steps} steps")
        print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=15))


def memory_child(args: argparse.Namespace) -> None:
    """One large run in this process: prints seconds and peak RSS as JSON."""
    size, tile = args.child
    content, style = picture(args.content, size), picture(args.style, size)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    config = GatysConfig(encoder=args.encoder, steps=args.steps, max_size=size, tile_size=tile or None)
    start = time.perf_counter()
    Gatys(config, encoder=stylecap.create("encoder", args.encoder, **encoder_options(args))).stylize(content, [style])
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    print(json.dumps({"size": size, "tile": tile or None, "seconds": seconds, "peak_gb": peak / 2**20,
                      "before_gb": before / 2**20}))  # fmt: skip


def memory(args: argparse.Namespace) -> None:
    print(f"{args.encoder}, {args.steps} L-BFGS steps, {torch.get_num_threads()} threads, peak RSS of a fresh process")
    print(f"{'size':>6s} {'tile':>6s} {'peak GB':>8s} {'(inputs)':>9s} {'s/step':>8s}")
    for size in args.memory:
        tiles = [0] * (size <= args.untiled_up_to) + [args.tile_size] * (size > args.tile_size)
        for tile in tiles:
            child = [sys.executable, __file__, "--child", str(size), str(tile), "--steps", str(args.steps)]
            child += ["--encoder", args.encoder, "--threads", str(args.threads)]
            done = subprocess.run(child, capture_output=True, text=True)
            if done.returncode:
                print(f"{size:6d} {tile or '-':>6} failed: {done.stderr.strip().splitlines()[-1]}")
                continue
            row = json.loads(done.stdout.splitlines()[-1])
            print(
                f"{size:6d} {tile or '-':>6} {row['peak_gb']:8.2f} {row['before_gb']:9.2f} "
                f"{row['seconds'] / args.steps:8.1f}"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--encoder", default="efficientnet-lite0", choices=["efficientnet-lite0", "vgg19"])
    parser.add_argument("--size", type=int, default=256, help="longer side of the output")
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--gatys-steps", type=int, help="steps of the backend, if not --steps: how few match the loss")
    parser.add_argument("--rounds", type=int, default=3, help="runs of each loop, taking turns")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--style-weight", type=float, default=30.0)
    parser.add_argument("--tv", type=float, default=0.0, help="gatys' TV weight (the tutorial has none; default 10)")
    parser.add_argument("--precision", default="fp32", choices=["fp32", "bf16"])
    parser.add_argument("--device", default="cpu", help="cpu or cuda (marginal ms/step there); --time-to-quality too")
    parser.add_argument("--optimizer", default="lbfgs", choices=["lbfgs", "adam"], help="(--device cuda) both loops")
    parser.add_argument("--no-graph", action="store_true", help="(--device cuda) gatys without its CUDA graph")
    parser.add_argument("--no-clamp", action="store_true", help="reference without the tutorial's clamp per step")
    parser.add_argument("--content", default="astronaut", help="bundled example picture")
    parser.add_argument("--style", default="swirls", help="bundled example picture")
    parser.add_argument("--profile", action="store_true", help="torch.profiler tables of one run of each loop")
    parser.add_argument("--memory", type=int, nargs="+", metavar="SIZE", help="peak RSS at these sizes instead")
    parser.add_argument("--tile-size", type=int, default=512, help="tile size of the tiled --memory runs")
    parser.add_argument("--untiled-up-to", type=int, default=2048, help="largest --memory size also run untiled")
    parser.add_argument("--time-to-quality", action="store_true", help="reference and defaults over PAIRS instead")
    parser.add_argument("--sizes", type=int, nargs="+", default=[384, 512], help="(--time-to-quality) output sizes")
    parser.add_argument("--pairs", type=int, default=len(PAIRS), help="(--time-to-quality) the first N pairs")
    parser.add_argument(
        "--set", choices=["issue", "fresh", "check", "final"], default="issue", help="(--time-to-quality) which pairs"
    )
    parser.add_argument("-s", "--new", action="append", metavar="KEY=VALUE", help="(--time-to-quality) new options")
    parser.add_argument("--out", default="gatys-ttq", help="(--time-to-quality) folder for pictures and JSON")
    parser.add_argument("--sheet", help="(--time-to-quality) contact sheet file (content | style | reference | new)")
    parser.add_argument("--sheet-rows", type=int, default=4, help="(--time-to-quality) pairs on the sheet")
    parser.add_argument("--child", type=int, nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.child:
        memory_child(args)
    elif args.time_to_quality:
        time_to_quality(args)
    elif args.memory:
        memory(args)
    elif args.profile:
        profile(args)
    elif args.device != "cpu":
        cuda_speed(args)
    else:
        speed(args)


if __name__ == "__main__":
    main()
