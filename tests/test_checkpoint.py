"""Checkpoints: bit-exact round trips, metadata, safe legacy import, atomic writes."""

from __future__ import annotations

import os

import pytest
import torch

from stylecap.core import checkpoint
from stylecap.core.errors import CheckpointError, UsageError


def tensors():
    g = torch.Generator().manual_seed(3)
    return {
        "conv.weight": torch.randn(4, 3, 3, 3, generator=g),
        "half": torch.randn(5, generator=g).half(),
        "bf16": torch.randn(2, 2, generator=g).bfloat16(),
        "steps": torch.arange(3, dtype=torch.int64),
    }


def test_round_trip_is_bit_exact_with_metadata(tmp_path):
    path = tmp_path / "m.safetensors"
    checkpoint.save_checkpoint(path, tensors(), {"backend": "gatys", "config": {"steps": 5}, "step": 12})
    loaded, meta = checkpoint.load_checkpoint(path)
    for name, t in tensors().items():
        assert loaded[name].dtype == t.dtype and torch.equal(loaded[name], t)
    assert meta["backend"] == "gatys" and meta["format"] == checkpoint.FORMAT
    assert checkpoint.metadata_json(meta, "config") == {"steps": 5}
    assert checkpoint.metadata_json(meta, "step") == 12


def test_shared_and_strided_tensors_are_saved(tmp_path):
    w = torch.randn(4, 4)
    checkpoint.save_checkpoint(tmp_path / "t.safetensors", {"a": w, "tied": w, "t": w.t()})
    loaded, _ = checkpoint.load_checkpoint(tmp_path / "t.safetensors")
    assert torch.equal(loaded["tied"], w) and torch.equal(loaded["t"], w.t())


def test_failed_write_keeps_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "m.safetensors"
    checkpoint.save_checkpoint(path, tensors())
    before = path.read_bytes()

    def explode(tensors, filename, metadata=None):
        open(filename, "wb").write(b"partial")
        raise KeyboardInterrupt

    monkeypatch.setattr(checkpoint, "save_file", explode)
    with pytest.raises(KeyboardInterrupt):
        checkpoint.save_checkpoint(path, {"x": torch.zeros(1)})
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["m.safetensors"]


def test_corrupt_and_missing_checkpoints_have_clear_errors(tmp_path):
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"\x00" * 20)
    with pytest.raises(CheckpointError, match="bad.safetensors is not a readable safetensors"):
        checkpoint.load_checkpoint(bad)
    with pytest.raises(UsageError, match="nope.safetensors does not exist"):
        checkpoint.load_checkpoint(tmp_path / "nope.safetensors")


def test_legacy_import_reads_state_dicts_only(tmp_path):
    sd = tensors()
    torch.save({"state_dict": sd, "epoch": 3}, tmp_path / "nested.pth")
    loaded = checkpoint.import_legacy(tmp_path / "nested.pth")
    assert all(torch.equal(loaded[k], v) for k, v in sd.items())

    class Evil:
        def __reduce__(self):
            return (os.system, ("echo pwned",))

    torch.save({"w": torch.zeros(1), "evil": Evil()}, tmp_path / "evil.pth")
    with pytest.raises(CheckpointError, match="evil.pth cannot be read as plain tensors"):
        checkpoint.import_legacy(tmp_path / "evil.pth")
    torch.save({"lr": 0.1}, tmp_path / "nostate.pt")
    with pytest.raises(CheckpointError, match="does not hold a state dict"):
        checkpoint.import_legacy(tmp_path / "nostate.pt")


def test_nan_weights_and_bad_metadata_are_checkpoint_errors(tmp_path):
    path = tmp_path / "nan.safetensors"
    checkpoint.save_checkpoint(path, {"w": torch.tensor([1.0, float("nan")]), "steps": torch.arange(3)})
    with pytest.raises(CheckpointError, match="NaN values.*'w'"):
        checkpoint.load_checkpoint(path)
    torch.save({"w": torch.full((2,), float("nan"))}, tmp_path / "nan.pth")
    with pytest.raises(CheckpointError, match="NaN"):
        checkpoint.import_legacy(tmp_path / "nan.pth")
    checkpoint.save_checkpoint(tmp_path / "m.safetensors", {"w": torch.ones(1)}, {"config": "{not json"})
    _, meta = checkpoint.load_checkpoint(tmp_path / "m.safetensors")
    with pytest.raises(CheckpointError, match="metadata 'config' of m.safetensors is not valid JSON"):
        checkpoint.metadata_json(meta, "config", source="m.safetensors")
