"""Reranking sampled captions: keep the sentences that read well AND fit the picture.

Strict grounded beam search forces a concept word into whatever slot is open ("the purple cat cried
hourly."). Sampling many candidates and ranking them instead keeps every sentence one the model would
really say, then prefers those that are likely under the model, name what the picture shows, name
nothing it does not show (no other concepts, no colours it does not have) and carry the tone asked for.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .concepts import ConceptVocab
from .tones import FUNNY, SPOOKY, valence

COLOUR_WORDS = {
    "black": "black", "white": "white", "grey": "grey", "gray": "grey", "red": "red", "orange": "orange",
    "yellow": "yellow", "golden": "yellow", "gold": "yellow", "green": "green", "blue": "blue", "purple": "purple",
    "violet": "purple", "pink": "pink", "brown": "brown", "silver": "grey", "crimson": "red", "scarlet": "red",
    "navy": "blue", "turquoise": "blue", "beige": "brown", "tan": "brown",
}  # fmt: skip
"""Colour words a caption may say, and the basic colour term (pixel-facts') each one claims."""

WEIGHTS = {"mentions": 1.5, "other_concept": 2.0, "colour_clash": 1.5, "tone": 1.0, "short": 1.0, "unfinished": 1.0}
"""How much each reason moves a candidate, against its mean log-probability per word (about -2 to -4)."""


@dataclass
class Judge:
    """Scores candidate sentences for one picture: ``concepts`` it may name, ``colours`` it has (basic colour
    terms; empty: unknown, so no colour word clashes) and the ``tone`` asked for."""

    concepts: Sequence[str]
    colours: Sequence[str]
    tone: str = "plain"

    def score(self, tokens: Sequence[str], logprob: float, finished: bool = True) -> float:
        """Higher is better: the model's mean log-probability per word, plus the reasons below."""
        text = " ".join(tokens)
        words = [t for t in tokens if t[0].isalnum()]
        found = ConceptVocab.default().find(tokens)
        wanted = set(self.concepts)
        score = logprob / (len(tokens) + 1)
        score += WEIGHTS["mentions"] * any(c in wanted for c in found)
        score -= WEIGHTS["other_concept"] * sum(c not in wanted for c in found)
        if self.colours:
            score -= WEIGHTS["colour_clash"] * sum(
                COLOUR_WORDS[t] not in self.colours for t in tokens if t in COLOUR_WORDS
            )
        score += WEIGHTS["tone"] * tone_fit(self.tone, text, tokens)
        score -= WEIGHTS["short"] * (len(words) < 4) + WEIGHTS["unfinished"] * (not finished)
        return score


def tone_fit(tone: str, text: str, tokens: Sequence[str]) -> float:
    """+1 when the sentence carries ``tone``, -1 when it carries the opposite, 0 otherwise (plain: always 0)."""
    if tone == "plain":
        return 0.0
    words = set(tokens)
    if tone == "funny":
        return 1.0 if words & FUNNY else 0.0
    if tone == "spooky":
        return 1.0 if words & SPOOKY else 0.0
    score = valence(text)
    if tone == "cheerful":
        return 1.0 if score >= 0.3 else -1.0 if score <= -0.1 else 0.0
    return 1.0 if score <= -0.1 else -1.0 if score >= 0.3 else 0.0  # wistful


def best(candidates: Sequence[tuple[Sequence[str], float, bool]], judge: Judge, n: int) -> list[int]:
    """Indices of the ``n`` best candidates ``(tokens, summed log-prob, finished)``, best first, no two with the
    same words (punctuation aside)."""
    order = sorted(range(len(candidates)), key=lambda i: -judge.score(*candidates[i]))
    chosen, seen = [], set()
    for i in order:
        key = tuple(t for t in candidates[i][0] if t[0].isalnum())
        if key not in seen:
            seen.add(key)
            chosen.append(i)
        if len(chosen) == n:
            break
    return chosen
