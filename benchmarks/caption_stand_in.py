"""Untrained caption generators shaped like trained ones, for the caption benchmarks (imported as a sibling
module, like ``timing``): speed depends on sizes and sentence lengths, not on what the weights learned."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from stylecap.plugins.captions.backend import MLELSTM
from stylecap.plugins.captions.concepts import ConceptVocab
from stylecap.plugins.captions.text import SPECIALS, Vocab
from stylecap.plugins.captions.tokens import EOS_ID


def stand_in(kind: type[MLELSTM], make_net: Callable[[int, int], torch.nn.Module], words: int,
             mean_length: float = 10.0) -> MLELSTM:  # fmt: skip
    """A ``kind`` backend around ``make_net(vocab_size, concept_count)`` with random weights and a vocabulary of
    ``words``, whose end-of-sentence bias ends sampled sentences after ``mean_length`` tokens on average."""
    concepts = ConceptVocab.default().names
    vocab = Vocab([*SPECIALS, *(f"w{i}" for i in range(words - len(SPECIALS)))])
    net = make_net(len(vocab), len(concepts))
    with torch.no_grad():
        net.out.bias[EOS_ID] = math.log(len(vocab) / (mean_length - 1))
    return kind.from_parts(net, vocab, concepts)


def random_conditions(batch: int, concepts: int, device: torch.device) -> torch.Tensor:
    """Condition vectors ``[batch, concepts]`` naming two random concepts each."""
    picked = torch.randint(concepts, (batch, 2), device=device)
    return torch.zeros(batch, concepts, device=device).scatter_(1, picked, 1.0)
