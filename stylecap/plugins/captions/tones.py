"""Tones: the feeling a sentence carries, as a label a caption model is conditioned on.

Training sentences get a tone from their words: ``funny`` (laughter words), ``spooky`` (fear words), else by
the VADER sentiment lexicon (Hutto & Gilbert 2014; PyPI ``vaderSentiment``, MIT): ``cheerful`` when clearly
positive, ``wistful`` when negative, ``plain`` otherwise. A picture's tone (``tone=auto``) comes from the
mood its pixels give (the ``pixel-facts`` condition encoder): a dark, dull picture asks for a wistful caption.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

from stylecap.core.errors import UsageError

TONES = ("plain", "cheerful", "wistful", "funny", "spooky")
"""Every tone a model can be asked for, in the order of its condition vector."""
FUNNY = frozenset("lol lmao haha hahaha hehe rofl funny hilarious joke jokes silly goofy lolol xd".split())
SPOOKY = frozenset(
    "scary creepy spooky ghost ghosts haunted eerie horror monster monsters nightmare nightmares spider spiders "
    "zombie zombies witch skeleton terrifying frightening dread".split()
)
CHEERFUL, WISTFUL = 0.4, -0.1
"""VADER compound scores at and above which a sentence is cheerful, at and below which it is wistful."""
PLEASANT, UNPLEASANT = 0.15, -0.3
"""A picture's colour-mood pleasure (``pixel-facts``, Valdez & Mehrabian) at and above which ``tone=auto`` asks
for a cheerful caption, at and below which for a wistful one. Unstyled photos sit around -0.1 (panel median)."""


@functools.cache
def _analyzer():
    try:
        from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer
    except ImportError:
        raise UsageError(
            "tones need the VADER sentiment lexicon", 'pip install "stylecap[captions]" (or vaderSentiment)'
        ) from None
    return SentimentIntensityAnalyzer()


def valence(text: str) -> float:
    """VADER's compound sentiment of ``text``, in [-1, 1]."""
    return _analyzer().polarity_scores(text)["compound"]


def tone_of(text: str, tokens: Sequence[str]) -> str:
    """The tone a sentence carries, from its words (see the module docstring)."""
    words = set(tokens)
    if words & FUNNY:
        return "funny"
    if words & SPOOKY:
        return "spooky"
    score = valence(text)
    if score >= CHEERFUL:
        return "cheerful"
    if score <= WISTFUL:
        return "wistful"
    return "plain"


def picture_tone(mood: dict[str, float]) -> str:
    """The tone ``tone=auto`` asks for, from a picture's mood (plain when none is known)."""
    pleasure = mood.get("pleasure", 0.0)
    return "cheerful" if pleasure >= PLEASANT else "wistful" if pleasure <= UNPLEASANT else "plain"
