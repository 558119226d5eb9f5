"""``retrieval``: the real corpus sentence that best fits the picture, the reference the caption models are
read against (docs/captions.md)."""

from __future__ import annotations

from stylecap.core.hookspecs import hookimpl

from .backend import Retrieval

requires = ("captions",)
"""The corpus, the condition and the judging of sentences it shares with the caption models."""


@hookimpl
def register_caption_backends(register):
    register(Retrieval)
