"""The training loop every trainer shares.

The engine places models on the device, wraps them in DistributedDataParallel under
``torchrun``, runs autocast and grad scaling, clips gradients, schedules learning rates,
checks every loss for NaN/inf, logs scalars (``metrics.jsonl`` plus callbacks such as the
CLI's progress bar), saves samples, and writes checkpoints every N steps, at the end and on
Ctrl-C/SIGTERM. A resumed run continues exactly where the checkpoint left off.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import signal
import sys
import threading
import time
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import torch
import torch.distributed as dist
from PIL import Image

from .. import config as config_mod
from ..atomic import clean_stale, write_text_atomic
from ..component import Component, Trainer
from ..errors import CheckpointError, StylecapError, UsageError
from ..host import registry
from ..pipeline import Pipeline, resolve_device
from .data import batches
from .state import CheckpointFolder, rng_state, set_rng_state


class NonFiniteLossError(StylecapError):
    """A loss became NaN or inf; the last good checkpoint is kept."""


class _NonFinite(Exception):
    def __init__(self, name: str, value: float):
        self.name, self.value = name, value


class Callback(Protocol):
    def on_log(self, engine: Engine, metrics: dict[str, float]) -> None: ...


@dataclass(frozen=True)
class Distributed:
    """Where this process sits in a ``torchrun`` job (rank 0 of 1 when run plainly)."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @classmethod
    def from_env(cls) -> Distributed:
        return cls(
            int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1)), int(os.environ.get("LOCAL_RANK", 0))
        )

    @property
    def main(self) -> bool:
        return self.rank == 0


