"""Timing shared by the benchmarks (imported as a sibling module: run them as ``python3 benchmarks/NAME.py``)."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable


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
