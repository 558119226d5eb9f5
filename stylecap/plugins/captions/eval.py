"""The caption evaluation harness: ``stylecap eval caption TARGET`` and :func:`evaluate` / :func:`evaluate_paired`.

The corpus mode (:func:`evaluate`) asks a backend for one caption per concept set of a corpus split (the
references are the real sentences with that concept set); the paired mode (:func:`evaluate_paired`) asks a
model trained on paired data for one caption per held-out picture (the references are that picture's
captions). Both write ``report.json``, ``report.md`` and ``qd_curve.png`` through the same code
(:func:`_report`): reference metrics, grounding (corpus mode only: paired models have no concepts), fluency
under a held-out LM, style under a colloquial-vs-formal classifier it trains (and saves), diversity, and a
quality-diversity curve over a temperature sweep (Caccia et al. 2020), so two backends can be compared on one
plot (:func:`plot_curves`).
"""

from __future__ import annotations

import json
import random
import statistics
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch

from stylecap.core.atomic import write_text_atomic
from stylecap.core.component import Condition
from stylecap.core.errors import UsageError

from .concepts import ConceptVocab
from .corpus import Corpus, default_cache_dir
from .metrics import (
    BigramLM,
    StyleClassifier,
    Tokens,
    distinct,
    grounding,
    reference_metrics,
    self_bleu,
    wordnet_glosses,
)
from .paired import cached_features, feature_cache_path, load_pairs
from .text import tokenize

NOT_APPLICABLE = "not applicable: a model trained on paired pictures has no concepts to ground its captions in"


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


def check_mode(backend: Any, *, paired: bool) -> None:
    """Each mode feeds a model the only condition it reads: concept sets (corpus mode) or picture features
    (paired mode). Say which mode a model needs before any data is loaded."""
    if hasattr(backend, "_require"):
        backend._require()  # no weights at all: its own error says how to train some
    name = getattr(backend, "name", "backend")
    if paired and not getattr(backend, "paired", False):
        raise UsageError(
            f"caption backend {name!r} is conditioned on concepts, not on picture features: "
            "--paired evaluates models trained on paired pictures (stylecap train caption mle-lstm --paired ...)",
            "drop --paired, --annotations and --images to evaluate it on a corpus split",
        )
    if not paired and getattr(backend, "paired", False):
        raise UsageError(
            f"this {name} model was trained on paired pictures: it reads picture features, and the corpus mode "
            "gives it concept sets",
            "evaluate it on held-out pictures with --paired coco|flickr|styled --annotations FILE --images DIR, "
            "or evaluate_paired in Python",
        )


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
    check_mode(backend, paired=False)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    vocab = ConceptVocab.default()
    conditions, references = concept_sets(corpus, split, limit, seed)
    if not conditions:
        raise UsageError(f"the {split} split has no sentences to evaluate on", "use a larger corpus or another split")
    head = {
        "name": name or getattr(backend, "name", "backend"),
        "mode": "corpus",
        "split": split,
        "concept_sets": len(conditions),
        "evaluated_on": f"{len(conditions)} concept sets from the {split} split",
    }
    return _report(
        out,
        head,
        lambda temperature: backend.generate(conditions, temperature=temperature, seed=seed),
        references,
        [{"concepts": c} for c in conditions],
        ground=lambda tokens: grounding(tokens, conditions, vocab),
        lm=BigramLM([tokenize(s.text) for s in corpus.val]),
        style=style_classifier(corpus, formal if formal is not None else wordnet_glosses(), out),
        temperatures=temperatures,
        meteor=meteor,
    )


