"""The caption evaluation harness: ``stylecap eval caption TARGET`` and :func:`evaluate`.

It asks a backend for one caption per concept set of a corpus split (the references are the real
sentences with that concept set) and writes ``report.json``, ``report.md`` and ``qd_curve.png``:
reference metrics, grounding, fluency under a held-out LM, style under a colloquial-vs-formal
classifier it trains (and saves), diversity, and a quality-diversity curve over a temperature sweep
(Caccia et al. 2020), so two backends can be compared on one plot (:func:`plot_curves`).
"""

from __future__ import annotations

import json
import random
import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from stylecap.core.atomic import write_text_atomic
from stylecap.core.errors import UsageError

from .concepts import ConceptVocab
from .corpus import Corpus
from .metrics import (
    BigramLM,
    StyleClassifier,
    distinct,
    grounding,
    reference_metrics,
    self_bleu,
    wordnet_glosses,
)
from .text import tokenize


def concept_sets(corpus: Corpus, split: str, limit: int, seed: int = 0) -> tuple[list[list[str]], list[list[str]]]:
    """Distinct concept sets of a split (at most ``limit``, a seeded sample) and each one's real sentences."""
    groups: dict[tuple[str, ...], list[str]] = {}
    for s in corpus.split(split):
        groups.setdefault(tuple(sorted(s.concepts)), []).append(s.text)
    keys = sorted(groups)
    random.Random(seed).shuffle(keys)
    keys = keys[:limit]
    return [list(k) for k in keys], [groups[k] for k in keys]


def style_classifier(corpus: Corpus, formal: Sequence[str], out: Path, seed: int = 0) -> tuple[StyleClassifier, float]:
    """Train colloquial (val-split sentences) vs formal, hold out a fifth of each, save; return held-out accuracy."""
    colloquial = [tokenize(s.text) for s in corpus.val]
    formal_tokens = [t for t in (tokenize(s) for s in formal) if t]
    rng = random.Random(seed)
    size = min(len(colloquial), len(formal_tokens))
    colloquial, formal_tokens = rng.sample(colloquial, size), rng.sample(formal_tokens, size)
    cut = size * 4 // 5
    classifier = StyleClassifier()
    classifier.fit(colloquial[:cut], formal_tokens[:cut])
    classifier.save(out / "style_classifier.safetensors")
    return classifier, classifier.accuracy(colloquial[cut:], formal_tokens[cut:])


def evaluate(
    backend: Any,
    corpus: Corpus,
    out: str | Path,
    *,
    split: str = "test",
    limit: int = 300,
    temperatures: Sequence[float] = (0.5, 0.8, 1.0, 1.3),
    formal: Sequence[str] | None = None,
    name: str | None = None,
    meteor: bool = True,
    seed: int = 0,
) -> dict[str, Any]:
    """Evaluate anything with ``generate(concept_sets, temperature=None, seed=0) -> list[str]``.

    METEOR is computed for the main captions only: its Java process takes about 30 s to start."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    vocab = ConceptVocab.default()
    conditions, references = concept_sets(corpus, split, limit, seed)
    if not conditions:
        raise UsageError(f"the {split} split has no sentences to evaluate on", "use a larger corpus or another split")
    refs = [[tokenize(r) for r in group] for group in references]
    lm = BigramLM([tokenize(s.text) for s in corpus.val])
    classifier, style_accuracy = style_classifier(corpus, formal if formal is not None else wordnet_glosses(), out)

    def measure(captions: list[str], meteor: bool = False) -> dict[str, Any]:
        tokens = [tokenize(c) for c in captions]
        return {
            **reference_metrics(tokens, refs, meteor=meteor),
            **grounding(tokens, conditions, vocab),
            "lm_nll": statistics.fmean(lm.nll(t) for t in tokens),
            "colloquial_rate": float((classifier.colloquial(tokens) > 0.5).float().mean()),
            "distinct1": distinct(tokens, 1),
            "distinct2": distinct(tokens, 2),
            "self_bleu4": self_bleu(tokens),
            "vocabulary_used": len({w for t in tokens for w in t}),
            "mean_length": statistics.fmean(len(t) for t in tokens),
        }

    captions = backend.generate(conditions, seed=seed)
    report = {
        "name": name or getattr(backend, "name", "backend"),
        "split": split,
        "concept_sets": len(conditions),
        "references": sum(map(len, references)),
        "metrics": measure(captions, meteor),
        "yardsticks": {  # the same measures for the real sentences: what "human" scores here
            "reference_lm_nll": statistics.fmean(lm.nll(r[0]) for r in refs),
            "reference_colloquial_rate": float((classifier.colloquial([r[0] for r in refs]) > 0.5).float().mean()),
            "style_classifier_heldout_accuracy": style_accuracy,
        },
        "quality_diversity": [
            {"temperature": t, **measure(backend.generate(conditions, temperature=t, seed=seed))} for t in temperatures
        ],
        "samples": [
            {"concepts": c, "caption": k, "reference": r[0]} for c, k, r in zip(conditions, captions, references)
        ][:20],
    }
    write_text_atomic(out / "report.json", json.dumps(report, indent=2) + "\n")
    write_text_atomic(out / "report.md", markdown(report))
    plot_curves([report], out / "qd_curve.png")
    return report


def _fmt(value: Any) -> str:
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def markdown(report: dict[str, Any]) -> str:
    lines = [
        f"# Caption report: {report['name']}",
        "",
        f"{report['concept_sets']} concept sets from the {report['split']} split, {report['references']} references.",
        "",
        "| metric | value |",
        "|---|---|",
        *(f"| {k} | {_fmt(v)} |" for k, v in report["metrics"].items()),
        *(f"| {k} | {_fmt(v)} |" for k, v in report["yardsticks"].items()),
        "",
        "## Quality-diversity (temperature sweep)",
        "",
        "| temperature | BLEU-4 | LM NLL | Self-BLEU-4 | distinct-2 | hit rate | hallucination |",
        "|---|---|---|---|---|---|---|",
        *(
            f"| {p['temperature']} | {p['bleu4']:.4f} | {p['lm_nll']:.3f} | {p['self_bleu4']:.4f} | "
            f"{p['distinct2']:.4f} | {p['concept_hit_rate']:.3f} | {p['hallucination_rate']:.3f} |"
            for p in report["quality_diversity"]
        ),
        "",
        "## Samples",
        "",
        *(f"- **{', '.join(s['concepts'])}**: {s['caption']}  \n  (real: {s['reference']})" for s in report["samples"]),
    ]
    return "\n".join(lines) + "\n"


def plot_curves(reports: Sequence[dict[str, Any]], path: str | Path) -> Path:
    """Quality (held-out LM NLL, lower is better) against diversity (Self-BLEU-4, lower is more diverse),
    one line per report: backends compared on one plot."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 4))
    for report in reports:
        points = report["quality_diversity"]
        ax.plot([p["self_bleu4"] for p in points], [p["lm_nll"] for p in points], "o-", label=report["name"])
        for p in points:
            ax.annotate(f"T={p['temperature']}", (p["self_bleu4"], p["lm_nll"]), fontsize=7)
    ax.set_xlabel("Self-BLEU-4 (lower: more diverse)")
    ax.set_ylabel("held-out LM NLL per token (lower: more fluent)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return Path(path)
