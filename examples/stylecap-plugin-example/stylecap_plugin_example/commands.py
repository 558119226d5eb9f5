"""``stylecap color-stats``: the numbers Reinhard transfer matches, to see what it will do."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from stylecap.core.errors import UsageError
from stylecap.core.imageio import find_images, read_image, to_tensor

from .color import SPACES, moments


def color_stats(
    images: Annotated[list[Path], typer.Argument(help="Pictures or folders of pictures.")],
    space: Annotated[str, typer.Option("--space", help="lab-alpha-beta or lab.")] = "lab-alpha-beta",
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object per picture.")] = False,
) -> None:
    """Print each picture's per-channel colour mean and std (what `reinhard` matches)."""
    if space not in SPACES:
        raise UsageError(f"--space {space!r} is not known", f"use one of {', '.join(SPACES)}")
    for path in find_images(images):
        mean, std = moments(SPACES[space][0](to_tensor(read_image(path).rgb)))
        record = {"image": str(path), "space": space, "mean": mean[0].tolist(), "std": std[0].tolist()}
        if as_json:
            print(json.dumps(record))
        else:
            print(f"{path}: mean {_fmt(record['mean'])}  std {_fmt(record['std'])}")


def _fmt(values: list[float]) -> str:
    return " ".join(f"{v:+.3f}" for v in values)