def held_out_pictures(
    pictures: list[Path], split_file: str | Path | None, annotations: Path
) -> tuple[list[Path], list[Path], str]:
    """``(evaluate, trained_on, how)``: with a run's ``split.json``, the pictures it did not train on (its
    ``val`` side, and any it never listed) and the ones it did; without one, every picture. Names are matched
    by file name, as ``split_by_image`` splits them."""
    if split_file is None:
        how = f"every picture in {annotations.name} (no split.json given, so the model may have trained on some)"
        return list(pictures), [], how
    split_file = Path(split_file)
    try:
        split = json.loads(split_file.read_text())
        trained = {Path(n).name for n in split["train"]}
        val = {Path(n).name for n in split["val"]}
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise UsageError(f"{split_file} is not a run's split.json ({e})", "give the split.json its run wrote") from None
    held = [p for p in pictures if p.name not in trained]
    if not held:
        raise UsageError(
            f"every picture in {annotations} is one the run trained on ({split_file} lists it under 'train')",
            "pass annotations holding pictures the run held out, or train with --val-fraction above 0",
        )
    listed = sum(p.name in val for p in held)
    how = f"held out by the run ({listed} of the {len(val)} in {split_file.name} 'val'"
    how += f", {len(held) - listed} it does not list)" if listed < len(held) else ")"
    return held, [p for p in pictures if p.name in trained], how


def evaluate_paired(
    backend: Any,
    fmt: str,
    annotations: str | Path,
    images: str | Path,
    out: str | Path,
    *,
    split_file: str | Path | None = None,
    corpus: Corpus | None = None,
    formal: Sequence[str] | None = None,
    cache_dir: str | Path | None = None,
    limit: int = 300,
    temperatures: Sequence[float] = (0.5, 0.8, 1.0, 1.3),
    name: str | None = None,
    meteor: bool = True,
    seed: int = 0,
) -> dict[str, Any]:
    """Caption held-out pictures of paired data (``load_pairs(fmt, annotations, images)``) with a model trained
    on paired data, each from its features under the model's own condition encoder (``cached_features``, so a
    training run's cache is reused), and score each caption against all of its picture's captions.

    ``split_file`` (the run's ``split.json``) leaves out the pictures the model trained on; their captions train
    the fluency LM. Without it every picture is captioned and fluency is unavailable (no captions are left to
    train the LM on). The style classifier's colloquial side is a corpus: without ``corpus`` style is reported
    unavailable. Grounding needs concepts: reported not applicable. At most ``limit`` pictures (a seeded sample)."""
    check_mode(backend, paired=True)
    out, annotations, images = Path(out), Path(annotations), Path(images)
    pairs = load_pairs(fmt, annotations, images)
    captions_of: dict[Path, list[str]] = {}
    for pair in pairs:
        captions_of.setdefault(pair.image, []).append(pair.caption)
    everything = sorted(captions_of)
    pictures, trained_on, how = held_out_pictures(everything, split_file, annotations)
    if len(pictures) > limit:
        how += f" (a seeded sample of {limit} of {len(pictures)})"
        pictures = sorted(random.Random(seed).sample(pictures, limit))
    out.mkdir(parents=True, exist_ok=True)

    encoder, cache_dir = backend.encoder, Path(cache_dir) if cache_dir else default_cache_dir()
    whole = feature_cache_path(everything, encoder, cache_dir).is_file()  # the training run's cache
    features = cached_features(everything if whole else pictures, encoder, cache_dir)
    cond = torch.cat([backend.feature_vector([Condition(features=features[p])]) for p in pictures])

    if trained_on:
        lm: BigramLM | str = BigramLM([tokenize(c) for p in trained_on for c in captions_of[p]])
    elif split_file is None:
        lm = "not available: without split.json every picture is evaluated, and no training captions are left"
    else:
        lm = f"not available: no picture in {annotations.name} is one the run trained on, so no training captions"
    if corpus is None:
        style: tuple[StyleClassifier, float] | str = (
            "not available: the style classifier learns the colloquial side from a corpus (pass --corpus)"
        )
    else:
        style = style_classifier(corpus, formal if formal is not None else wordnet_glosses(), out)
    head = {
        "name": name or getattr(backend, "name", "backend"),
        "mode": "paired",
        "format": fmt,
        "annotations": str(annotations),
        "pictures": len(pictures),
        "evaluated_on": f"{len(pictures)} pictures, {how}",
    }
    return _report(
        out,
        head,
        lambda temperature: backend.decode(cond, temperature=temperature, seed=seed),
        [captions_of[p] for p in pictures],
        [{"picture": str(p.relative_to(images))} for p in pictures],
        ground=lambda tokens: dict.fromkeys(("concept_hit_rate", "hallucination_rate", "chair_i"), NOT_APPLICABLE),
        lm=lm,
        style=style,
        temperatures=temperatures,
        meteor=meteor,
    )


