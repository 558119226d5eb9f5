"""Built-in loss terms, registered by name so that a backend builds them through the registry and a
plugin's loss can take a built-in's place (``-s style_loss=NAME``)."""

from __future__ import annotations

from stylecap.core.hookspecs import hookimpl

from .terms import ContentLoss, GramLoss, RangeLoss, TVLoss


@hookimpl
def register_losses(register):
    for cls in (ContentLoss, GramLoss, TVLoss, RangeLoss):
        register(cls)
