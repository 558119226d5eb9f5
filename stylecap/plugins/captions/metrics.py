"""Caption metrics: reference overlap (pycocoevalcap), grounding, diversity, fluency and style.

Everything takes token lists from ``text.tokenize`` so that all numbers count words the same way.
"""

from __future__ import annotations

import math
import shutil
import zlib
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import torch

from stylecap.core.checkpoint import load_checkpoint, save_checkpoint
from stylecap.core.errors import UsageError

from .concepts import ConceptVocab

Tokens = Sequence[str]


def _coco():
    try:
        from pycocoevalcap.bleu.bleu import Bleu
        from pycocoevalcap.cider.cider import Cider
        from pycocoevalcap.rouge.rouge import Rouge
    except ModuleNotFoundError:
        raise UsageError("reference metrics need pycocoevalcap", "pip install pycocoevalcap==1.2") from None
    return Bleu, Rouge, Cider


def reference_metrics(
    candidates: list[Tokens], references: list[list[Tokens]], *, meteor: bool = True
) -> dict[str, float | str]:
    """BLEU-1..4, METEOR (needs Java; about 30 s to start, so ``meteor=False`` skips it), ROUGE-L and CIDEr
    over the whole set, as in COCO. SPICE needs Stanford CoreNLP, which it downloads on first use: reported
    as unavailable, not as zero."""
    Bleu, Rouge, Cider = _coco()
    res = {i: [" ".join(c) or "<empty>"] for i, c in enumerate(candidates)}
    gts = {i: [" ".join(r) for r in refs] for i, refs in enumerate(references)}
    bleu, _ = Bleu(4).compute_score(gts, res, verbose=0)
    out: dict[str, float | str] = {f"bleu{n}": float(b) for n, b in enumerate(bleu, 1)}
    if not meteor:
        out["meteor"] = "skipped"
    elif shutil.which("java"):
        from pycocoevalcap.meteor.meteor import Meteor

        out["meteor"] = float(Meteor().compute_score(gts, res)[0])
    else:
        out["meteor"] = "unavailable: needs Java (apt-get install default-jre-headless)"
    out["rouge_l"] = float(Rouge().compute_score(gts, res)[0])
    out["cider"] = float(Cider().compute_score(gts, res)[0])
    out["spice"] = "unavailable: needs Stanford CoreNLP, which pycocoevalcap downloads (offline here)"
    return out


def self_bleu(sentences: list[Tokens], n: int = 4, limit: int = 300) -> float:
    """Mean BLEU-n of each sentence against all the others (Zhu et al. 2018): high means repetitive."""
    Bleu, _, _ = _coco()
    sentences = [s for s in sentences if s][:limit]
    if len(sentences) < 2:
        return 0.0
    joined = [" ".join(s) for s in sentences]
    res = {i: [s] for i, s in enumerate(joined)}
    gts = {i: joined[:i] + joined[i + 1 :] for i in range(len(joined))}
    _, per_sentence = Bleu(n).compute_score(gts, res, verbose=0)
    return float(sum(per_sentence[n - 1]) / len(joined))


def distinct(sentences: list[Tokens], n: int) -> float:
    """Distinct n-grams over all n-grams (Li et al. 2016)."""
    grams = [tuple(s[i : i + n]) for s in sentences for i in range(len(s) - n + 1)]
    return len(set(grams)) / len(grams) if grams else 0.0


def grounding(captions: list[Tokens], conditions: list[Sequence[str]], vocab: ConceptVocab) -> dict[str, float]:
    """Concept hit rate (the caption names at least one condition concept or a synonym), and CHAIR-style
    hallucination: the share of captions naming a vocabulary concept not in the condition (CHAIR-s) and
    the share of named concepts that are not (CHAIR-i)."""
    hits = bad_captions = mentioned = bad_mentions = 0
    for tokens, condition in zip(captions, conditions):
        named = vocab.find(tokens)
        wrong = [c for c in named if c not in condition]
        hits += len(named) > len(wrong)
        bad_captions += bool(wrong)
        mentioned += len(named)
        bad_mentions += len(wrong)
    total = max(1, len(captions))
    return {
        "concept_hit_rate": hits / total,
        "hallucination_rate": bad_captions / total,
        "chair_i": bad_mentions / mentioned if mentioned else 0.0,
    }


