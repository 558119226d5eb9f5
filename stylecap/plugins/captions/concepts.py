"""The concept vocabulary: everyday words for the 1000 ImageNet classes, with synonyms.

Read from the committed files that ``build_concepts`` writes (the class map of the ``conditions`` plugin,
``conditions/data/imagenet_concepts.tsv``, and ``data/synonyms.tsv``). The same vocabulary finds concepts in
corpus sentences and in captions,
so grounding metrics and training conditions agree on what "mentions a cat" means.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Sequence
from pathlib import Path

from stylecap.plugins.conditions.imagenet import class_concepts

from .text import tokenize

DATA = Path(__file__).with_name("data")


class ConceptVocab:
    """Concept names (sorted), the phrases that mention each, and the class -> concept map."""

    def __init__(self, class_concepts: Sequence[str | None], synonyms: dict[str, Sequence[str]]):
        self.class_concepts = list(class_concepts)
        self.names = sorted(set(filter(None, class_concepts)) | set(synonyms))
        self.index = {c: i for i, c in enumerate(self.names)}
        self.phrases: dict[tuple[str, ...], str] = {}
        for concept in self.names:
            for phrase in (concept, *synonyms.get(concept, ())):
                self.phrases.setdefault(tuple(tokenize(phrase)), concept)
        self.longest = max(map(len, self.phrases))

    @classmethod
    @functools.cache
    def default(cls) -> ConceptVocab:
        """The committed ImageNet mapping (read once per process)."""
        synonyms = {}
        for line in (DATA / "synonyms.tsv").read_text().splitlines()[1:]:
            concept, _, words = line.partition("\t")
            synonyms[concept] = [w for w in words.split(",") if w]
        return cls(class_concepts(), synonyms)

    def __len__(self) -> int:
        return len(self.names)

    def fingerprint(self) -> str:
        """Changes whenever the concepts or their phrases do: part of every cache key built on them."""
        text = "\n".join(f"{' '.join(p)}\t{c}" for p, c in sorted(self.phrases.items()))
        return hashlib.sha256(text.encode()).hexdigest()[:12]

    def find(self, tokens: Sequence[str]) -> list[str]:
        """Concepts mentioned in ``tokens``, in order of first mention; longest phrase wins ("hot dog")."""
        found: list[str] = []
        i = 0
        while i < len(tokens):
            for n in range(min(self.longest, len(tokens) - i), 0, -1):
                concept = self.phrases.get(tuple(tokens[i : i + n]))
                if concept:
                    if concept not in found:
                        found.append(concept)
                    i += n
                    break
            else:
                i += 1
        return found
