"""Gatys speed against a plain reference loop, and peak memory of large outputs.

    python3 benchmarks/gatys.py                                   # 256 px, efficientnet-lite0, 50 steps, 3 rounds
    python3 benchmarks/gatys.py --encoder vgg19 --steps 20        # random-init VGG19 (no ImageNet weights offline)
    python3 benchmarks/gatys.py --memory 1024 2048 4096 --tile-size 512 --steps 3
    python3 benchmarks/gatys.py --profile                         # where a step's time goes, both loops
    python3 benchmarks/gatys.py --device cuda --encoder vgg19 --size 512 --optimizer adam --precision bf16

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

Memory: each size runs in a fresh process (peak RSS is a high-water mark), untiled (up to
``--untiled-up-to``) and with ``--tile-size``, for a few steps of the default L-BFGS.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F

import stylecap
from stylecap.core.imageio import read_image, to_tensor
from stylecap.core.perceptual import PerceptualLoss
from stylecap.plugins.gatys.backend import Gatys, GatysConfig
from stylecap.plugins.gatys.tiling import TiledEncoder
from stylecap.plugins.losses.terms import ContentLoss, GramLoss, LayerLossConfig

IMAGES = Path(__file__).resolve().parent.parent / "examples" / "images"


def picture(name: str, size: int) -> torch.Tensor:
    """A bundled example picture resized (up or down) so its longer side is ``size``."""
    image = to_tensor(read_image(IMAGES / f"{name}.jpg").rgb)
    h, w = image.shape[-2:]
    scale = size / max(h, w)
    return F.interpolate(image, size=(round(h * scale), round(w * scale)), mode="bicubic", antialias=True).clamp(0, 1)


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
    parser.add_argument("--device", default="cpu", help="cpu, or cuda: marginal ms/step (module docstring)")
    parser.add_argument("--optimizer", default="lbfgs", choices=["lbfgs", "adam"], help="(--device cuda) both loops")
    parser.add_argument("--no-graph", action="store_true", help="(--device cuda) gatys without its CUDA graph")
    parser.add_argument("--no-clamp", action="store_true", help="reference without the tutorial's clamp per step")
    parser.add_argument("--content", default="astronaut", help="bundled example picture")
    parser.add_argument("--style", default="swirls", help="bundled example picture")
    parser.add_argument("--profile", action="store_true", help="torch.profiler tables of one run of each loop")
    parser.add_argument("--memory", type=int, nargs="+", metavar="SIZE", help="peak RSS at these sizes instead")
    parser.add_argument("--tile-size", type=int, default=512, help="tile size of the tiled --memory runs")
    parser.add_argument("--untiled-up-to", type=int, default=2048, help="largest --memory size also run untiled")
    parser.add_argument("--child", type=int, nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.child:
        memory_child(args)
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
