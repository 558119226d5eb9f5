"""``stylecap export``: write a style backend's network as an ONNX model, for onnxruntime (docs/export.md).

The library loads inside the command, so ``stylecap --help`` stays fast.
"""

from __future__ import annotations

from pathlib import Path

import typer


def export_command(
    backend: str = typer.Argument(..., help="The style backend: adain or cyclegan (`stylecap list style`)."),
    out: Path = typer.Option(..., "--out", "-o", help="The .onnx file to write."),
    style_option: list[str] = typer.Option(
        [], "--style-option", "-s", help="KEY=VALUE for the backend, e.g. weights=FILE.safetensors."
    ),
) -> None:
    """Write a style backend's network as an ONNX model with dynamic height and width (pixels 0..1 in and out)."""
    from stylecap.core.config import parse_assignments
    from stylecap.core.export import check_export, export_onnx
    from stylecap.core.host import registry

    entry = registry("style").get(backend)
    check_export(entry.cls, out)  # before the backend is built
    path = export_onnx(entry.create(entry.build_config(parse_assignments(style_option))), out)
    typer.echo(f"{path}  ({path.stat().st_size / 2**20:.1f} MB, {backend})")
