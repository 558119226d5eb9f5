"""``seqgan`` (issue 8): the conditional LSTM fine-tuned adversarially, after SeqGAN (Yu et al. 2017).

The generator is the mle-lstm model, warm-started from an MLE run; a CNN discriminator judges (condition,
sentence) pairs; Monte-Carlo rollouts from a lagging copy of the generator turn its verdicts into a reward
per word, and policy gradient with a baseline follows them. See docs/captions.md, "SeqGAN".
"""

from __future__ import annotations

from .backend import SeqGAN
from .trainer import SeqGANTrainer

__all__ = ["SeqGAN", "SeqGANTrainer"]
