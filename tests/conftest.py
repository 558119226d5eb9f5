"""Shared fixtures: a fresh plugin host per test and a small in-process plugin.

The tests are CPU tests (bit-exact resumes, equal outputs, tensors made on the CPU), but trainers and
pipelines pick a GPU when one is visible, so GPUs are hidden from them, here and in the processes they
start, before anything initialises CUDA. ``STYLECAP_TEST_CUDA=1 python -m pytest -k cuda`` runs the
GPU tests instead.
"""

from __future__ import annotations

import os

if not os.environ.get("STYLECAP_TEST_CUDA"):
    os.environ["CUDA_VISIBLE_DEVICES"] = ""

import json
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from PIL import Image

import stylecap
from stylecap.core import host as plugins


@pytest.fixture(autouse=True)
def fresh_plugin_host(monkeypatch):
    """Each test sees plugins loaded from the environment it sets, and leaks none."""
    for var in ("STYLECAP_LOAD_PLUGINS", "STYLECAP_DISABLE_PLUGINS", "STYLECAP_STRICT_PLUGINS", "STYLECAP_DEBUG"):
        monkeypatch.delenv(var, raising=False)
    plugins.reset()
    yield
    plugins.reset()


class MeanShift(stylecap.StyleBackend):
    """Moves each channel's mean toward the style's (a tiny real backend for tests)."""

    name = "mean-shift"

    @dataclass
    class Config:
        amount: float = stylecap.field(1.0, help="0 keeps the content, 1 matches the style means.")

    def stylize(self, content, styles, *, style_weights=None, progress=None):
        weights = torch.tensor(style_weights or [1.0] * len(styles))
        weights = weights / weights.sum()
        target = sum(w * s.mean((2, 3), keepdim=True) for w, s in zip(weights, styles))
        if progress:
            progress(1, 1, {})
        return (content + self.config.amount * (target - content.mean((2, 3), keepdim=True))).clamp(0, 1)


class Brightness(stylecap.CaptionBackend):
    """Says whether a picture is bright or dark."""

    name = "brightness"

    def caption(self, image, *, content=None):
        return "wow, so bright" if image.mean() > 0.5 else "ooh, moody and dark"


class Scale(stylecap.Component, torch.nn.Module):
    """A one-parameter generator, to test that weights travel with a pipeline."""

    name = "scale"

    def __init__(self, config=None):
        super().__init__(config)
        self.weight = torch.nn.Parameter(torch.ones(3))


class Weighted(MeanShift):
    """A style backend that carries weights (a learnt per-channel gain)."""

    name = "weighted"

    def __init__(self, config=None):
        super().__init__(config)
        self.gain = Scale()

    def stylize(self, content, styles, *, style_weights=None, progress=None):
        return (content * self.gain.weight.view(1, 3, 1, 1)).clamp(0, 1)

    def state_dict(self):
        return self.gain.state_dict()

    def load_state_dict(self, state):
        self.gain.load_state_dict(state)


def run_cli(capsys, *args: str) -> tuple[int, str, str]:
    """Run ``stylecap ARGS`` in-process: (exit code, stdout, stderr less plugin warnings).

    Typer ends with SystemExit even on success; a warning about a broken plugin elsewhere is
    not the command's own error message.
    """
    from stylecap_cli.main import main

    with pytest.raises(SystemExit) as info:
        main(list(args))
    captured = capsys.readouterr()
    err = "".join(line for line in captured.err.splitlines(True) if not line.startswith("stylecap: warning"))
    return info.value.code or 0, captured.out, err


@pytest.fixture(scope="session", autouse=True)
def one_thread():
    """The tests' networks are small: they run as fast on one thread, and threads that wait on each other slow
    down most when other jobs share the cores (a trained fixture took 42 s with every thread, 5 s with one)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def metrics(run: Path) -> list[dict]:
    """A training run's logged lines without their wall times: what must repeat exactly on resume."""
    rows = (json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines())
    return [{k: v for k, v in row.items() if k != "time_s"} for row in rows]


def check_resume_is_exact(kind: str, trainer: str, run: Path, **options) -> None:
    """Train to the end with a checkpoint at step 3, rewind as if killed after step 3, resume: every logged
    number and every weight must equal the uninterrupted run's, bit for bit."""
    options = options | {"checkpoint_every": 3, "keep_checkpoints": 3}
    whole = stylecap.train(kind, trainer, out=run, **options)
    logged = metrics(run)
    (run / "checkpoints" / "latest").write_text("step-00000003\n")
    resumed = stylecap.train(kind, trainer, resume=run)
    assert metrics(run) == logged
    for key, value in whole.state_dict().items():
        assert torch.equal(resumed.state_dict()[key], value), key


@pytest.fixture
def toy_plugin():
    """Register a plugin object in-process, as a test of a third-party plugin would."""
    plugin = SimpleNamespace(
        register_style_backends=stylecap.hookimpl(lambda register: (register(MeanShift), register(Weighted))),
        register_caption_backends=stylecap.hookimpl(lambda register: register(Brightness)),
        register_generators=stylecap.hookimpl(lambda register: register(Scale)),
    )
    host = plugins.host()
    host.register(plugin, "toy")
    yield plugin
    if host.pm.has_plugin("toy"):
        host.unregister("toy")


@pytest.fixture
def images(tmp_path):
    """A 48x40 content picture and two flat style pictures on disk."""
    g = torch.Generator().manual_seed(0)
    content = (108 + torch.rand(40, 48, 3, generator=g) * 40).to(torch.uint8).numpy()
    paths = SimpleNamespace(
        content=tmp_path / "content.png",
        red=tmp_path / "red.png",
        blue=tmp_path / "blue.jpg",
    )
    Image.fromarray(content).save(paths.content)
    Image.new("RGB", (32, 32), (180, 60, 60)).save(paths.red)
    Image.new("RGB", (32, 32), (60, 60, 180)).save(paths.blue, quality=100)
    return paths
