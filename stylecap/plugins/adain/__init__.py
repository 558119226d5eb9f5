"""AdaIN (Huang & Belongie 2017): feed-forward style transfer with any style image.

``statistics`` holds the AdaIN operation and style codes, ``decoder`` the network that turns
features back into pixels, ``backend`` the ``adain`` style backend with the shipped decoder,
``training`` the ``adain`` trainer that makes decoders. See docs/adain.md.
"""

from __future__ import annotations

from stylecap.core.hookspecs import hookimpl

from .backend import AdaIN
from .training import AdaINTrainer

requires = ("encoders",)
"""The encoder whose features it restyles."""


@hookimpl
def register_style_backends(register):
    register(AdaIN)


@hookimpl
def register_trainers(register):
    register(AdaINTrainer)
