"""Captions: say something colloquial about a picture (issue 7: data, conditioning, the MLE baseline, eval;
issue 8: the SeqGAN fine-tuning in ``seqgan/``).

Registers the ``mle-lstm`` and ``seqgan`` caption backends and trainers, the ``caption-corpus`` dataset and the
``stylecap eval caption`` command, and (from ``conditions``) the condition encoders
``imagenet-concepts`` and ``pooled-features``. See docs/captions.md.
"""

from __future__ import annotations

from stylecap.core.hookspecs import hookimpl

from .backend import MLELSTM
from .conditions import register_condition_encoders  # noqa: F401
from .corpus import CaptionCorpus
from .seqgan import SeqGAN, SeqGANTrainer
from .trainer import MLELSTMTrainer


@hookimpl
def register_caption_backends(register):
    register(MLELSTM)
    register(SeqGAN)


@hookimpl
def register_trainers(register):
    register(MLELSTMTrainer)
    register(SeqGANTrainer)


@hookimpl
def register_datasets(register):
    register(CaptionCorpus)


@hookimpl
def register_commands(cli):
    from .cli import add_commands

    add_commands(cli)
