"""Words: one tokenizer for corpus, model and metrics, and a word vocabulary with <unk>."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence

TOKEN = re.compile(r"[a-z0-9]+(?:'[a-z]+)?|[.,!?;:]")
PAD, BOS, EOS, UNK = "<pad>", "<bos>", "<eos>", "<unk>"
SPECIALS = (PAD, BOS, EOS, UNK)


def tokenize(text: str) -> list[str]:
    """Lower-case words (keeping contractions: "it's") and sentence punctuation."""
    return TOKEN.findall(text.lower().replace("\u2019", "'"))


def detokenize(tokens: Iterable[str]) -> str:
    """Join tokens back into a sentence, punctuation attached to the word before it."""
    text = " ".join(tokens)
    return re.sub(r" ([.,!?;:])", r"\1", text)


class Vocab:
    """Word <-> index; words seen fewer than ``min_count`` times become <unk>."""

    def __init__(self, words: Sequence[str]):
        self.words = list(words)
        self.index = {w: i for i, w in enumerate(self.words)}
        if tuple(self.words[: len(SPECIALS)]) != SPECIALS:
            raise ValueError(f"a vocabulary starts with {SPECIALS}, this one with {self.words[:4]}")

    @classmethod
    def build(cls, sentences: Iterable[Sequence[str]], min_count: int = 1, keep: Iterable[str] = ()) -> Vocab:
        """The words seen at least ``min_count`` times, and the words of ``keep`` seen at all: a concept's name
        stays sayable however rare it is in a wide corpus."""
        counts, keep = Counter(w for s in sentences for w in s), set(keep)
        kept = sorted(
            (w for w, n in counts.items() if (n >= min_count or w in keep) and w not in SPECIALS),
            key=lambda w: (-counts[w], w),
        )
        return cls([*SPECIALS, *kept])

    def __len__(self) -> int:
        return len(self.words)

    def encode(self, tokens: Sequence[str]) -> list[int]:
        unk = self.index[UNK]
        return [self.index.get(t, unk) for t in tokens]

    def decode(self, ids: Iterable[int]) -> list[str]:
        """Words up to the first <eos>, without padding or <bos>."""
        out = []
        for i in ids:
            word = self.words[i]
            if word == EOS:
                break
            if word not in (PAD, BOS):
                out.append(word)
        return out


QUESTION_WORDS = frozenset("what who whom whose which where when why how is are was were do does did can could would "
                           "will should shall have has".split())  # fmt: skip


def tidy(text: str) -> str:
    """A sentence as a person writes it: a capital first letter, "I" (and "I'm", "I've"...) capitalised, and
    end punctuation (a question mark when it opens like a question)."""
    text = re.sub(r"\bi\b", "I", text.strip())
    if not text:
        return text
    text = text[0].upper() + text[1:]
    if text[-1] in ".!?":
        return text
    first = text.split()[0].lower()
    return text.rstrip(",;:") + ("?" if first in QUESTION_WORDS else ".")
