"""CycleGAN (Zhu et al. 2017): unpaired picture-to-picture translation as a style backend.

Registers the ``cyclegan`` style backend and trainer, the ResNet and U-Net generators and the
PatchGAN discriminator; trainers and the backend build networks by name, so another plugin's
generator or discriminator works in their place. See docs/cyclegan.md.
"""

from __future__ import annotations

from stylecap.core.hookspecs import hookimpl

from .backend import CycleGAN
from .networks import PatchDiscriminator, Resnet6Generator, ResnetGenerator, Unet128Generator, UnetGenerator
from .training import CycleGANTrainer


@hookimpl
def register_generators(register):
    for cls in (ResnetGenerator, Resnet6Generator, UnetGenerator, Unet128Generator):
        register(cls)


@hookimpl
def register_discriminators(register):
    register(PatchDiscriminator)


@hookimpl
def register_style_backends(register):
    register(CycleGAN)


@hookimpl
def register_trainers(register):
    register(CycleGANTrainer)
