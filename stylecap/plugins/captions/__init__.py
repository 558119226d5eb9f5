"""Captions: the machinery every caption backend shares (words and tokens, the concept list, the corpus,
conditioning, decoding, teacher forcing, the GAN schedule, evaluation) and the MLE baseline ``mle-lstm``.

Registers the ``mle-lstm`` caption backend and trainer, the ``caption-corpus`` dataset and the
``stylecap eval caption`` command. The caption GANs are plugins of their own (``seqgan``, ``gumbel``)
that build on this one. See docs/captions.md.
"""

from __future__ import annotations

from stylecap.core.hookspecs import hookimpl

from .backend import MLELSTM
from .corpus import CaptionCorpus
from .training import MLELSTMTrainer

requires = ("conditions",)
"""The condition encoders that tell a caption model about a picture."""


@hookimpl
def register_caption_backends(register):
    register(MLELSTM)


@hookimpl
def register_trainers(register):
    register(MLELSTMTrainer)


@hookimpl
def register_datasets(register):
    register(CaptionCorpus)


@hookimpl
def register_commands(cli):
    from .cli import add_commands

    add_commands(cli)
