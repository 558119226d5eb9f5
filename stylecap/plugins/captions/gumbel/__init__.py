"""``gumbel-transformer`` (issue 9): a transformer caption generator trained adversarially through the
Gumbel-softmax relaxation (RelGAN, Nie et al. 2019), so the discriminator's gradient reaches the generator
directly, without SeqGAN's rollouts and policy gradient. See docs/captions.md, "Gumbel-softmax transformer GAN".

A plugin of its own (entry point ``gumbel``): it registers the caption backend and trainer, and its generator
and discriminator as ``generator`` / ``discriminator`` components, so another plugin can swap either by name.
"""

from __future__ import annotations

from stylecap.core.hookspecs import hookimpl

from .backend import GumbelTransformer
from .discriminator import SoftCNNDiscriminator, SoftTransformerDiscriminator
from .generator import CaptionTransformer
from .trainer import GumbelTrainer

__all__ = [
    "CaptionTransformer",
    "GumbelTrainer",
    "GumbelTransformer",
    "SoftCNNDiscriminator",
    "SoftTransformerDiscriminator",
]


@hookimpl
def register_caption_backends(register):
    register(GumbelTransformer)


@hookimpl
def register_trainers(register):
    register(GumbelTrainer)


@hookimpl
def register_generators(register):
    register(CaptionTransformer)


@hookimpl
def register_discriminators(register):
    register(SoftCNNDiscriminator)
    register(SoftTransformerDiscriminator)
