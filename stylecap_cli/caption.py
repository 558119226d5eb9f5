"""``stylecap caption``: caption pictures as they are and, with ``--explain``, show what the captioner saw."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.markup import escape

from stylecap.core.component import Condition
from stylecap.core.config import parse_assignments
from stylecap.core.errors import StylecapError
from stylecap.core.imageio import find_images
from stylecap.core.pipeline import Pipeline

from .run import DEFAULT_CAPTION_BACKEND

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


def caption_command(
    pictures: list[Path] = typer.Argument(..., help="Pictures or folders of pictures."),
    caption_backend: str = typer.Option(
        DEFAULT_CAPTION_BACKEND, "--caption-backend", help="See `stylecap list caption`."
    ),
    caption_option: list[str] = typer.Option([], "--caption-option", "-c", help="KEY=VALUE for the captioner."),
    explain: bool = typer.Option(False, "--explain", help="Also show the condition: concepts, colours, look, mood."),
    seed: Optional[int] = typer.Option(None, "--seed", help="Seed for sampled captions (random if unset)."),
    device: Optional[str] = typer.Option(None, "--device", help="cpu, cuda, cuda:1 ... (default: cuda if present)."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object per picture, nothing else on stdout."),
) -> None:
    """Caption PICTURES as they are (no style), and with --explain say what each caption was made from."""
    inputs = find_images(pictures)
    pipeline = Pipeline.from_names(None, caption_backend, caption_config=parse_assignments(caption_option),
                                   device=device)  # fmt: skip
    failures = 0
    for path in inputs:
        try:
            result = pipeline(path, seed=seed)
        except StylecapError as e:
            failures += 1
            if as_json:
                print(json.dumps({"input": str(path), "error": str(e)}), flush=True)
            else:
                err.print("[red]error:[/red]", escape(str(e)))
            continue
        condition = result.condition
        if as_json:
            record = {
                "input": str(path),
                "caption": result.caption,
                "captions": result.captions,
                "condition": condition.to_json() if condition else None,
                "seed": result.metadata["seed"],
            }
            print(json.dumps(record), flush=True)
            continue
        out.print(f"[bold]{escape(str(path))}[/bold]  {escape(result.caption or '')}")
        for other in result.captions[1:]:  # num_captions > 1
            out.print(f"  or: {escape(other)}")
        if explain:
            for line in explanation(condition):
                out.print(f"  {escape(line)}")
    if failures:
        raise typer.Exit(1)


def explanation(condition: Condition | None) -> list[str]:
    """The condition in a few lines a person reads: what is there (and who said so), colours, look, mood."""
    if condition is None:
        return ["(this captioner does not say what it saw)"]
    lines = []
    if condition.concepts:
        seen = ", ".join(f"{c} {s:.2f} ({condition.sources.get(c, '?')})" for c, s in condition.concepts[:6])
        lines.append(f"seen: {seen}")
    if condition.colours:
        lines.append("colours: " + ", ".join(f"{c.term} {c.share:.0%} {c.where}" for c in condition.colours))
    if condition.look:
        lines.append("look: " + ", ".join(f"{k} {v:+.2f}" if k == "warmth" else f"{k} {v:.2f}"
                                          for k, v in condition.look.items()))  # fmt: skip
    if condition.mood:
        mood = ", ".join(f"{k} {v:+.2f}" for k, v in condition.mood.items())
        lines.append(f"mood: {condition.feeling or '?'} ({mood})")
    return lines
