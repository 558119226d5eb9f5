"""``remark``: says what a person would say about the picture, from a written phrase grammar.

It names the subject only when the condition is sure of it, places it in a scene the condition saw ("this dog in
the woods"), speaks of colours the picture has and of the paint when the picture was restyled, in the tone the
picture's mood asks for. Every caption makes sense and fits the picture as far as the condition is right; what it
cannot do is say anything its templates do not hold (docs/captions.md compares it with the models).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import torch

from stylecap.core.component import Captions, Colour, Condition
from stylecap.core.config import field
from stylecap.plugins.captions.conditioned import ConditionedCaptioner, ConditionedConfig
from stylecap.plugins.captions.tones import TONES

from .grammar import SOMEWHERE, TEMPLATES, Subject, fits, say
from .lexicon import WHERE, Noun, kinds, noun

NEUTRAL = ("grey", "black", "white")
"""Colour terms said only when the picture has no other: "all that blue", not "all that grey"."""


@dataclass
class RemarkConfig(ConditionedConfig):
    sure: float = field(
        0.3, help="Name the subject only when the condition scores it at least this (else say what cannot be told)."
    )
    min_colour: float = field(0.1, help="Colours covering less of the picture than this share are not mentioned.")
    hedge: float = field(
        0.8, help="Say the kind ('this animal') when another concept of that kind scores at least this fraction of "
        "the best one; 1: never",
    )  # fmt: skip

    def validate(self) -> None:
        super().validate()
        for name in ("sure", "min_colour", "hedge"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"{name} must be in [0, 1], not {getattr(self, name)}")


PEOPLE = ("crowd", "people", "person", "face")
"""The people detector's concepts, the one that says most first: a face found means a person is there."""


def rank(concept: str) -> tuple[int, int]:
    """Sort key of subjects (stable, so by score within a rank): people, then things, then places."""
    kind = noun(concept).kind
    return (0 if kind == "person" else 2 if kind == "place" else 1, PEOPLE.index(concept) if concept in PEOPLE else 0)


class Remark(ConditionedCaptioner):
    """A spoken remark on the picture: its subject (when sure), its scene, colours, paint and mood."""

    name = "remark"
    Config = RemarkConfig

    @property
    def concepts(self) -> list[str]:
        return sorted(kinds())

    def captions(self, image: torch.Tensor, *, content: torch.Tensor | None = None, seed: int = 0) -> Captions:
        condition, _ = self.condition(image, content=content)
        tone = self.tone(condition)
        painted = content is not None and (content.shape != image.shape or not torch.equal(content, image))
        subject = self.subject(condition)
        colours = self.colours(condition.colours)
        rng = random.Random(f"{seed} {condition.concepts} {condition.colours}")  # another picture, another choice
        texts: list[str] = []
        for wanted in (tone, *(t for t in TONES if t != tone)):  # the tone asked for first; others if N is large
            said = [say(t, subject, colours) for t in TEMPLATES if t.tone == wanted and fits(t, subject, painted)]
            rng.shuffle(said)
            texts += [t for t in said if t not in texts]
            if len(texts) >= self.config.num_captions:
                break
        return Captions(texts[: self.config.num_captions], condition)

    def subject(self, condition: Condition) -> Subject | None:
        """What to talk about: the people the condition is sure of, else the best thing it is sure of (a place such
        as a room last), in the best scene it is sure of ("these people on the beach"); a scene on its own when
        that is all it is sure of; :data:`SOMEWHERE` when two places tie; None when unsure."""
        scores = dict(condition.concepts)
        sure = [c for c in self.pick([condition]) if scores[c] >= self.config.sure]
        if not sure:
            return None
        things = sorted((c for c in sure if c not in WHERE), key=rank)
        places = [c for c in sure if c in WHERE]
        if not things or (places and noun(things[0]).kind == "place" and scores[places[0]] >= scores[things[0]]):
            best, where = self.said(places[0], condition), ""  # not "this volcano in the mountains"
        else:
            best, where = self.said(things[0], condition), WHERE[places[0]] if places else ""
        return SOMEWHERE if best.word == "place" else Subject.of(best, where)

    def said(self, concept: str, condition: Condition) -> Noun:
        """``concept``'s noun, or its kind's ("this animal") when another concept of that kind scores at least
        ``hedge`` times as much: a general word that is right rather than a precise one that is a coin toss
        (hedging, after Deng et al., CVPR 2012). People are never hedged: a face and a person are the same."""
        best, scores = noun(concept), dict(condition.concepts)
        if best.kind == "person":
            return best
        rival = max((s for c, s in condition.concepts if c != concept and noun(c).kind == best.kind), default=0.0)
        return Noun(best.kind, False, best.kind) if rival >= self.config.hedge * scores[concept] else best

    def colours(self, colours: list[Colour]) -> list[str]:
        """Colour words to say, best first: the picture's colours by share, hues before greys."""
        shown = [c for c in sorted(colours, key=lambda c: -c.share) if c.share >= self.config.min_colour]
        return [c.term for c in shown if c.term not in NEUTRAL] + [c.term for c in shown if c.term in NEUTRAL]