def _report(
    out: Path,
    head: dict[str, Any],
    captions_at: Callable[[float | None], list[str]],
    references: list[list[str]],
    labels: list[dict[str, Any]],
    *,
    ground: Callable[[list[Tokens]], dict[str, Any]],
    lm: BigramLM | str,
    style: tuple[StyleClassifier, float] | str,
    temperatures: Sequence[float],
    meteor: bool,
) -> dict[str, Any]:
    """The report both modes write: ``captions_at(None)`` gives the backend's own captions and
    ``captions_at(t)`` samples at temperature ``t``; ``lm`` and ``style`` are a string saying why they are
    unavailable when they are."""
    refs = [[tokenize(r) for r in group] for group in references]
    classifier = None if isinstance(style, str) else style[0]

    def fluency(sentences: list[Tokens]) -> float | str:
        return lm if isinstance(lm, str) else statistics.fmean(lm.nll(t) for t in sentences)

    def colloquial(sentences: list[Tokens]) -> float | str:
        return style if classifier is None else float((classifier.colloquial(sentences) > 0.5).float().mean())

    def measure(captions: list[str], meteor: bool = False) -> dict[str, Any]:
        tokens = [tokenize(c) for c in captions]
        return {
            **reference_metrics(tokens, refs, meteor=meteor),
            **ground(tokens),
            "lm_nll": fluency(tokens),
            "colloquial_rate": colloquial(tokens),
            "distinct1": distinct(tokens, 1),
            "distinct2": distinct(tokens, 2),
            "self_bleu4": self_bleu(tokens),
            "vocabulary_used": len({w for t in tokens for w in t}),
            "mean_length": statistics.fmean(len(t) for t in tokens),
        }

    captions = captions_at(None)
    samples = [{**label, "caption": k, "reference": r[0]} for label, k, r in zip(labels, captions, references)]
    report = {
        **head,
        "references": sum(map(len, references)),
        "metrics": measure(captions, meteor),
        "yardsticks": {  # the same measures for the real sentences: what "human" scores here
            "reference_lm_nll": fluency([r[0] for r in refs]),
            "reference_colloquial_rate": colloquial([r[0] for r in refs]),
            "style_classifier_heldout_accuracy": style if isinstance(style, str) else style[1],
        },
        "quality_diversity": [{"temperature": t, **measure(captions_at(t))} for t in temperatures],
        "samples": samples[:20],
    }
    write_text_atomic(out / "report.json", json.dumps(report, indent=2) + "\n")
    write_text_atomic(out / "report.md", markdown(report))
    if not isinstance(lm, str):  # the curve's quality axis is the LM's NLL
        plot_curves([report], out / "qd_curve.png")
    return report


def _fmt(value: Any) -> str:
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def _cell(value: Any, digits: int) -> str:
    """A number in the sweep table, or ``n/a`` where the metric does not apply (the metrics table says why)."""
    return f"{value:.{digits}f}" if isinstance(value, (int, float)) else "n/a"


def markdown(report: dict[str, Any]) -> str:
    lines = [
        f"# Caption report: {report['name']}",
        "",
        f"{report['evaluated_on']}, {report['references']} references.",
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
            f"| {p['temperature']} | {_cell(p['bleu4'], 4)} | {_cell(p['lm_nll'], 3)} | {_cell(p['self_bleu4'], 4)} | "
            f"{_cell(p['distinct2'], 4)} | {_cell(p['concept_hit_rate'], 3)} | {_cell(p['hallucination_rate'], 3)} |"
            for p in report["quality_diversity"]
        ),
        "",
        "## Samples",
        "",
        *(
            f"- **{s['picture'] if 'picture' in s else ', '.join(s['concepts'])}**: {s['caption']}  \n"
            f"  (real: {s['reference']})"
            for s in report["samples"]
        ),
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
        points = [p for p in report["quality_diversity"] if isinstance(p["lm_nll"], float)]
        if not points:  # no fluency LM (a paired report without training captions): nothing to draw
            continue
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
