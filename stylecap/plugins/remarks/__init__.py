"""``remark``: a spoken remark on the picture from a written phrase grammar, grounded in the condition
(docs/captions.md)."""

from __future__ import annotations

from stylecap.core.hookspecs import hookimpl

from .backend import Remark

requires = ("captions",)
"""The condition, the concept vocabulary and the tones it shares with the caption models."""


@hookimpl
def register_caption_backends(register):
    register(Remark)