class BigramLM:
    """A held-out yardstick for fluency: interpolated bigram model, add-one unigrams (unknown words included)."""

    def __init__(self, sentences: list[Tokens], weight: float = 0.7):
        self.weight = weight
        self.unigrams = Counter(w for s in sentences for w in [*s, "</s>"])
        self.bigrams = Counter(b for s in sentences for b in zip(["<s>", *s], [*s, "</s>"]))
        self.context = Counter(w for s in sentences for w in ["<s>", *s])
        self.total = sum(self.unigrams.values())
        self.size = len(self.unigrams) + 1

    def nll(self, sentence: Tokens) -> float:
        """Mean negative log-likelihood per token (end of sentence included), in nats."""
        words = [*sentence, "</s>"]
        total = 0.0
        for prev, word in zip(["<s>", *sentence], words):
            uni = (self.unigrams[word] + 1) / (self.total + self.size)
            bi = self.bigrams[prev, word] / self.context[prev] if self.context[prev] else 0.0
            total -= math.log(self.weight * bi + (1 - self.weight) * uni)
        return total / len(words)


class StyleClassifier:
    """Colloquial (1) vs formal (0): logistic regression on hashed word unigrams and bigrams."""

    def __init__(self, dim: int = 2**15, weight: torch.Tensor | None = None, bias: float = 0.0):
        self.dim = dim
        self.weight = torch.zeros(dim) if weight is None else weight
        self.bias = bias

    def features(self, sentences: list[Tokens]) -> torch.Tensor:
        x = torch.zeros(len(sentences), self.dim)
        for row, s in enumerate(sentences):
            for gram in [*s, *(f"{a} {b}" for a, b in zip(s, s[1:]))]:
                x[row, zlib.crc32(gram.encode()) % self.dim] = 1.0
        return x

    def fit(self, colloquial: list[Tokens], formal: list[Tokens], steps: int = 200, l2: float = 1e-4) -> None:
        x = self.features([*colloquial, *formal])
        y = torch.cat([torch.ones(len(colloquial)), torch.zeros(len(formal))])
        w = torch.zeros(self.dim, requires_grad=True)
        b = torch.zeros((), requires_grad=True)
        opt = torch.optim.Adam([w, b], lr=0.1)
        for _ in range(steps):
            loss = torch.nn.functional.binary_cross_entropy_with_logits(x @ w + b, y) + l2 * w.square().sum()
            opt.zero_grad()
            loss.backward()
            opt.step()
        self.weight, self.bias = w.detach(), float(b.detach())

    def colloquial(self, sentences: list[Tokens]) -> torch.Tensor:
        """Probability that each sentence is colloquial."""
        return torch.sigmoid(self.features(sentences) @ self.weight + self.bias)

    def accuracy(self, colloquial: list[Tokens], formal: list[Tokens]) -> float:
        right = (self.colloquial(colloquial) > 0.5).sum() + (self.colloquial(formal) <= 0.5).sum()
        return float(right) / max(1, len(colloquial) + len(formal))

    def save(self, path: Path) -> Path:
        return save_checkpoint(path, {"weight": self.weight, "bias": torch.tensor([self.bias])}, {"dim": self.dim})

    @classmethod
    def load(cls, path: Path) -> StyleClassifier:
        tensors, meta = load_checkpoint(path)
        return cls(int(meta["dim"]), tensors["weight"], float(tensors["bias"][0]))


WORDNET = Path("/usr/share/wordnet")


def wordnet_glosses(limit: int = 20000, folder: Path = WORDNET) -> list[str]:
    """Dictionary definitions from WordNet (Debian ``wordnet-base``): the formal, descriptive side."""
    if not (folder / "data.noun").is_file():
        raise UsageError(f"no WordNet in {folder} for the formal side of the style classifier",
                         "apt-get install wordnet-base, or pass --formal FILE (one sentence per line)")  # fmt: skip
    glosses = []
    for part in ("noun", "verb", "adj"):
        for line in (folder / f"data.{part}").read_text(errors="replace").splitlines():
            if "|" in line and not line.startswith("  "):
                glosses.append(line.split("|", 1)[1].split(";")[0].strip())
    return glosses[:: max(1, len(glosses) // limit)][:limit]
