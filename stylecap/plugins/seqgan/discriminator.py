"""The discriminator: is this a real sentence about these concepts?"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from stylecap.plugins.captions.adversarial import mismatched
from stylecap.plugins.captions.tokens import PAD_ID


class PairDiscriminator(nn.Module):
    """SeqGAN's discriminator (Yu et al. 2017, after Kim 2014), told the condition.

    Filters of several widths slide over the word vectors and are max-pooled over time, then a highway
    layer mixes them into sentence features ``h``. The condition enters by projection (Miyato & Koyama 2018):
    ``logit = w . h + (P c) . h``, so what the sentence says is weighed against what it should be about, and
    a fluent sentence about the wrong concepts can be called fake.
    """

    def __init__(self, vocab_size: int, cond_dim: int, length: int, embed: int = 64,
                 widths: Sequence[int] = (2, 3, 4, 5), filters: int = 64, dropout: float = 0.25):  # fmt: skip
        super().__init__()
        self.length = length
        self.embed = nn.Embedding(vocab_size, embed, padding_idx=PAD_ID)
        self.convs = nn.ModuleList(nn.Conv1d(embed, filters, width) for width in widths)
        features = filters * len(widths)
        self.highway = nn.Linear(features, 2 * features)
        self.drop = nn.Dropout(dropout)
        self.out = nn.Linear(features, 1)
        self.project = nn.Linear(cond_dim, features, bias=False)

    def forward(self, tokens: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        """Logits ``[B]`` for sentences ``[B, <= length]`` (``<pad>`` after ``<eos>``) and conditions ``[B, C]``."""
        x = self.embed(F.pad(tokens, (0, self.length - tokens.shape[1]), value=PAD_ID)).transpose(1, 2)
        h = torch.cat([conv(x).relu().amax(-1) for conv in self.convs], 1)
        transform, gate = self.highway(h).chunk(2, -1)
        gate = torch.sigmoid(gate)
        h = self.drop(gate * transform.relu() + (1 - gate) * h)
        return self.out(h)[:, 0] + (self.project(cond) * h).sum(-1)


def discriminator_loss(judge: nn.Module, real: torch.Tensor, fake: torch.Tensor,
                       cond: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:  # fmt: skip
    """Matching-aware loss (Reed et al. 2016's GAN-CLS): real pairs are real; generated sentences, and real
    sentences given another item's condition, are fake. ``real`` and ``fake`` are ``[B, L]`` as the judge reads
    them. Also returns the accuracy on each kind of pair."""
    other, valid = mismatched(cond)
    logits = judge(torch.cat([real, fake, real]), torch.cat([cond, cond, other])).float()
    on_real, on_fake, on_other = logits.chunk(3)
    bce = F.binary_cross_entropy_with_logits
    weight = valid.float()
    count = weight.sum().clamp(min=1)
    other_loss = (bce(on_other, torch.zeros_like(on_other), reduction="none") * weight).sum() / count
    loss = bce(on_real, torch.ones_like(on_real)) + 0.5 * (bce(on_fake, torch.zeros_like(on_fake)) + other_loss)
    accuracy = {
        "d_acc_real": (on_real > 0).float().mean(),
        "d_acc_fake": (on_fake < 0).float().mean(),
        "d_acc_mismatched": ((on_other < 0).float() * weight).sum() / count,
    }
    return loss, accuracy
