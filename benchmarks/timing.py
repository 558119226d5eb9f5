"""Timing shared by the benchmarks (imported as a sibling module: run them as ``python3 benchmarks/NAME.py``)."""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch


def median_seconds(fn: Callable[[], object], repeats: int, sync: Callable[[], object] = lambda: None) -> float:
    """Median wall time of ``repeats`` calls after one warm-up (allocator, kernels, cuDNN autotuning);
    ``sync`` waits for the device (``torch.cuda.synchronize``) so GPU work is inside the timing."""
    fn()
    sync()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def add_device_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")


def device_of(args: argparse.Namespace) -> tuple[torch.device, Callable[[], object]]:
    """The device the options name and its ``sync`` for ``median_seconds``, after setting the CPU threads."""
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    return device, torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
