"""``stylecap eval caption TARGET``: the evaluation harness on the command line (added by this plugin)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from stylecap.core.config import parse_assignments
from stylecap.core.errors import UsageError


def load_backend(target: str, options: dict | None = None):
    """A caption backend from a run or pipeline folder, a model file, or a registered name (its default
    weights); ``options`` override its config (e.g. ``{"grounding": "none"}``)."""
    from stylecap.core.config import to_dict
    from stylecap.core.pipeline import Pipeline
    from stylecap.core.plugins import create, registry

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
        return create("caption", "mle-lstm", weights=str(path), **(options or {}))
    return create("caption", target, **(options or {}))


def eval_caption(
    target: str = typer.Argument(..., help="A training run or pipeline folder, a .safetensors model, or a backend."),
    corpus: str = typer.Option("chitchat", "--corpus", help="'chitchat' or a text file of conversations."),
    split: str = typer.Option("test", "--split", help="train, val or test."),
    out: Path = typer.Option(Path("reports/caption"), "--out", help="Folder for report.json/.md and the plot."),
    limit: int = typer.Option(300, "--limit", help="At most this many concept sets."),
    temperatures: str = typer.Option("0.5,0.8,1.0,1.3", "--temperatures", help="Sweep for the QD curve."),
    formal: Optional[Path] = typer.Option(None, "--formal", help="Formal sentences, one a line (default WordNet)."),
    cache_dir: Optional[Path] = typer.Option(None, "--cache-dir", help="Corpus cache folder."),
    meteor: bool = typer.Option(True, "--meteor/--no-meteor", help="METEOR needs Java and ~30 s to start."),
    option: list[str] = typer.Option([], "--caption-option", "-c", help="KEY=VALUE for the backend's config."),
) -> None:
    """Evaluate a caption backend on a corpus split: reference metrics, grounding, fluency, style, diversity."""
    from .corpus import CorpusOptions, load_corpus
    from .eval import evaluate

    temps = [float(t) for t in temperatures.split(",") if t.strip()]
    formal_lines = formal.read_text().splitlines() if formal else None
    report = evaluate(
        load_backend(target, parse_assignments(option)),
        load_corpus(CorpusOptions(corpus), cache_dir),
        out,
        split=split,
        limit=limit,
        temperatures=temps,
        formal=formal_lines,
        name=Path(target).name,
        meteor=meteor,
    )
    m = report["metrics"]
    typer.echo(
        f"BLEU-4 {m['bleu4']:.4f}  CIDEr {m['cider']:.4f}  hit {m['concept_hit_rate']:.3f}  "
        f"hallucination {m['hallucination_rate']:.3f}  Self-BLEU-4 {m['self_bleu4']:.3f}  report in {out}"
    )


def add_commands(cli: typer.Typer) -> None:
    group = typer.Typer(help="Evaluate trained backends.", no_args_is_help=True)
    group.command("caption")(eval_caption)
    cli.add_typer(group, name="eval")
