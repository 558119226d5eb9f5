"""Perplexity of caption models on held-out conversations (the corpus's test split, every sentence).

Each sentence is scored with the condition it would be trained with (its concepts and, for models trained
with tones, its tone), so the figure says how well a model knows informal English, not only how well it
names concepts. Words outside a model's vocabulary count as its <unk>, so compare models with similar
vocabularies, and read the out-of-vocabulary rate beside the perplexity.

    python3 benchmarks/caption_perplexity.py stylecap/plugins/seqgan/weights/seqgan.safetensors runs/mle/final
"""

from __future__ import annotations

import argparse
import math
from dataclasses import replace

import torch
import torch.nn.functional as F

from stylecap.plugins.captions.cli import load_backend
from stylecap.plugins.captions.corpus import CorpusOptions, load_corpus
from stylecap.plugins.captions.text import UNK, tokenize
from stylecap.plugins.captions.training import SentenceData


def perplexity(model, sentences, batch_size: int = 256) -> tuple[float, float]:
    """(perplexity per token, the share of words outside the model's vocabulary). Concepts a model does not know
    (an older model lacks the detectors' "people", "beach" ...) are left out of its condition."""
    known = set(model.concepts)
    sentences = [replace(s, concepts=tuple(c for c in s.concepts if c in known)) for s in sentences]
    data = SentenceData(sentences, model.vocab, model.concepts, 24, 0.0, model.tones)
    loader = torch.utils.data.DataLoader(data, batch_size=batch_size)
    total, count = 0.0, 0
    for tokens, cond in loader:
        with torch.no_grad():
            logits = model.net(tokens[:, :-1], cond)
        total += F.cross_entropy(logits.flatten(0, 1), tokens[:, 1:].flatten(), ignore_index=0, reduction="sum").item()
        count += int((tokens[:, 1:] != 0).sum())
    unk = model.vocab.index[UNK]
    words = [model.vocab.index.get(w, unk) for s in data.sentences for w in tokenize(s.text)]
    return math.exp(total / count), sum(w == unk for w in words) / max(len(words), 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("models", nargs="+", help="caption model files, run folders or saved pipelines")
    parser.add_argument("--limit", type=int, default=5000, help="held-out sentences scored (a seeded sample)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    test = load_corpus(CorpusOptions(mentions_only=False)).test
    sentences = [test[i] for i in torch.randperm(len(test), generator=torch.Generator().manual_seed(0))[: args.limit]]
    print(f"{len(sentences)} held-out sentences of {len(test)} (test split, every sentence)\n")
    print("| model | words | tones | perplexity | out of vocabulary |")
    print("|---|---|---|---|---|")
    for path in args.models:
        model = load_backend(path)
        ppl, oov = perplexity(model, sentences)
        print(f"| {path} | {len(model.vocab)} | {'yes' if model.tones else 'no'} | {ppl:.1f} | {oov:.1%} |")


if __name__ == "__main__":
    main()
