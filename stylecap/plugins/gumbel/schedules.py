"""The inverse temperature β of the Gumbel-softmax over adversarial training (after RelGAN, Nie et al. 2019).

Small β keeps the relaxation smooth (useful gradients, samples far from one-hot); large β makes it nearly
one-hot (what the discriminator sees of real text). Annealing β from 1 to ``β_max`` trades one for the other
over the run. Every schedule is 1 at step 0 and ``β_max`` at the last step, except ``none``, which stays 1.
"""

from __future__ import annotations

import math
from typing import Literal

BetaSchedule = Literal["none", "linear", "exponential", "log", "sigmoid", "quadratic", "sqrt"]
SCHEDULES: tuple[str, ...] = ("none", "linear", "exponential", "log", "sigmoid", "quadratic", "sqrt")


def beta(schedule: str, step: int, total: int, beta_max: float) -> float:
    """β at adversarial ``step`` of ``total`` (0 <= step <= total; past ``total`` it stays at the end value)."""
    if schedule not in SCHEDULES:
        raise ValueError(f"beta schedule must be one of {', '.join(SCHEDULES)}, not {schedule!r}")
    if schedule == "none":
        return 1.0
    p = min(max(step, 0), total) / total if total > 0 else 1.0
    if schedule == "exponential":  # geometric: the same factor every step
        return beta_max**p
    if schedule == "log":  # fast at first
        share = math.log1p(p * total) / math.log1p(total) if total > 0 else 1.0
    elif schedule == "sigmoid":  # slow, fast around the middle, slow; rescaled to be exactly 0 and 1 at the ends
        s = lambda x: 1.0 / (1.0 + math.exp(-10.0 * (x - 0.5)))  # noqa: E731
        share = (s(p) - s(0.0)) / (s(1.0) - s(0.0))
    else:
        share = {"linear": p, "quadratic": p * p, "sqrt": math.sqrt(p)}[schedule]
    return 1.0 + (beta_max - 1.0) * share
