"""``stylecap serve``: a local web page (and its HTTP API) to restyle and caption pictures.

Only typer and the standard library are imported here; the web stack (Starlette, uvicorn: the ``serve`` extra)
and the models load when the command runs, so ``stylecap --help`` stays fast. See docs/serve.md.
"""

from __future__ import annotations

import importlib.util
import ipaddress
from pathlib import Path
from typing import Optional

import typer

DEFAULT_PORT = 8765
EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "images"
"""The bundled example pictures, in a source checkout (an editable install); a wheel has none."""

LOOPBACK_NAMES = ["127.0.0.1", "localhost", "::1", "[::1]"]


def is_loopback(host: str) -> bool:
    """True for addresses only this machine can reach (127.0.0.0/8, ::1, localhost)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def serve_command(
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on; 0.0.0.0 opens it to the network."),
    port: int = typer.Option(DEFAULT_PORT, "--port", help="Port to listen on."),
    device: Optional[str] = typer.Option(None, "--device", help="cpu, cuda, cuda:1 ... (default: cuda if present)."),
    max_size: int = typer.Option(1024, "--max-size", help="Pictures are shrunk so their longer side fits (pixels)."),
    max_upload_mb: float = typer.Option(25.0, "--max-upload-mb", help="Largest request (all its pictures), in MB."),
    max_pixels: int = typer.Option(50_000_000, "--max-pixels", help="Largest picture the reader decodes, in pixels."),
    queue: int = typer.Option(8, "--queue", help="Jobs that may wait behind the running one; more get a 503."),
    keep: int = typer.Option(100, "--keep", help="Finished results kept for the gallery (oldest dropped first)."),
    examples: Optional[Path] = typer.Option(
        None, "--examples", help="Folder of pictures offered as a gallery (default: the bundled examples/images)."
    ),
) -> None:
    """Start a local web page to restyle and caption pictures (needs the serve extra)."""
    from rich.console import Console
    from rich.markup import escape

    from stylecap.core.errors import UsageError

    missing = [m for m in ("starlette", "uvicorn", "python_multipart") if importlib.util.find_spec(m) is None]
    if missing:
        raise UsageError(
            f"stylecap serve needs {', '.join(missing)}, which is not installed", 'pip install "stylecap[serve]"'
        )
    for name, value in (("--max-size", max_size), ("--max-pixels", max_pixels), ("--queue", queue), ("--keep", keep)):
        if value < 1:
            raise UsageError(f"{name} must be at least 1, got {value}")
    if max_upload_mb <= 0:
        raise UsageError(f"--max-upload-mb must be positive, got {max_upload_mb}")
    err = Console(stderr=True, highlight=False, soft_wrap=True)
    local = is_loopback(host)
    if not local:
        err.print(
            f"[yellow]warning:[/yellow] listening on {escape(host)}, not a loopback address: anyone who can reach "
            "this machine can use the page and its API, and there is no login. Use --host 127.0.0.1 to keep it local."
        )

    import uvicorn

    from .app import Limits, create_app

    app = create_app(
        limits=Limits(max_upload_bytes=int(max_upload_mb * 2**20), max_pixels=max_pixels, max_size=max_size),
        queue_size=queue,
        keep=keep,
        device=device,
        examples=examples if examples is not None else EXAMPLES,
        allowed_hosts=[*LOOPBACK_NAMES, host] if local else None,
    )
    shown = f"[{host}]" if ":" in host else host
    err.print(f"stylecap serve: open [bold]http://{escape(shown)}:{port}/[/bold] (Ctrl+C stops it)")
    uvicorn.run(app, host=host, port=port, log_level="warning")
