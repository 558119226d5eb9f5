"""The options every training run has; a trainer's own ``Config`` subclasses this."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Optional

from ..config import field

Schedule = Literal["constant", "linear", "cosine", "constant-then-linear"]
"""Learning-rate factor over a run (see ``engine.lr_factor``)."""


@dataclass
class TrainConfig:
    """Engine options. Trainers add their own fields (data, model sizes, learning rates)."""

    out: Path = field(Path("runs/train"), help="Run folder: checkpoints, metrics.jsonl, samples, final weights.")
    steps: int = field(1000, help="Optimisation steps in total (a resumed run continues up to this).")
    batch_size: int = field(8, help="Global batch size, split evenly over processes under torchrun.")
    seed: int = field(0, help="Seed for weights, data order and augmentation.")
    device: Optional[str] = field(None, help="cpu, cuda, cuda:1 ... (default: cuda if present).")
    precision: Literal["fp32", "bf16", "fp16"] = field("fp32", help="Autocast precision; fp16 adds grad scaling.")
    channels_last: bool = field(False, help="Use channels_last memory format for 4-D tensors (faster convs on GPU).")
    grad_clip: Optional[float] = field(None, help="Clip each optimiser's gradient norm to this.")
    lr_schedule: Schedule = field(
        "constant", help="Learning-rate factor over the run (constant-then-linear decays over the second half)."
    )
    warmup_steps: int = field(0, help="Linear learning-rate warm-up steps.")
    checkpoint_every: int = field(500, help="Write a checkpoint every N steps (and always at the end or on Ctrl-C).")
    keep_checkpoints: int = field(2, help="How many recent checkpoints to keep.")
    log_every: int = field(10, help="Log scalar metrics every N steps.")
    sample_every: int = field(0, help="Save a sample (image grid or text) every N steps; 0 = never.")
    num_workers: int = field(0, help="Data-loader worker processes.")
    tensorboard: bool = field(False, help="Also log to TensorBoard (needs the tensorboard package).")
    on_nonfinite: Literal["stop", "skip"] = field(
        "stop", help="On a NaN/inf loss: stop, or skip the step and lower the learning rate."
    )
    nonfinite_lr_factor: float = field(0.5, help="With on_nonfinite=skip: multiply learning rates by this.")
    max_skipped_steps: int = field(10, help="With on_nonfinite=skip: stop after this many skipped steps in a row.")

    def validate(self) -> None:
        for name in ("steps", "batch_size", "checkpoint_every", "log_every", "keep_checkpoints"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, not {getattr(self, name)}")
        for name in ("warmup_steps", "sample_every", "num_workers", "max_skipped_steps"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative, not {getattr(self, name)}")
        if self.grad_clip is not None and not self.grad_clip > 0:
            raise ValueError(f"grad_clip must be positive (or none), not {self.grad_clip}")
        if not 0 < self.nonfinite_lr_factor <= 1:
            raise ValueError(f"nonfinite_lr_factor must be in (0, 1], not {self.nonfinite_lr_factor}")
