"""The discriminator over soft one-hot sentences, and the adversarial losses.

Real sentences reach it as one-hot rows, generated ones as Gumbel-softmax rows; both are embedded by a matrix
product with the word table, so the gradient reaches the generator through every word's distribution.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from stylecap.core.component import Component
from stylecap.core.config import field
from stylecap.plugins.captions.adversarial import mismatched
from stylecap.plugins.captions.tokens import PAD_ID

GanLoss = Literal["standard", "rsgan", "hinge", "lsgan"]
GAN_LOSSES: tuple[str, ...] = ("standard", "rsgan", "hinge", "lsgan")


@dataclass
class SoftJudgeConfig:
    vocab_size: int = field(4, help="Words, the specials included (set from the vocabulary when training).")
    cond_dim: int = field(1, help="Length of the condition vector (the concept count).")
    length: int = field(25, help="Sentences are padded with <pad> to this many tokens.")
    embed: int = field(64, help="Word vector size.")
    dropout: float = field(0.25, help="Dropout before the output.")

    def validate(self) -> None:
        self._at_least_one("vocab_size", "cond_dim", "length", "embed")
        if not 0 <= self.dropout < 1:
            raise ValueError(f"dropout must be in [0, 1), not {self.dropout}")

    def _at_least_one(self, *names: str) -> None:
        for name in names:
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, not {getattr(self, name)}")


class _SoftJudge(Component, nn.Module):
    """What every judge of word distributions ``[B, L, V]`` shares: the word table that embeds them (``<pad>``'s
    row held at zero, so padding says nothing) and the head that brings in the condition by projection (Miyato
    & Koyama 2018): ``w . h + (P c) . h`` over sentence features ``h`` from the subclass's ``features``."""

    def __init__(self, config=None):
        super().__init__(config)
        c = self.config
        self.words = nn.Parameter(torch.randn(c.vocab_size, c.embed) * c.embed**-0.5)

    def _head(self, features: int) -> None:
        """Create the head after the body, so the parameters are drawn in the order the shipped runs used."""
        self.drop = nn.Dropout(self.config.dropout)
        self.out = nn.Linear(features, 1)
        self.project = nn.Linear(self.config.cond_dim, features, bias=False)

    def embed(self, words: torch.Tensor) -> torch.Tensor:
        """Word vectors ``[B, length, E]`` of distributions ``[B, <= length, V]``, zeros past the end."""
        table = self.words.index_fill(0, torch.tensor([PAD_ID], device=words.device), 0.0)
        x = words.to(table.dtype) @ table
        return F.pad(x, (0, 0, 0, self.config.length - x.shape[1]))

    def features(self, words: torch.Tensor) -> torch.Tensor:
        """Sentence features ``[B, F]`` of word distributions ``[B, <= length, V]`` (also for feature matching)."""
        raise NotImplementedError

    def forward(self, words: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        """Logits ``[B]`` for sentences as word distributions ``[B, <= length, V]`` and conditions ``[B, C]``."""
        h = self.drop(self.features(words))
        return self.out(h)[:, 0] + (self.project(cond) * h).sum(-1)


@dataclass
class SoftCNNConfig(SoftJudgeConfig):
    widths: list[int] = field([2, 3, 4, 5], help="Filter widths, in words.")
    filters: int = field(64, help="Filters per width.")

    def validate(self) -> None:
        super().validate()
        self._at_least_one("filters")
        if not self.widths or not 1 <= min(self.widths) <= max(self.widths) <= self.length:
            raise ValueError(f"widths must be from 1 to length ({self.length}), not {self.widths}")


class SoftCNNDiscriminator(_SoftJudge):
    """A CNN judge of (condition, sentence) pairs that reads word distributions, not word ids: filters of
    several widths max-pooled over time and a gated residual layer (as in SeqGAN's highway) give ``h``."""

    name = "caption-soft-cnn"
    Config = SoftCNNConfig

    def __init__(self, config: SoftCNNConfig | None = None):
        super().__init__(config)
        c = self.config
        self.convs = nn.ModuleList(nn.Conv1d(c.embed, c.filters, w) for w in c.widths)
        features = c.filters * len(c.widths)
        self.gate = nn.Linear(features, 2 * features)
        self._head(features)

    def features(self, words: torch.Tensor) -> torch.Tensor:
        x = self.embed(words).transpose(1, 2)
        h = torch.cat([conv(x).relu().amax(-1) for conv in self.convs], 1)
        update, gate = self.gate(h).chunk(2, -1)
        return h + torch.sigmoid(gate) * update.relu()


@dataclass
class SoftTransformerConfig(SoftJudgeConfig):
    heads: int = field(4, help="Attention heads (embed must be a multiple).")
    layers: int = field(2, help="Transformer blocks.")
    ff: int = field(128, help="Feed-forward width inside each block.")

    def validate(self) -> None:
        super().validate()
        self._at_least_one("heads", "layers", "ff")
        if self.embed % self.heads:
            raise ValueError(f"embed ({self.embed}) must be a multiple of heads ({self.heads})")


class SoftTransformerDiscriminator(_SoftJudge):
    """A small transformer judge (bidirectional, pre-norm): a summary token before the word vectors, learnt
    positions, and the summary's final state as ``h``. Sees the whole sentence at once where the CNN sees
    windows of at most five words."""

    name = "caption-soft-transformer"
    Config = SoftTransformerConfig

    def __init__(self, config: SoftTransformerConfig | None = None):
        super().__init__(config)
        c = self.config
        self.summary = nn.Parameter(torch.randn(1, 1, c.embed) * 0.02)
        self.positions = nn.Parameter(torch.randn(c.length + 1, c.embed) * 0.02)
        block = nn.TransformerEncoderLayer(c.embed, c.heads, c.ff, c.dropout, batch_first=True, norm_first=True)
        self.body = nn.TransformerEncoder(block, c.layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(c.embed)
        self._head(c.embed)

    def features(self, words: torch.Tensor) -> torch.Tensor:
        x = self.embed(words)
        x = torch.cat([self.summary.expand(len(x), -1, -1).to(x.dtype), x], 1) + self.positions
        return self.norm(self.body(x)[:, 0])


def d_pair_loss(kind: str, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """Per-pair discriminator loss for logits on a real and a fake item ``[B]`` each."""
    if kind == "standard":
        return F.softplus(-real) + F.softplus(fake)
    if kind == "rsgan":  # relativistic (Jolicoeur-Martineau 2019): real should look more real than fake
        return F.softplus(-(real - fake))
    if kind == "hinge":
        return F.relu(1 - real) + F.relu(1 + fake)
    if kind == "lsgan":
        return (real - 1) ** 2 + fake**2
    raise ValueError(f"gan_loss must be one of {', '.join(GAN_LOSSES)}, not {kind!r}")


def g_loss(kind: str, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """The generator's loss for logits on generated sentences ``fake`` (``real``: on real ones, for RSGAN)."""
    if kind == "standard":  # non-saturating
        return F.softplus(-fake).mean()
    if kind == "rsgan":
        return F.softplus(-(fake - real)).mean()
    if kind == "hinge":
        return -fake.mean()
    if kind == "lsgan":
        return ((fake - 1) ** 2).mean()
    raise ValueError(f"gan_loss must be one of {', '.join(GAN_LOSSES)}, not {kind!r}")


def discriminator_loss(kind: str, judge: nn.Module, real: torch.Tensor, fake: torch.Tensor,
                       cond: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:  # fmt: skip
    """Matching-aware (Reed et al. 2016): a real sentence with its own condition is real; a generated one, and a
    real one given another item's condition (``mismatched``, weighted by whether one exists), are fake, each
    kind of fake weighing half. ``real``/``fake`` are word distributions ``[B, L, V]``. Also the accuracies: on
    each kind of pair, and how often the real sentence outscores the generated one of the same row."""
    other, valid = mismatched(cond)
    logits = judge(torch.cat([real, fake, real]), torch.cat([cond, cond, other])).float()
    on_real, on_fake, on_other = logits.chunk(3)
    weight = valid.float()
    count = weight.sum().clamp(min=1)
    loss = 0.5 * d_pair_loss(kind, on_real, on_fake).mean()
    loss = loss + 0.5 * (d_pair_loss(kind, on_real, on_other) * weight).sum() / count
    cut = 0.5 if kind == "lsgan" else 0.0  # the logit halfway between what real and fake are pushed to
    accuracy = {
        "d_acc_real": (on_real > cut).float().mean(),
        "d_acc_fake": (on_fake < cut).float().mean(),
        "d_acc_mismatched": ((on_other < cut).float() * weight).sum() / count,
        "d_acc_pair": (on_real > on_fake).float().mean(),  # the real sentence scores above the generated one:
    }  # what RSGAN trains, whose logits drift together so that the fixed cut above says little
    return loss, accuracy
