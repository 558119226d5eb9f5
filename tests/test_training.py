"""The training engine: exact resume, crash safety, NaN handling, precision, schedules, DDP, CLI."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

import stylecap
from stylecap.core import host as plugins
from stylecap.core.errors import ConfigError, UsageError
from stylecap.core.training.data import EpochSampler
from stylecap.core.training.engine import NonFiniteLossError, lr_factor
from stylecap.core.training.state import CheckpointFolder

from . import toy_trainer

ROOT = Path(__file__).resolve().parents[1]
FAST = {"batch_size": 4, "log_every": 1, "checkpoint_every": 5}


@pytest.fixture(autouse=True)
def toy(fresh_plugin_host):
    plugins.host().register(toy_trainer, "toy-trainer")


def losses(run: Path) -> list[tuple[int, float, float, float]]:
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return [(r["step"], r["loss"], r["mean_loss"], r["noise"]) for r in rows]


def test_training_lowers_the_loss_and_exports_a_loadable_backend(tmp_path):
    backend = stylecap.train("style", "colour-map", out=tmp_path / "run", steps=30, **FAST)
    seq = losses(tmp_path / "run")
    assert seq[-1][1] < 0.25 * seq[0][1]
    again = stylecap.Pipeline.load(tmp_path / "run" / "final")
    assert torch.equal(again.style.state_dict()["weight"], backend.state_dict()["weight"])
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["trainer"] == "colour-map" and config["config"]["steps"] == 30


def test_resume_continues_exactly(tmp_path):
    stylecap.train("style", "colour-map", out=tmp_path / "whole", steps=20, **FAST)
    stylecap.train("style", "colour-map", out=tmp_path / "split", steps=12, **FAST)  # ends with a checkpoint at 12
    stylecap.train("style", "colour-map", resume=tmp_path / "split", steps=20)
    assert losses(tmp_path / "split") == losses(tmp_path / "whole")  # every step, every scalar, bit-equal


def test_resume_from_an_interval_checkpoint_drops_later_log_lines(tmp_path):
    run = tmp_path / "run"
    stylecap.train("style", "colour-map", out=run, steps=13, keep_checkpoints=5, **FAST)
    (run / "checkpoints" / "latest").write_text("step-00000010\n")  # as if killed after step 13's log
    stylecap.train("style", "colour-map", resume=run, steps=16)
    stylecap.train("style", "colour-map", out=tmp_path / "whole", steps=16, **FAST)
    assert losses(run) == losses(tmp_path / "whole")


def test_existing_run_needs_resume_and_resume_needs_a_run(tmp_path):
    stylecap.train("style", "colour-map", out=tmp_path / "run", steps=2, **FAST)
    with pytest.raises(UsageError, match="already holds a training run.*--resume"):
        stylecap.train("style", "colour-map", out=tmp_path / "run", steps=2, **FAST)
    with pytest.raises(UsageError, match="holds no config.json"):
        stylecap.train("style", "colour-map", resume=tmp_path / "nothing")


def test_nan_stops_with_step_and_loss_named_and_keeps_the_checkpoint(tmp_path):
    run = tmp_path / "run"
    with pytest.raises(NonFiniteLossError) as info:
        stylecap.train("style", "colour-map", out=run, steps=20, nan_at=8, **FAST)
    message = str(info.value)
    assert "loss 'map' is nan at step 8" in message and "step-00000005" in message
    assert CheckpointFolder(run).latest().name == "step-00000005"


def test_nan_skip_lowers_the_learning_rate_and_goes_on(tmp_path, capsys):
    run = tmp_path / "run"
    stylecap.train("style", "colour-map", out=run, steps=10, nan_at=4, on_nonfinite="skip", **FAST)
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert rows[2]["lr/map"] == 0.05 and rows[-1]["lr/map"] == pytest.approx(0.025)
    assert "step skipped" in capsys.readouterr().out


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_mixed_precision_trains(tmp_path, precision):
    stylecap.train("style", "colour-map", out=tmp_path / "run", steps=20, precision=precision, **FAST)
    seq = losses(tmp_path / "run")
    assert seq[-1][1] < 0.5 * seq[0][1]


def test_grad_clip_bounds_the_update(tmp_path):
    backend = stylecap.train("style", "colour-map", out=tmp_path / "c", steps=1, grad_clip=1e-3, lr=1.0, **FAST)
    start = toy_trainer.ColourMap()
    torch.manual_seed(0)
    start.net.reset_parameters()
    change = torch.cat([(a - b).flatten() for a, b in zip(backend.net.parameters(), start.net.parameters())])
    assert change.norm() <= 1e-3 * 1.0001


def test_lr_schedules():
    assert lr_factor("constant", 50, 100, 0) == 1.0
    assert lr_factor("linear", 50, 100, 0) == 0.5
    assert lr_factor("cosine", 50, 100, 0) == pytest.approx(0.5)
    assert lr_factor("constant-then-linear", 40, 100, 0) == 1.0
    assert lr_factor("constant-then-linear", 75, 100, 0) == 0.5
    assert lr_factor("linear", 4, 100, 10) == 0.5  # warm-up


def test_sampler_shards_each_global_batch_over_ranks():
    whole = list(EpochSampler(24, 8, seed=1, epoch=0, start_batch=0, rank=0, world=1))
    ranks = [list(EpochSampler(24, 8, seed=1, epoch=0, start_batch=0, rank=r, world=2)) for r in (0, 1)]
    for b in range(3):
        assert whole[b * 8 : b * 8 + 8] == ranks[0][b * 4 : b * 4 + 4] + ranks[1][b * 4 : b * 4 + 4]
    resumed = list(EpochSampler(24, 8, seed=1, epoch=0, start_batch=2, rank=0, world=1))
    assert resumed == whole[16:]


def test_samples_are_saved(tmp_path):
    stylecap.train("style", "colour-map", out=tmp_path / "run", steps=4, sample_every=2, **FAST)
    assert sorted(os.listdir(tmp_path / "run" / "samples")) == ["step-00000002.txt", "step-00000004.txt"]


def test_bad_options_are_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="steps must be at least 1"):
        stylecap.train("style", "colour-map", out=tmp_path, steps=0)
    with pytest.raises(UsageError, match="trains style backends, not caption"):
        stylecap.train("caption", "colour-map", out=tmp_path)


def run_toy(*args: str, **kw) -> subprocess.Popen:
    env = os.environ | {"PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "tests.toy_trainer", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kw,
    )


def test_sigkill_at_a_random_moment_loses_at_most_one_interval(tmp_path):
    run = tmp_path / "run"
    proc = run_toy(f"out={run}", "steps=400", "batch_size=4", "log_every=1", "checkpoint_every=3", "sleep=0.01")
    deadline = time.time() + 60
    while not (run / "metrics.jsonl").is_file() or len((run / "metrics.jsonl").read_text().splitlines()) < 8:
        assert time.time() < deadline and proc.poll() is None, proc.stderr.read() if proc.poll() is not None else ""
        time.sleep(0.02)
    time.sleep(random.uniform(0, 0.3))
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    logged = len((run / "metrics.jsonl").read_text().splitlines())
    latest = CheckpointFolder(run).latest()
    weights, state = CheckpointFolder(run).read(latest)  # neither file is corrupt
    assert state["step"] == int(latest.name.split("-")[1]) and logged - state["step"] <= 3 + 1
    resumed = run_toy(f"resume={run}", "steps=" + str(state["step"] + 3), "sleep=0")
    assert resumed.wait(timeout=120) == 0, resumed.stderr.read()
    assert losses(run)[-1][0] == state["step"] + 3


def test_sigterm_saves_a_checkpoint_and_exits(tmp_path):
    run = tmp_path / "run"
    proc = run_toy(f"out={run}", "steps=10000", "batch_size=4", "log_every=1", "checkpoint_every=1000", "sleep=0.01")
    deadline = time.time() + 60
    while not (run / "metrics.jsonl").is_file():
        assert time.time() < deadline and proc.poll() is None
        time.sleep(0.02)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) != 0
    latest = CheckpointFolder(run).latest()
    assert latest is not None and 0 < int(latest.name.split("-")[1]) < 10000


def test_cli_train_with_flags_and_config_file(tmp_path, capsys):
    from stylecap_cli.main import main

    (tmp_path / "c.json").write_text(json.dumps({"steps": 3, "batch_size": 4}))
    with pytest.raises(SystemExit) as info:
        main(
            [
                "train",
                "style",
                "colour-map",
                "--config",
                str(tmp_path / "c.json"),
                "--out",
                str(tmp_path / "r"),
                "--lr=0.01",
                "--log-every",
                "1",
                "--no-tensorboard",
            ]
        )
    assert info.value.code == 0
    config = json.loads((tmp_path / "r" / "config.json").read_text())["config"]
    assert config["steps"] == 3 and config["lr"] == 0.01 and config["log_every"] == 1
    with pytest.raises(SystemExit) as info:
        main(["train", "style", "colour-map", "--lr", "fast", "--out", str(tmp_path / "r2")])
    assert info.value.code == 2 and "option 'lr' is 'fast'" in capsys.readouterr().err


def test_ddp_two_processes_match_one_process(tmp_path):
    common = ["steps=6", "batch_size=8", "log_every=1", "checkpoint_every=100"]
    single = run_toy(f"out={tmp_path / 'single'}", *common)
    assert single.wait(timeout=120) == 0, single.stderr.read()
    env = os.environ | {"PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    ddp = subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--nproc-per-node",
            "2",
            "--master-port",
            "29517",
            "-m",
            "tests.toy_trainer",
            f"out={tmp_path / 'ddp'}",
            *common,
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert ddp.returncode == 0, ddp.stderr[-3000:]
    rank0, rank1 = (torch.load(tmp_path / "ddp" / f"rank{r}.pt") for r in (0, 1))
    reference = torch.load(tmp_path / "single" / "rank0.pt")
    for key in reference:
        assert torch.equal(rank0[key], rank1[key])
        assert torch.allclose(rank0[key], reference[key], atol=1e-5)


def test_channels_last_trains_the_same(tmp_path):
    stylecap.train("style", "colour-map", out=tmp_path / "a", steps=6, **FAST)
    stylecap.train("style", "colour-map", out=tmp_path / "b", steps=6, channels_last=True, **FAST)
    for plain, last in zip(losses(tmp_path / "a"), losses(tmp_path / "b")):
        assert plain[1] == pytest.approx(last[1], rel=1e-5)
    layouts = [json.loads(line)["channels_last"] for name in "ab" for line in open(tmp_path / name / "metrics.jsonl")]
    assert layouts == [0.0] * 6 + [1.0] * 6
