"""``stylecap eval caption TARGET``: the evaluation harness on the command line (added by this plugin)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from stylecap.core.config import parse_assignments
from stylecap.core.errors import UsageError


def load_backend(target: str, options: dict | None = None):
    """A caption backend from a run or pipeline folder, a model file (its backend named in the file's metadata),
    or a registered name (its default weights); ``options`` override its config (e.g. ``{"grounding": "none"}``)."""
    from stylecap.core.checkpoint import load_checkpoint
    from stylecap.core.config import to_dict
    from stylecap.core.host import create, registry
    from stylecap.core.pipeline import Pipeline

    path = Path(target)
    if path.is_dir():
        folder = path / "final" if (path / "final" / "pipeline.json").is_file() else path
        caption = Pipeline.load(folder).caption
        if caption is None:
            raise UsageError(f"the pipeline in {folder} has no caption backend", "point at a caption training run")
        if options:
            caption.config = registry("caption").get(caption.name).build_config(to_dict(caption.config) | options)
        return caption
    if path.suffix == ".safetensors":
        component = load_checkpoint(path)[1].get("component", "mle-lstm")
        return create("caption", component, weights=str(path), **(options or {}))
    return create("caption", target, **(options or {}))


def run_split(target: str) -> Path | None:
    """The ``split.json`` of a paired training run, given the run folder or its ``final`` pipeline folder."""
    path = Path(target)
    candidates = [path / "split.json"] + ([path.parent / "split.json"] if path.name == "final" else [])
    return next((c for c in candidates if path.is_dir() and c.is_file()), None)


def eval_caption(
    target: str = typer.Argument(..., help="A training run or pipeline folder, a .safetensors model, or a backend."),
    corpus: Optional[str] = typer.Option(
        None,
        "--corpus",
        help="'chitchat' (the default), corpora joined by '+', or a text file of conversations: the split to "
        "evaluate on. With --paired: optional, the colloquial side of the style classifier.",
    ),
    split: str = typer.Option("test", "--split", help="train, val or test."),
    paired: Optional[str] = typer.Option(
        None,
        "--paired",
        help="coco, flickr or styled: evaluate a model trained on paired data on held-out pictures "
        "(a run folder's split.json val pictures, otherwise every picture in --annotations).",
    ),
    annotations: Optional[Path] = typer.Option(None, "--annotations", help="With --paired: the captions file."),
    images: Optional[Path] = typer.Option(None, "--images", help="With --paired: the folder of pictures it names."),
    out: Path = typer.Option(Path("reports/caption"), "--out", help="Folder for report.json/.md and the plot."),
    limit: int = typer.Option(300, "--limit", help="At most this many concept sets (or pictures, with --paired)."),
    temperatures: str = typer.Option("0.5,0.8,1.0,1.3", "--temperatures", help="Sweep for the QD curve."),
    formal: Optional[Path] = typer.Option(None, "--formal", help="Formal sentences, one a line (default WordNet)."),
    cache_dir: Optional[Path] = typer.Option(None, "--cache-dir", help="Corpus and picture-feature cache folder."),
    meteor: bool = typer.Option(True, "--meteor/--no-meteor", help="METEOR needs Java and ~30 s to start."),
    option: list[str] = typer.Option([], "--caption-option", "-c", help="KEY=VALUE for the backend's config."),
) -> None:
    """Evaluate a caption backend on a corpus split (or, with --paired, on held-out pictures): reference
    metrics, grounding, fluency, style, diversity."""
    from .corpus import CorpusOptions, load_corpus
    from .eval import check_mode, evaluate, evaluate_paired

    if paired is None and (annotations or images):
        raise UsageError("--annotations and --images describe paired data", "add --paired coco|flickr|styled")
    if paired is not None and (annotations is None or images is None):
        raise UsageError(
            f"--paired {paired} needs the captions file and the pictures",
            "add --annotations FILE and --images DIR; the ones the model was trained on reuse its run's split",
        )
    temps = [float(t) for t in temperatures.split(",") if t.strip()]
    formal_lines = formal.read_text().splitlines() if formal else None
    options = parse_assignments(option)
    if paired is not None:  # a paired model has no concepts to ground in: no warning about it
        options = {"grounding": "none"} | options
    backend = load_backend(target, options)
    check_mode(backend, paired=paired is not None)  # before a corpus is loaded
    if paired is None:
        report = evaluate(backend, load_corpus(CorpusOptions(corpus or "chitchat"), cache_dir), out, split=split,
                          limit=limit, temperatures=temps, formal=formal_lines, name=Path(target).name,
                          meteor=meteor)  # fmt: skip
    else:
        report = evaluate_paired(backend, paired, annotations, images, out, split_file=run_split(target),
                                 corpus=load_corpus(CorpusOptions(corpus), cache_dir) if corpus else None,
                                 formal=formal_lines, cache_dir=cache_dir, limit=limit, temperatures=temps,
                                 name=Path(target).name, meteor=meteor)  # fmt: skip
    m = report["metrics"]
    numbers = [("BLEU-4", "bleu4"), ("CIDEr", "cider"), ("hit", "concept_hit_rate"),
               ("hallucination", "hallucination_rate"), ("Self-BLEU-4", "self_bleu4")]  # fmt: skip
    shown = "  ".join(f"{label} {m[k]:.4f}" for label, k in numbers if isinstance(m[k], float))
    typer.echo(f"{report['evaluated_on']}: {shown}  report in {out}")


def add_commands(cli: typer.Typer) -> None:
    group = typer.Typer(help="Evaluate trained backends.", no_args_is_help=True)
    group.command("caption")(eval_caption)
    cli.add_typer(group, name="eval")
