"""The ``stylecap`` command line: a thin Typer + Rich layer over the library.

Errors a user can fix (:class:`StylecapError`) print one line on stderr and exit 1, or 2 for
bad usage; ``STYLECAP_DEBUG=1`` shows the traceback instead.
"""

from __future__ import annotations

import difflib
import json
import os
import sys
from typing import Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

import stylecap
from stylecap.core import config as config_mod
from stylecap.core.errors import StylecapError, UsageError
from stylecap.core.host import host
from stylecap.core.kinds import KINDS
from stylecap.core.registry import Entry

from .caption import caption_command
from .run import run_command
from .train import train_command

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


def _version(value: bool) -> None:
    if value:
        out.print(f"stylecap {stylecap.__version__}")
        raise typer.Exit()


def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Show the version."),
) -> None:
    """Restyle pictures and say something about them."""


def plugins_command(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """List installed plugins: where each comes from, its hooks, and why it failed if it did."""
    records = host().plugins()
    if as_json:
        out.print_json(json.dumps([r.to_json() for r in records]))
        return
    table = Table("plugin", "distribution", "hooks", "status")
    for r in records:
        status = f"[red]failed: {r.error}[/red]" if r.error else "[green]ok[/green]"
        table.add_row(r.info.name, r.info.origin, ", ".join(r.hooks), status)
    out.print(table)


def list_command(
    kind: Optional[str] = typer.Argument(None, help=f"One of: {', '.join(KINDS)}."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """List registered components, optionally of one kind."""
    entries = stylecap.list_components(kind)
    if as_json:
        out.print_json(json.dumps([e.to_json() for e in entries]))
        return
    rows = [("kind", "name", "from", "description")]
    rows += [(e.kind, e.name, e.plugin.origin, e.cls.describe()) for e in entries]
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    for n, row in enumerate(rows):  # one line each: cut to a terminal's width (`stylecap info NAME` has it all)
        line = "  ".join([*(cell.ljust(w) for cell, w in zip(row, widths)), row[3]])
        if out.is_terminal:
            style = "bold" if n == 0 else None
            out.print(escape(line), style=style, soft_wrap=False, no_wrap=True, overflow="ellipsis")
        else:
            print(line)  # whole, for grep


def info_command(
    name: str = typer.Argument(..., help="A component name, as `stylecap list` shows it."),
    kind: Optional[str] = typer.Option(None, "--kind", help="The kind, when several kinds share the name."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Describe one component: what it does, its options with defaults, its weights."""
    entry = _find(name, kind)
    fields = config_mod.fields(entry.cls.Config)
    if as_json:
        doc = entry.to_json() | {
            "options": [{"name": f.name, "type": f.type, "default": f.default, "help": f.help} for f in fields],
            "weights": [w.__dict__ for w in entry.cls.weights],
        }
        out.print_json(json.dumps(doc, default=str))
        return
    out.print(f"[bold]{entry.name}[/bold] ({KINDS[entry.kind].label}, from {entry.plugin.origin})")
    out.print(entry.cls.describe())
    if fields:
        table = Table("option", "type", "default", "help", title="options")
        for f in fields:
            table.add_row(f.name, f.type, json.dumps(f.default, default=str), f.help)
        out.print(table)
    if entry.cls.weights:
        table = Table("weights", "offline", "source", "description", title="weights")
        for w in entry.cls.weights:
            table.add_row(w.name, "yes" if w.offline else "no", w.source, w.description)
        out.print(table)


def _find(name: str, kind: str | None) -> Entry:
    if kind:
        return stylecap.registry(kind).get(name)
    matches = [e for e in stylecap.list_components() if e.name == name]
    if len(matches) == 1:
        return matches[0]
    if matches:
        kinds = ", ".join(e.kind for e in matches)
        raise UsageError(f"{name!r} names components of several kinds ({kinds})", "add --kind KIND")
    all_names = sorted({e.name for e in stylecap.list_components()})
    close = difflib.get_close_matches(name, all_names, n=3, cutoff=0.5)
    hint = f"did you mean {' or '.join(map(repr, close))}? " if close else ""
    raise UsageError(f"no component is named {name!r}", f"{hint}see `stylecap list`")


def make_app() -> typer.Typer:
    """The command line, with the commands plugins add (built anew so none is added twice)."""
    app = typer.Typer(
        name="stylecap",
        help="Restyle pictures and say something about them.",
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
    )
    app.callback()(_root)
    app.command("run")(run_command)
    app.command("caption")(caption_command)
    app.command("train", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})(train_command)
    app.command("plugins")(plugins_command)
    app.command("list")(list_command)
    app.command("info")(info_command)
    host().call_each("register_commands", cli=app)
    return app


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the app, turning user-fixable errors into one line and an exit code."""
    try:
        make_app()(args=argv, prog_name="stylecap")
    except KeyboardInterrupt as e:
        err.print("[yellow]stopped:[/yellow]", escape(str(e) or "interrupted"))
        sys.exit(130)
    except StylecapError as e:
        if os.environ.get("STYLECAP_DEBUG", "") not in ("", "0"):
            raise
        err.print("[red]error:[/red]", escape(str(e)))
        sys.exit(e.exit_code)


if __name__ == "__main__":
    main()
