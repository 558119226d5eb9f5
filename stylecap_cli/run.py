"""``stylecap run``: stylise and caption each content picture, one bad input never stops the rest."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from stylecap.core.atomic import write_text_atomic
from stylecap.core.config import parse_assignments
from stylecap.core.errors import StylecapError, UsageError
from stylecap.core.imageio import OUTPUT_SUFFIXES, find_images, read_image
from stylecap.core.pipeline import Pipeline

DEFAULT_STYLE_BACKEND = "gatys"
DEFAULT_CAPTION_BACKEND = "seqgan"  # its shipped model works offline (docs/captions.md, "Model card")
NONE = "none"  # as a backend name: leave that step out

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


def run_command(
    content: list[Path] = typer.Argument(..., help="Content pictures or folders of pictures."),
    style: list[Path] = typer.Option([], "--style", help="Style picture; repeat to blend several."),
    style_weight: list[float] = typer.Option([], "--style-weight", help="Blend weight per --style, in order."),
    each_style: bool = typer.Option(
        False, "--each-style", help="Stylise with every style picture in turn (CONTENT_STYLE.png), not a blend."
    ),
    style_backend: str = typer.Option(
        DEFAULT_STYLE_BACKEND, "--style-backend", help="See `stylecap list style`; 'none' to caption the content only."
    ),
    caption_backend: str = typer.Option(
        DEFAULT_CAPTION_BACKEND, "--caption-backend", help="See `stylecap list caption`; 'none' for no caption."
    ),
    style_option: list[str] = typer.Option([], "--style-option", "-s", help="KEY=VALUE for the style backend."),
    caption_option: list[str] = typer.Option([], "--caption-option", "-c", help="KEY=VALUE for the captioner."),
    caption_source: str = typer.Option("stylized", "--caption-from", help="Caption the 'stylized' or 'content' image."),
    output: Path = typer.Option(Path("out"), "--output", "-o", help="Folder for results."),
    fmt: str = typer.Option("png", "--format", help="png, jpg or webp."),
    max_size: Optional[int] = typer.Option(None, "--max-size", help="Downscale content so its longer side fits."),
    seed: Optional[int] = typer.Option(None, "--seed", help="Seed for reproducible results (random if unset)."),
    device: Optional[str] = typer.Option(None, "--device", help="cpu, cuda, cuda:1 ... (default: cuda if present)."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object per input, nothing else on stdout."),
) -> None:
    """Stylise CONTENT pictures with --style and say something about each."""
    if f".{fmt.lower().lstrip('.')}" not in OUTPUT_SUFFIXES:
        raise UsageError(f"--format {fmt!r} is not supported", f"use one of {', '.join(OUTPUT_SUFFIXES)}")
    if style_backend == NONE and caption_backend == NONE:
        raise UsageError("--style-backend none with --caption-backend none leaves nothing to do", "name a backend")
    if style_backend == NONE and style:
        raise UsageError("--style-backend none does not use --style", "name a style backend, or drop --style")
    inputs = find_images(content)
    style_paths = find_images(style) if style else []
    styles = [read_image(p) for p in style_paths]
    if each_style and style_weight:
        raise UsageError("--each-style uses one style at a time, so --style-weight has nothing to blend", "drop one")
    # (name suffix, styles) per result: every style in turn, or all of them blended
    jobs = [(f"_{p.stem}", [s]) for p, s in zip(style_paths, styles)] if each_style else [("", styles)]
    style_config = parse_assignments(style_option)
    pipeline = Pipeline.from_names(
        None if style_backend == NONE else style_backend,
        None if caption_backend == NONE else caption_backend,
        style_config=style_config,
        caption_config=parse_assignments(caption_option),
        caption_source=caption_source,
        device=device,
        max_size=max_size,
    )
    show_progress = not as_json and err.is_terminal
    failures = 0
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=err,
        disable=not show_progress,
        transient=True,
    ) as bar:
        for path, (suffix, job_styles) in ((p, j) for p in inputs for j in jobs):
            task = bar.add_task(escape(path.name + suffix), total=None)

            def progress(step: int, total: int, scalars: dict[str, float], task=task) -> None:
                bar.update(task, completed=step, total=total)

            try:
                result = pipeline(path, job_styles, style_weights=style_weight or None, seed=seed, progress=progress)
                name = _stem(path, inputs) + suffix
                target = output / f"{name}.{fmt.lower().lstrip('.')}"
                result.save(target)
                if result.caption is not None:
                    write_text_atomic(target.with_suffix(".txt"), result.caption + "\n")
            except UsageError:
                raise  # the request is wrong for every input: stop at once, exit 2
            except StylecapError as e:
                failures += 1
                _report(as_json, {"input": str(path), "error": str(e)})
                continue
            finally:
                bar.remove_task(task)
            _report(
                as_json,
                {
                    "input": str(path),
                    "output": str(target),
                    "caption": result.caption,
                    "captions": result.captions,
                    "condition": result.condition.to_json() if result.condition else None,
                    "seed": result.metadata["seed"],
                    "timings": result.metadata["timings"],
                    "components": result.metadata["components"],
                },
            )
    if failures:
        err.print(f"[red]error:[/red] {failures} of {len(inputs) * len(jobs)} results failed (see above)")
        raise typer.Exit(1)


def _stem(path: Path, inputs: list[Path]) -> str:
    """The result's name; inputs with the same stem (a.jpg, a.png) must not overwrite each other: a_jpg, a_png."""
    if sum(p.stem == path.stem for p in inputs) > 1:
        return f"{path.stem}_{path.suffix.lstrip('.')}"
    return path.stem


def _report(as_json: bool, record: dict) -> None:
    if as_json:
        print(json.dumps(record), flush=True)
    elif "error" in record:
        err.print("[red]error:[/red]", escape(record["error"]))
    else:
        caption = f"  {escape(record['caption'])}" if record["caption"] else ""
        out.print(f"{escape(record['output'])}{caption}")
    sys.stdout.flush()
