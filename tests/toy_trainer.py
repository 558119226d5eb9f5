"""A tiny real trainer for engine tests: learns a hidden colour transform with two optimisers.

Run in a subprocess (as torchrun or a kill test does) with
``python -m tests.toy_trainer key=value ...``; it registers itself and calls ``stylecap.train``.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass

import torch

import stylecap
from stylecap.core.training.config import TrainConfig

HIDDEN = torch.tensor([[0.6, 0.3, 0.1], [0.1, 0.8, 0.1], [0.2, 0.2, 0.5]])


class Pairs(torch.utils.data.Dataset):
    """Random 8x8 pictures and their hidden colour transform, with random flip augmentation."""

    def __len__(self):
        return 24

    def __getitem__(self, index):
        g = torch.Generator().manual_seed(index)
        x = torch.rand(3, 8, 8, generator=g)
        if torch.rand(()) < 0.5:  # augmentation from the global RNG, which the engine seeds per item
            x = x.flip(-1)
        y = torch.einsum("oc,chw->ohw", HIDDEN, x) + 0.1
        return x + 0.01 * torch.randn_like(x), y


class ColourMap(stylecap.StyleBackend):
    """Applies a learnt 1x1 colour transform (what the toy trainer exports)."""

    name = "colour-map"
    needs_style = False

    def __init__(self, config=None):
        super().__init__(config)
        self.net = torch.nn.Conv2d(3, 3, 1)

    def stylize(self, content, styles, *, style_weights=None, progress=None):
        return self.net(content).clamp(0, 1)

    def state_dict(self):
        return self.net.state_dict()

    def load_state_dict(self, state):
        self.net.load_state_dict(state)


class ToyTrainer(stylecap.Trainer):
    """Fits ColourMap to the hidden transform; a second model learns the target mean."""

    name = "colour-map"
    target = "style"

    @dataclass
    class Config(TrainConfig):
        lr: float = stylecap.field(0.05, help="SGD learning rate.")
        nan_at: int = stylecap.field(0, help="Make the loss NaN at this step (tests); 0 = never.")
        sleep: float = stylecap.field(0.0, help="Seconds to sleep per step (kill tests).")

    def build(self, engine):
        self.backend = ColourMap()
        self.models = {"map": self.backend.net, "mean": torch.nn.Linear(1, 3)}
        self.optimizers = {
            "map": torch.optim.SGD(self.models["map"].parameters(), lr=self.config.lr, momentum=0.9),
            "mean": torch.optim.Adam(self.models["mean"].parameters(), lr=self.config.lr),
        }
        self.dataset = Pairs()
        self.steps_run = 0

    def train_step(self, batch, engine):
        x, y = batch
        self.steps_run += 1
        with engine.autocast():
            loss = torch.nn.functional.mse_loss(self.models["map"](x).float(), y)
        if self.config.nan_at and engine.step + 1 == self.config.nan_at:
            loss = loss * float("nan")
        engine.optimize("map", loss)
        noise = torch.randn(1)  # training-step randomness, restored exactly on resume
        mean_loss = (self.models["mean"](torch.ones(1, 1) + 0 * noise) - y.mean((0, 2, 3))).pow(2).mean()
        engine.optimize("mean", mean_loss)
        if self.config.sleep:
            time.sleep(self.config.sleep)
        layout = float(x.is_contiguous(memory_format=torch.channels_last))
        return {"loss": loss, "mean_loss": mean_loss, "noise": noise, "channels_last": layout}

    def sample(self, engine):
        return f"step {engine.step}: bias {self.models['map'].bias.tolist()}"

    def export(self):
        self.backend.net = self.models["map"]
        return self.backend


def register_trainers(register):
    register(ToyTrainer)


def register_style_backends(register):
    register(ColourMap)


register_trainers = stylecap.hookimpl(register_trainers)
register_style_backends = stylecap.hookimpl(register_style_backends)


if __name__ == "__main__":
    from stylecap.core.config import parse_assignments
    from stylecap.core.host import host
    from stylecap.core.training.engine import train

    host().register(sys.modules[__name__], "toy-trainer")
    options = parse_assignments(sys.argv[1:])
    resume = options.pop("resume", None)
    component = train("style", "colour-map", resume=resume, **options)
    out = options.get("out") or resume
    torch.save(
        component.state_dict(),
        f"{out}/rank{torch.distributed.get_rank() if torch.distributed.is_initialized() else 0}.pt",
    )
