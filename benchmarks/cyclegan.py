"""CycleGAN speed: inference pictures per second, and a training step against a plain hand-written one.

    python3 benchmarks/cyclegan.py                      # 512 px inference; training steps at 128 px
    python3 benchmarks/cyclegan.py --train-size 256 --steps 20 --device cuda
    OMP_NUM_THREADS=1 python3 benchmarks/cyclegan.py --threads 1     # steadier on a shared CPU

Inference runs the ``cyclegan`` backend (vintage weights when vintagify is installed, else an
untrained ResNet-9: same cost) on CPU and, when present, on CUDA. Training times the same
networks (ResNet-9 generators, 70x70 PatchGANs, batch 1) twice in one process: through
``stylecap.train`` (engine, trainer, data loading from PNG files, logging) and through a
straightforward loop written here, on tensors already in memory. Medians of per-step times.
"""

from __future__ import annotations

import argparse
import importlib.util
import random
import statistics
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from PIL import Image

import stylecap
import stylecap.plugins.cyclegan as cyclegan
from stylecap.core.host import host
from stylecap.plugins.cyclegan.networks import PatchDiscriminator, ResnetGenerator


def now(device: torch.device) -> tuple[float, float]:
    """Wall-clock and process CPU seconds; CPU time stays honest when other jobs share the cores."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter(), time.process_time()


def median_step(stamps: list[tuple[float, float]]) -> tuple[float, float]:
    """Median wall and CPU seconds between consecutive stamps; the first stamp ends the warm-up run."""
    steps = [(b[0] - a[0], b[1] - a[1]) for a, b in zip(stamps, stamps[1:])]
    return statistics.median(s[0] for s in steps), statistics.median(s[1] for s in steps)


def inference(size: int, runs: int, device: torch.device) -> tuple[float, float]:
    """Seconds per picture (wall, CPU) of the backend at ``size`` x ``size``."""
    weights = "vintage" if importlib.util.find_spec("vintagify") else None
    backend = stylecap.create("style", "cyclegan", weights=weights, max_size=size, tile=size).to(device)
    picture = torch.rand(1, 3, size, size, device=device)
    stamps = []
    with torch.no_grad():
        for _ in range(runs + 1):
            backend.stylize(picture, [])
            stamps.append(now(device))
    return median_step(stamps)


def reference_step(size: int, steps: int, device: torch.device) -> tuple[float, float]:
    """Median step seconds (wall, CPU) of a plain CycleGAN loop (the reference's order of updates), data in memory."""
    g_ab, g_ba = ResnetGenerator().to(device), ResnetGenerator().to(device)
    d_a, d_b = PatchDiscriminator().to(device), PatchDiscriminator().to(device)
    opt_g = torch.optim.Adam([*g_ab.parameters(), *g_ba.parameters()], lr=2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam([*d_a.parameters(), *d_b.parameters()], lr=2e-4, betas=(0.5, 0.999))
    pools: dict[str, list[torch.Tensor]] = {"a": [], "b": []}

    def pooled(name: str, fake: torch.Tensor) -> torch.Tensor:
        pool = pools[name]
        if len(pool) < 50:
            pool.append(fake)
            return fake
        if random.random() < 0.5:
            i = random.randrange(50)
            pool[i], fake = fake, pool[i]
        return fake

    def mse(pred: torch.Tensor, target: float) -> torch.Tensor:
        return F.mse_loss(pred, torch.full_like(pred, target))

    real_a, real_b = (torch.rand(1, 3, size, size, device=device) * 2 - 1 for _ in range(2))
    stamps = []
    for _ in range(steps):
        fake_b, fake_a = g_ab(real_a), g_ba(real_b)
        rec_a, rec_b = g_ba(fake_b), g_ab(fake_a)
        idt_b, idt_a = g_ab(real_b), g_ba(real_a)
        for d in (d_a, d_b):
            d.requires_grad_(False)
        loss_g = mse(d_b(fake_b), 1) + mse(d_a(fake_a), 1)
        loss_g = loss_g + 10 * (F.l1_loss(rec_a, real_a) + F.l1_loss(rec_b, real_b))
        loss_g = loss_g + 5 * (F.l1_loss(idt_a, real_a) + F.l1_loss(idt_b, real_b))
        opt_g.zero_grad()
        loss_g.backward()
        opt_g.step()
        for d in (d_a, d_b):
            d.requires_grad_(True)
        old_a, old_b = pooled("a", fake_a.detach()), pooled("b", fake_b.detach())
        loss_d = 0.5 * (mse(d_a(real_a), 1) + mse(d_a(old_a), 0) + mse(d_b(real_b), 1) + mse(d_b(old_b), 0))
        opt_d.zero_grad()
        loss_d.backward()
        opt_d.step()
        stamps.append(now(device))
    return median_step(stamps)


class Stamps(list):
    """Engine callback: a time stamp at every logged step (log_every=1)."""

    def on_log(self, engine, metrics):
        self.append(now(engine.device))


def stylecap_step(size: int, steps: int, device: torch.device) -> tuple[float, float]:
    """Median step seconds (wall, CPU) of ``stylecap.train("style", "cyclegan", ...)`` at the reference's settings."""
    with tempfile.TemporaryDirectory() as tmp:
        for domain in ("a", "b"):
            (Path(tmp) / domain).mkdir()
            for i in range(4):
                pixels = (torch.rand(size, size, 3) * 255).byte().numpy()
                Image.fromarray(pixels).save(Path(tmp) / domain / f"{i}.png")
        stamps = Stamps()
        stylecap.train(
            "style",
            "cyclegan",
            out=Path(tmp) / "run",
            domain_a=Path(tmp) / "a",
            domain_b=Path(tmp) / "b",
            load_size=size,
            crop_size=size,
            steps=steps,
            log_every=1,
            checkpoint_every=10**9,
            device=str(device),
            callbacks=[stamps],
        )
    return median_step(stamps)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=512, help="inference picture side in pixels")
    parser.add_argument("--runs", type=int, default=3, help="timed inference runs per device (after one warm-up)")
    parser.add_argument("--train-size", type=int, default=128, help="training crop side in pixels")
    parser.add_argument("--steps", type=int, default=6, help="training steps per loop (the first is not counted)")
    parser.add_argument("--rounds", type=int, default=2, help="alternate the two training loops this many times")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu", help="training device")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads(), help="CPU threads for torch")
    parser.add_argument("--skip-inference", action="store_true")
    args = parser.parse_args()
    if not host().pm.has_plugin("cyclegan"):  # before the entry point is installed
        host().register(cyclegan, "cyclegan")
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    random.seed(0)
    gpu = torch.cuda.get_device_name() if torch.cuda.is_available() else "none"
    print(f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads, CUDA: {gpu}")
    if not args.skip_inference:
        for device in ["cpu"] + (["cuda"] if torch.cuda.is_available() else []):
            wall, cpu = inference(args.size, args.runs, torch.device(device))
            rate = f"{1 / wall:.3f} img/s ({wall:.2f} s wall, {cpu:.2f} s CPU per picture)"
            print(f"inference {args.size}x{args.size} on {device}: {rate}")
    device = torch.device(args.device)
    plain, ours = [], []
    for _ in range(args.rounds):  # alternating, so both loops meet the same machine load
        plain.append(reference_step(args.train_size, args.steps, device))
        ours.append(stylecap_step(args.train_size, args.steps, device))
    print(f"training step {args.train_size}x{args.train_size}, batch 1, on {device} (medians; wall / CPU seconds):")
    for what, index in (("wall", 0), ("CPU", 1)):
        p, o = statistics.median(t[index] for t in plain), statistics.median(t[index] for t in ours)
        print(f"  {what:4}  plain loop {p:.3f} s   stylecap.train {o:.3f} s   ratio {o / p:.2f}x")


if __name__ == "__main__":
    main()
