"""``gatys``: style transfer by optimising the picture itself (Gatys et al. 2016), over any registered
encoder and loss terms. See docs/gatys.md."""

from __future__ import annotations

from stylecap.core.hookspecs import hookimpl

from .backend import Gatys

requires = ("encoders", "losses")
"""Its default encoder and the loss terms it builds by name."""


@hookimpl
def register_style_backends(register):
    register(Gatys)
