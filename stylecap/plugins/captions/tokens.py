"""Token ids and tensor helpers that every caption generator and discriminator shares."""

from __future__ import annotations

import torch

from .text import BOS, EOS, PAD, SPECIALS, UNK

PAD_ID, BOS_ID, EOS_ID, UNK_ID = (SPECIALS.index(s) for s in (PAD, BOS, EOS, UNK))
"""Every vocabulary starts with the specials (text.Vocab checks), so their ids are the same in all of them."""
BANNED = (PAD_ID, BOS_ID, UNK_ID)
"""Tokens the generator never says, as when captioning (``MLELSTM.generate``)."""


def ended(tokens: torch.Tensor) -> torch.Tensor:
    """True past each row's first ``<eos>`` (the ``<eos>`` itself still belongs to the sentence)."""
    eos = (tokens == EOS_ID).long()
    return eos.cumsum(1) - eos > 0


def with_bos(tokens: torch.Tensor) -> torch.Tensor:
    """The generator's inputs for teacher forcing on ``tokens``: ``<bos>`` then all but the last."""
    return torch.cat([torch.full_like(tokens[:, :1], BOS_ID), tokens[:, :-1]], 1)
