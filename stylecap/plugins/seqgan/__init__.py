"""``seqgan``: the conditional LSTM fine-tuned adversarially, after SeqGAN (Yu et al. 2017).

The generator is the mle-lstm model, warm-started from an MLE run; a CNN discriminator judges (condition,
sentence) pairs; Monte-Carlo rollouts from a lagging copy of the generator turn its verdicts into a reward
per word, and policy gradient with a baseline follows them. See docs/captions.md.
"""

from __future__ import annotations

from stylecap.core.hookspecs import hookimpl

from .backend import SeqGAN
from .training import SeqGANTrainer

requires = ("captions",)
"""The caption machinery this GAN shares with mle-lstm (it requires the condition encoders in turn)."""


@hookimpl
def register_caption_backends(register):
    register(SeqGAN)


@hookimpl
def register_trainers(register):
    register(SeqGANTrainer)