def lr_factor(schedule: str, step: int, total: int, warmup: int) -> float:
    """Learning-rate multiplier at ``step`` (0-based) of ``total``."""
    if step < warmup:
        return (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    if schedule == "linear":
        return 1.0 - progress
    if schedule == "cosine":
        return 0.5 * (1.0 + math.cos(math.pi * progress))
    if schedule == "constant-then-linear":
        return 1.0 if progress < 0.5 else 2.0 * (1.0 - progress)
    return 1.0


class Engine:
    """Runs one trainer. Trainers call :meth:`autocast`, :meth:`to_device` and :meth:`optimize`."""

    def __init__(
        self,
        trainer: Trainer,
        *,
        resume: bool = False,
        callbacks: Sequence[Callback] = (),
        changed: dict[str, Any] | None = None,
    ):
        self.trainer = trainer
        self.config = trainer.config
        self.resume = resume
        self.changed = dict(changed or {})  # options a resume sets to other values than the run's own
        self.callbacks = list(callbacks)
        self.dist = Distributed.from_env()
        self.out = Path(self.config.out)
        self.checkpoints = CheckpointFolder(self.out)
        self.step = 0
        self.epoch = 0
        self.batch_in_epoch = 0
        self.device = self._pick_device()
        self.skipped_in_a_row = 0
        self._stop_signal: str | None = None
        self._scalers: dict[str, torch.amp.GradScaler] = {}
        self._schedulers: dict[str, torch.optim.lr_scheduler.LambdaLR] = {}
        self._lr_scale = 1.0
        self._sums: dict[str, torch.Tensor] = {}
        self._counts: dict[str, int] = {}  # per metric: a trainer may report some only in some steps
        self._tb = None

    # -- what trainers call --------------------------------------------------------------

    def autocast(self) -> contextlib.AbstractContextManager:
        precision = self.config.precision
        if precision == "fp32":
            return contextlib.nullcontext()
        dtype = torch.bfloat16 if precision == "bf16" else torch.float16
        return torch.autocast(self.device.type, dtype=dtype)

    def to_device(self, batch: Any) -> Any:
        """Move a batch (tensors in any nesting of lists, tuples and dicts) to the device."""
        if isinstance(batch, torch.Tensor):
            batch = batch.to(self.device, non_blocking=True)
            if self.config.channels_last and batch.dim() == 4 and batch.is_floating_point():
                batch = batch.contiguous(memory_format=torch.channels_last)
            return batch
        if isinstance(batch, dict):
            return {k: self.to_device(v) for k, v in batch.items()}
        if isinstance(batch, (list, tuple)):
            return type(batch)(self.to_device(v) for v in batch)
        return batch

    def optimize(self, name: str, loss: torch.Tensor) -> None:
        """Zero ``name``'s gradients, backpropagate ``loss``, clip, and step that optimiser.

        A NaN or inf loss raises before anything is updated.
        """
        if not bool(torch.isfinite(loss.detach())):
            raise _NonFinite(name, float(loss.detach()))
        optimizer = self.trainer.optimizers[name]
        scaler = self._scalers.get(name)
        optimizer.zero_grad(set_to_none=True)
        (scaler.scale(loss) if scaler else loss).backward()
        if self.config.grad_clip is not None:
            if scaler:
                scaler.unscale_(optimizer)
            params = [p for group in optimizer.param_groups for p in group["params"]]
            torch.nn.utils.clip_grad_norm_(params, self.config.grad_clip)
        if scaler:
            scaler.step(optimizer)
            scaler.update()
        else:
            optimizer.step()

    @property
    def is_main(self) -> bool:
        return self.dist.main

    # -- the loop ------------------------------------------------------------------------

    def run(self) -> Component:
        """Train to ``config.steps`` and return the exported backend (also saved to ``out/final``)."""
        self._init_distributed()
        self._prepare_out()
        torch.manual_seed(self.config.seed)  # identical weights and RNG streams on every rank
        self.trainer.build(self)
        self._place_models()
        self._make_schedulers_and_scalers()
        if self.resume:
            self._load(self.checkpoints.latest())
        data = batches(
            self.trainer.dataset,
            global_batch=self.config.batch_size,
            seed=self.config.seed,
            epoch=self.epoch,
            batch_in_epoch=self.batch_in_epoch,
            rank=self.dist.rank,
            world=self.dist.world,
            num_workers=self.config.num_workers,
            pin_memory=self.device.type == "cuda",
        )
        with self._signals():
            try:
                self._loop(data)
            finally:
                self._close_loggers()
        return self._finish()

    def _loop(self, data: Iterator) -> None:
        start = time.perf_counter()
        while self.step < self.config.steps and self._stop_signal is None:
            epoch, batch_in_epoch, batch = next(data)
            try:
                scalars = self.trainer.train_step(self.to_device(batch), self)
                scalars = {
                    k: v.detach().float() if isinstance(v, torch.Tensor) else float(v) for k, v in scalars.items()
                }
                for key, value in scalars.items():
                    if not math.isfinite(value):
                        raise _NonFinite(key, float(value))
            except _NonFinite as bad:
                self._on_nonfinite(bad)
                scalars = None
            self.step += 1
            self.epoch, self.batch_in_epoch = epoch, batch_in_epoch + 1
            with warnings.catch_warnings():  # schedules follow the step, also for optimisers not used yet
                warnings.filterwarnings("ignore", message=re.escape("Detected call of `lr_scheduler.step()`"))
                for scheduler in self._schedulers.values():
                    scheduler.step()
            if scalars is not None:
                self._accumulate(scalars)
            if self.step % self.config.log_every == 0 or self.step == self.config.steps:
                self._log(time.perf_counter() - start)
            if self.config.sample_every and self.step % self.config.sample_every == 0:
                self._sample()
            if self.step % self.config.checkpoint_every == 0:
                self._save()
        if self._stop_signal is not None:
            self._save()
            raise KeyboardInterrupt(f"stopped by {self._stop_signal} at step {self.step}; checkpoint saved")

    def _finish(self) -> Component:
        self._save()
        for name, model in list(self.trainer.models.items()):
            self.trainer.models[name] = getattr(model, "module", model)
        component = self.trainer.export()
        if self.is_main:
            parts = {self.trainer.target: component}
            Pipeline(style=parts.get("style"), caption=parts.get("caption")).save(self.out / "final")
        if dist.is_initialized():
            dist.barrier()
        return component

    # -- pieces --------------------------------------------------------------------------

    def _pick_device(self) -> torch.device:
        if self.config.device:
            return resolve_device(self.config.device)
        if torch.cuda.is_available():
            return torch.device("cuda", self.dist.local_rank % torch.cuda.device_count())
        return torch.device("cpu")

    def _init_distributed(self) -> None:
        if self.dist.world > 1 and not dist.is_initialized():
            if self.device.type == "cuda":
                torch.cuda.set_device(self.device)
            dist.init_process_group("nccl" if self.device.type == "cuda" else "gloo")

    def _prepare_out(self) -> None:
        has_checkpoint = (self.out / "checkpoints" / "latest").is_file()
        if self.resume and not has_checkpoint:
            raise UsageError(f"{self.out} has no checkpoint to resume from", "start without --resume")
        if not self.resume and has_checkpoint:
            raise UsageError(
                f"{self.out} already holds a training run",
                f"continue it with --resume {self.out}, or choose another --out",
            )
        if self.is_main:
            self.out.mkdir(parents=True, exist_ok=True)
            self.checkpoints.clean_partial()
            for folder in (self.out, self.out / "samples"):
                clean_stale(folder)
            if not self.resume:
                self._set_aside_earlier_run()
            doc = {
                "trainer": self.trainer.name,
                "target": self.trainer.target,
                "config": config_mod.to_dict(self.config),
            }
            write_text_atomic(self.out / "config.json", json.dumps(doc, indent=2) + "\n")

    def _set_aside_earlier_run(self) -> None:
        """A new run in a folder an earlier run left files in (its checkpoint pointer deleted, or killed before
        its first checkpoint) moves them to ``earlier/N/``: its checkpoints can never pass for this run's, its
        log never mixes with this one, and nothing is lost."""
        names = ("checkpoints", "metrics.jsonl", "samples", "final", "tensorboard", "config.json")
        found = [self.out / n for n in names if (self.out / n).exists()]
        if not any(p.name != "config.json" for p in found):
            return
        n = 1
        while (self.out / "earlier" / str(n)).exists():
            n += 1
        aside = self.out / "earlier" / str(n)
        aside.mkdir(parents=True)
        for item in found:
            os.replace(item, aside / item.name)
        print(f"stylecap: note: {self.out} held files of an earlier run; they are now in {aside}", file=sys.stderr)

    def _place_models(self) -> None:
        fmt = torch.channels_last if self.config.channels_last else torch.preserve_format
        for name, model in self.trainer.models.items():
            model.to(self.device, memory_format=fmt)
            if self.dist.world > 1 and any(p.requires_grad for p in model.parameters()):
                ids = [self.device.index] if self.device.type == "cuda" else None
                self.trainer.models[name] = torch.nn.parallel.DistributedDataParallel(model, device_ids=ids)

    def _make_schedulers_and_scalers(self) -> None:
        cfg = self.config
        for name, optimizer in self.trainer.optimizers.items():
            self._schedulers[name] = torch.optim.lr_scheduler.LambdaLR(
                optimizer, lambda step: self._lr_scale * lr_factor(cfg.lr_schedule, step, cfg.steps, cfg.warmup_steps)
            )
            if cfg.precision == "fp16":
                self._scalers[name] = torch.amp.GradScaler(self.device.type)

    def _on_nonfinite(self, bad: _NonFinite) -> None:
        message = f"loss {bad.name!r} is {bad.value} at step {self.step + 1}"
        latest = self.checkpoints.latest()
        kept = f"the last good checkpoint is {latest}" if latest else "no checkpoint was written yet"
        if self.config.on_nonfinite == "skip" and self.skipped_in_a_row < self.config.max_skipped_steps:
            self.skipped_in_a_row += 1
            self._lr_scale *= self.config.nonfinite_lr_factor
            for optimizer in self.trainer.optimizers.values():
                optimizer.zero_grad(set_to_none=True)
            if self.is_main:
                print(f"stylecap: warning: {message}; step skipped, learning rates x{self._lr_scale:g}", flush=True)
            return
        raise NonFiniteLossError(
            f"training stopped: {message}; {kept}",
            "lower the learning rate, use precision=fp32, or set on_nonfinite=skip; resume with --resume",
        )

    def _accumulate(self, scalars: dict[str, Any]) -> None:
        self.skipped_in_a_row = 0
        for key, value in scalars.items():
            self._sums[key] = self._sums.get(key, 0.0) + value
            self._counts[key] = self._counts.get(key, 0) + 1

    def _log(self, elapsed: float) -> None:
        metrics = {k: float(v) / self._counts[k] for k, v in self._sums.items()}
        self._sums, self._counts = {}, {}
        lrs = {f"lr/{n}": o.param_groups[0]["lr"] for n, o in self.trainer.optimizers.items()}
        record = {"step": self.step, "epoch": self.epoch, "time_s": round(elapsed, 3)} | metrics | lrs
        if not self.is_main:
            return
        with open(self.out / "metrics.jsonl", "a") as f:
            f.write(json.dumps(record) + "\n")
        if self.config.tensorboard:
            self._tensorboard().add_scalars("train", metrics | lrs, self.step)
        for callback in self.callbacks:
            callback.on_log(self, record)

    def _tensorboard(self):
        if self._tb is None:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:
                raise UsageError("tensorboard=true needs the tensorboard package", "pip install tensorboard") from None
            self._tb = SummaryWriter(self.out / "tensorboard")
        return self._tb

    def _close_loggers(self) -> None:
        if self._tb is not None:
            self._tb.close()

    def _sample(self) -> None:
        if not self.is_main:
            return
        with torch.no_grad():
            sample = self.trainer.sample(self)
        folder = self.out / "samples"
        if isinstance(sample, Image.Image):
            from ..imageio import write_image

            write_image(folder / f"step-{self.step:08d}.png", sample)
        elif sample is not None:
            text = sample if isinstance(sample, str) else "\n".join(map(str, sample))
            write_text_atomic(folder / f"step-{self.step:08d}.txt", text + "\n")

    # -- checkpoints ---------------------------------------------------------------------

    def _save(self) -> None:
        if not self.is_main:
            return
        weights = {
            f"{name}.{key}": value
            for name, model in self.trainer.models.items()
            for key, value in getattr(model, "module", model).state_dict().items()
        }
        state = {
            "step": self.step,
            "epoch": self.epoch,
            "batch_in_epoch": self.batch_in_epoch,
            "lr_scale": self._lr_scale,
            "optimizers": {n: o.state_dict() for n, o in self.trainer.optimizers.items()},
            "schedulers": {n: s.state_dict() for n, s in self._schedulers.items()},
            "scalers": {n: s.state_dict() for n, s in self._scalers.items()},
            "rng": rng_state(),
        }
        metadata = {
            "trainer": self.trainer.name,
            "target": self.trainer.target,
            "config": config_mod.to_dict(self.config),
        }
        self.checkpoints.write(self.step, weights, state, metadata, self.config.keep_checkpoints)

    def _load(self, path: Path) -> None:
        weights, state = self.checkpoints.read(path)
        try:
            for name, model in self.trainer.models.items():
                prefix = f"{name}."
                own = {k[len(prefix) :]: v for k, v in weights.items() if k.startswith(prefix)}
                getattr(model, "module", model).load_state_dict(own)
        except RuntimeError as e:
            lines = [line.strip() for line in str(e).strip().splitlines() if line.strip()] or [type(e).__name__]
            detail = lines[1] if len(lines) > 1 and lines[0].endswith(":") else lines[0]
            if self.changed:
                given = ", ".join(f"{k}={v}" for k, v in self.changed.items())
                raise UsageError(
                    f"--resume {self.out}: its checkpoint does not fit the model built with {given} ({detail})",
                    "resume with the run's own values (leave those options out), or start a new run with another --out",
                ) from None
            raise CheckpointError(
                f"{path} does not fit the model ({detail})", "resume from an earlier checkpoint"
            ) from None
        try:
            for name, optimizer in self.trainer.optimizers.items():
                optimizer.load_state_dict(state["optimizers"][name])
            for name, scheduler in self._schedulers.items():
                scheduler.load_state_dict(state["schedulers"][name])
            for name, scaler in self._scalers.items():
                scaler.load_state_dict(state["scalers"][name])
            self.step, self.epoch, self.batch_in_epoch = state["step"], state["epoch"], state["batch_in_epoch"]
            self._lr_scale = state["lr_scale"]
            set_rng_state(state["rng"])
        except (KeyError, TypeError, ValueError, IndexError, RuntimeError) as e:
            what = f"lacks {e}" if isinstance(e, KeyError) else f"does not fit this run ({type(e).__name__}: {e})"
            raise CheckpointError(
                f"{path / 'state.pt'} {what}",
                f"resume from an earlier checkpoint: write its name (see {self.checkpoints.root}) into "
                f"{self.checkpoints.root / 'latest'}",
            ) from None
        if self.is_main:
            self._truncate_metrics()

    def _truncate_metrics(self) -> None:
        """Drop log lines past the checkpoint (and a line a kill cut short), so a resumed run's log reads as one."""
        path = self.out / "metrics.jsonl"
        if path.is_file():
            kept = []
            for line in path.read_text(errors="replace").splitlines():
                try:
                    record = json.loads(line)
                except ValueError:
                    continue
                if isinstance(record, dict) and isinstance(record.get("step"), int) and record["step"] <= self.step:
                    kept.append(line)
            write_text_atomic(path, "".join(line + "\n" for line in kept))

    @contextlib.contextmanager
    def _signals(self) -> Iterator[None]:
        """Ctrl-C / SIGTERM finish the current step, save, and stop; a second Ctrl-C stops at once."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return

        def handler(signum, frame):
            if self._stop_signal is not None:
                raise KeyboardInterrupt
            self._stop_signal = signal.Signals(signum).name

        previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for s, h in previous.items():
                signal.signal(s, h)


def train(
    kind: str,
    backend: str,
    *,
    resume: str | os.PathLike | None = None,
    callbacks: Sequence[Callback] = (),
    **options: Any,
) -> Component:
    """Train ``backend`` of ``kind`` (``"style"``/``"caption"``) and return the trained component.

    ``options`` are the trainer's config fields (strings allowed, as from the CLI). With
    ``resume=DIR`` the run's saved config is the base and ``options`` override it.
    """
    entry = registry("trainer").get(backend)
    if entry.cls.target != kind:
        raise UsageError(
            f"trainer {backend!r} trains {entry.cls.target} backends, not {kind}",
            f"use `stylecap train {entry.cls.target} {backend}`",
        )
    values: dict[str, Any] = {}
    if resume is not None:
        values = _saved_config(Path(resume), backend) | {"out": str(resume)}
    trainer = entry.create(**(values | options))
    changed = {}
    if resume is not None:
        now = config_mod.to_dict(trainer.config)
        changed = {k.replace("-", "_"): now[k.replace("-", "_")] for k in options}
        changed = {k: v for k, v in changed.items() if k in values and values[k] != v and k != "steps"}
    return Engine(trainer, resume=resume is not None, callbacks=callbacks, changed=changed).run()


def _saved_config(run: Path, backend: str) -> dict[str, Any]:
    """The options a run was started with, from its ``config.json``."""
    saved = run / "config.json"
    if not saved.is_file():
        raise UsageError(f"{run} holds no config.json", "point --resume at a run folder")
    fix = f"restore {saved} from a backup, or start a new run with another --out"
    try:
        doc = json.loads(saved.read_bytes().decode("utf-8"))
    except (ValueError, UnicodeDecodeError, RecursionError) as e:
        raise CheckpointError(f"{saved} is damaged ({type(e).__name__}: {e})", fix) from None
    if not isinstance(doc, dict) or not isinstance(doc.get("config"), dict):
        raise CheckpointError(f"{saved} is damaged: it holds no 'config' object", fix)
    if doc.get("trainer", backend) != backend:
        raise UsageError(
            f"{run} is a run of trainer {doc.get('trainer')!r}, not {backend!r}",
            "resume it with its own trainer, or choose another --out",
        )
    return doc["config"]
