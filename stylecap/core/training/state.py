"""Training checkpoints: a folder per step, made whole before a pointer is moved to it.

``checkpoints/step-00000100/`` holds ``weights.safetensors`` (every model, with metadata) and
``state.pt`` (optimisers, schedulers, scalers, step, data position, RNG states: tensors and
plain containers only, read back with ``weights_only=True``). The folder is written under a
temporary name and renamed, then ``checkpoints/latest`` is replaced atomically, so a crash at
any moment leaves the previous checkpoint intact and pointed to.
"""

from __future__ import annotations

import os
import random
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..atomic import fsync_folder, new_file_mode, temp_name, write_text_atomic
from ..checkpoint import load_checkpoint, save_checkpoint
from ..errors import CheckpointError

WEIGHTS, STATE = "weights.safetensors", "state.pt"


def rng_state() -> dict[str, Any]:
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    version, internal, gauss_next = random.getstate()
    return {
        "python": [version, list(internal), gauss_next],
        "numpy": {"keys": torch.from_numpy(keys.astype(np.int64)), "pos": pos, "has_gauss": has_gauss, "gauss": gauss},
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }


def set_rng_state(state: dict[str, Any]) -> None:
    version, internal, gauss_next = state["python"]
    random.setstate((version, tuple(internal), gauss_next))
    n = state["numpy"]
    np.random.set_state(("MT19937", n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["gauss"]))
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


class CheckpointFolder:
    """The ``checkpoints/`` folder of a run."""

    def __init__(self, root: Path):
        self.root = Path(root) / "checkpoints"

    def latest(self) -> Path | None:
        pointer = self.root / "latest"
        if not pointer.is_file():
            return None
        name = pointer.read_text(errors="replace").strip()
        path = self.root / name
        complete = sorted(p.name for p in self.root.glob("step-*") if (p / WEIGHTS).is_file() and (p / STATE).is_file())
        if (
            "/" in name
            or "\\" in name
            or name in ("", ".", "..")
            or not (path / WEIGHTS).is_file()
            or not (path / STATE).is_file()
        ):
            choices = f"one of {', '.join(complete)}" if complete else "none is complete"
            raise CheckpointError(
                f"{pointer} points to {name!r}, which is not a complete checkpoint ({choices})",
                f"write a complete checkpoint's name into {pointer} to resume from it, or delete {pointer} to "
                "start afresh (the earlier run's files are then moved to earlier/)",
            )
        return path

    def write(
        self, step: int, weights: dict[str, torch.Tensor], state: dict[str, Any], metadata: dict[str, Any], keep: int
    ) -> Path:
        self.root.mkdir(parents=True, exist_ok=True)
        final = self.root / f"step-{step:08d}"
        tmp = Path(tempfile.mkdtemp(prefix=temp_name(final), suffix=".tmp", dir=self.root))
        try:
            os.chmod(tmp, new_file_mode(folder=True))  # mkdtemp makes 0700; a checkpoint gets what mkdir gives
            save_checkpoint(tmp / WEIGHTS, weights, metadata | {"step": step})
            with open(tmp / STATE, "wb") as f:
                torch.save(state, f)
                f.flush()
                os.fsync(f.fileno())
            if final.exists():  # a folder of this step from another history (a resume from an earlier step)
                old = Path(tempfile.mkdtemp(prefix=temp_name(final), suffix=".tmp", dir=self.root))
                os.replace(final, old / final.name)
                shutil.rmtree(old, ignore_errors=True)
            os.rename(tmp, final)
            fsync_folder(self.root)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        write_text_atomic(self.root / "latest", final.name + "\n")
        self._prune(keep, final)
        return final

    def read(self, path: Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        weights, _ = load_checkpoint(path / WEIGHTS)
        try:
            state = torch.load(path / STATE, map_location="cpu", weights_only=True)
        except Exception as e:
            raise CheckpointError(
                f"{path / STATE} cannot be read ({type(e).__name__}: {e})", "resume from an earlier checkpoint"
            ) from None
        if not isinstance(state, dict):
            raise CheckpointError(
                f"{path / STATE} holds a {type(state).__name__}, not a training state",
                "resume from an earlier checkpoint",
            )
        return weights, state

    def clean_partial(self) -> None:
        """Remove folders a killed run left half-written."""
        for tmp in self.root.glob(".step-*"):
            if tmp.is_dir():
                shutil.rmtree(tmp, ignore_errors=True)
            else:
                tmp.unlink(missing_ok=True)

    def _prune(self, keep: int, newest: Path) -> None:
        steps = sorted(p for p in self.root.glob("step-*") if p.is_dir())
        for old in steps[:-keep]:
            if old != newest:
                shutil.rmtree(old, ignore_errors=True)
