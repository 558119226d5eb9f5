"""The base of the built-in encoders: a network run layer by layer, stopping after the deepest asked for."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
from torch import nn

from stylecap.core.checkpoint import import_legacy, load_checkpoint
from stylecap.core.component import Encoder
from stylecap.core.errors import CheckpointError, UsageError


class SequentialEncoder(Encoder):
    """An encoder whose network is an ``nn.Sequential`` with one child per name in ``layers``,
    so that one loop serves every request and stops after the deepest layer asked for.

    Subclasses give ``build()`` (the network, before weights) and ``load_weights(spec)`` (a
    state dict for it); their ``Config`` has ``weights`` ("random" or a name/path) and ``seed``.
    """

    def __init__(self, config=None):
        super().__init__(config)
        with torch.random.fork_rng(devices=[]):  # seeded init without touching the caller's RNG
            torch.manual_seed(self.config.seed)
            self.net = self.build()
        spec = self.config.weights
        names = ["random", *(w.name for w in self.weights)]
        if spec not in names and not Path(spec).is_file():
            raise UsageError(
                f"encoder {self.name!r}: weights {spec!r} are neither a file nor one of {', '.join(names)}",
                "check the path or the name",
            )
        if spec != "random":
            state = self.load_weights(spec)
            try:
                self.load_state_dict(state)
            except RuntimeError as e:
                raise CheckpointError(
                    f"weights {spec!r} do not fit encoder {self.name!r}: {e}",
                    f"give weights made for {self.name}",
                ) from None
        self.requires_grad_(False)  # Gatys optimises the pixels; gradients reach only the input
        self.eval()

    def build(self) -> nn.Sequential:
        raise NotImplementedError

    def load_weights(self, spec: str) -> dict[str, torch.Tensor]:
        """The state dict for ``spec``: a name from ``weights`` or a file (see ``read_state_dict``)."""
        raise NotImplementedError

    def train(self, mode: bool = True) -> SequentialEncoder:
        """Stay in eval mode even inside a module that trains: batch-norm statistics are weights."""
        return super().train(False)

    def features(self, image: torch.Tensor, layers: Sequence[str]) -> dict[str, torch.Tensor]:
        unknown = [name for name in layers if name not in self.layers]
        if unknown:
            raise UsageError(
                f"encoder {self.name!r} has no layer {unknown[0]!r}", f"valid layers: {', '.join(self.layers)}"
            )
        wanted = set(layers)
        out: dict[str, torch.Tensor] = {}
        x = self.preprocess(image)
        for name, step in self.net.named_children():
            if len(out) == len(wanted):
                break
            x = step(x)
            if name in wanted:
                out[name] = x
        return out


def read_state_dict(path: str) -> dict[str, torch.Tensor]:
    """A safetensors checkpoint or a legacy .pth/.pt state dict, read without running pickled code."""
    return load_checkpoint(path)[0] if path.endswith(".safetensors") else import_legacy(path)
