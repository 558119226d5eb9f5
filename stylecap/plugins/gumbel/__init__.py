"""``gumbel-transformer``: a transformer caption generator trained adversarially through the
Gumbel-softmax relaxation (RelGAN, Nie et al. 2019), so the discriminator's gradient reaches the generator
directly, without SeqGAN's rollouts and policy gradient. See docs/captions.md.

It registers the caption backend and trainer, and its generator
and discriminator as ``generator`` / ``discriminator`` components, so another plugin can swap either by name.
"""

from __future__ import annotations

from stylecap.core.hookspecs import hookimpl

from .backend import GumbelTransformer
from .discriminator import SoftCNNDiscriminator, SoftTransformerDiscriminator
from .generator import CaptionTransformer
from .training import GumbelTrainer

requires = ("captions",)
"""The caption machinery this GAN shares with mle-lstm (it requires the condition encoders in turn)."""


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
