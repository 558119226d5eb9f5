"""The ``stylecap`` command line: a thin Typer + Rich layer over the library.

Errors a user can fix (:class:`StylecapError`) print one line on stderr and exit 1, or 2 for
bad usage; ``STYLECAP_DEBUG=1`` shows the traceback instead.

Nothing heavy loads before a command needs it: ``stylecap --version`` and ``stylecap --help`` import
neither torch nor any plugin. The built-in commands are registered at once (their modules import the
library inside the command), ``caption`` when it is called, and commands that plugins add when a name
that is not built in is asked for.
"""

from __future__ import annotations

import ctypes
import difflib
import json
import os
import signal
import sys
import threading
from typing import Optional

import click
import typer
from typer.core import TyperGroup

import stylecap
from stylecap.core import config as config_mod
from stylecap.core.errors import StylecapError, UsageError, debug

from .export import export_command
from .run import run_command
from .train import train_command

TRAIN_SETTINGS = {"allow_extra_args": True, "ignore_unknown_options": True, "help_option_names": []}
LAZY = {"caption": ("stylecap_cli.caption", "caption_command", "Caption pictures as they are (no style); --explain "
                    "says what each caption was made from.")}  # fmt: skip
"""Built-in commands whose module is heavy to import: name -> (module, function, the help line shown before)."""
EPILOG = "Plugins can add commands; `stylecap plugins` lists the plugins and their hooks."


def _consoles():
    from rich.console import Console

    return Console(highlight=False, soft_wrap=True), Console(stderr=True, highlight=False, soft_wrap=True)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"stylecap {stylecap.__version__}")
        raise typer.Exit()


def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Show the version."),
) -> None:
    """Restyle pictures and say something about them."""


def plugins_command(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """List installed plugins: where each comes from, its hooks, how long it took to import, and why it failed."""
    from stylecap.core.host import host

    records = host().plugins()
    out, _ = _consoles()
    if as_json:
        out.print_json(json.dumps([r.to_json() for r in records]))
        return
    rows = []
    for r in records:
        took = "-" if r.import_s is None else f"{r.import_s:.2f} s"
        rows.append((r.info.name, r.info.origin, ", ".join(r.hooks), took, f"failed: {r.error}" if r.error else "ok"))
    _table(out, None, ("plugin", "distribution", "hooks", "import", "status"), rows)


def list_command(
    kind: Optional[str] = typer.Argument(None, help="Only components of this kind (style, caption, loss, ...)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """List registered components, optionally of one kind."""
    from rich.markup import escape

    entries = stylecap.list_components(kind)
    out, _ = _consoles()
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
    from rich.markup import escape

    from stylecap.core.kinds import KINDS

    entry, others = _find(name, kind)
    fields = config_mod.fields(entry.cls.Config)
    if as_json:
        doc = entry.to_json() | {
            "options": [{"name": f.name, "type": f.type, "default": f.default, "help": f.help} for f in fields],
            "weights": [w.__dict__ for w in entry.cls.weights],
            "also": [e.kind for e in others],
        }
        _consoles()[0].print_json(json.dumps(doc, default=str))
        return
    out, _ = _consoles()
    out.print(f"[bold]{escape(entry.name)}[/bold] ({KINDS[entry.kind].label}, from {escape(entry.plugin.origin)})")
    out.print(escape(entry.cls.describe()))
    for other in others:
        label = KINDS[other.kind].label
        out.print(f"(also a {label}: stylecap info {escape(name)} --kind {other.kind})")
    if fields:
        rows = [(f.name, f.type, json.dumps(f.default, default=str), f.help) for f in fields]
        _table(out, "options", ("option", "type", "default", "help"), rows)
    if entry.cls.weights:
        rows = [(w.name, "yes" if w.offline else "no", w.source, w.description) for w in entry.cls.weights]
        _table(out, "weights", ("weights", "offline", "source", "description"), rows)


def _table(out, title: str | None, headers: tuple[str, ...], rows: list[tuple[str, ...]]) -> None:
    """A Rich table on a terminal; plain aligned lines in a pipe or file, never cut or wrapped."""
    if out.is_terminal:
        from rich.markup import escape
        from rich.table import Table

        table = Table(*headers, title=title)
        table.columns[0].no_wrap = True
        for row in rows:
            table.add_row(*(escape(cell) for cell in row))
        out.print(table)
        return
    if title:
        print(f"{title}:")
    widths = [max(len(r[i]) for r in [headers, *rows]) for i in range(len(headers) - 1)]
    for row in [headers, *rows]:
        print("  ".join([*(cell.ljust(w) for cell, w in zip(row, widths)), row[-1]]).rstrip())


# the kinds whose names people type as backends: `stylecap info adain` means the backend, not its trainer
PREFERRED_KINDS = ("style", "caption")


def _find(name: str, kind: str | None):
    """The entry ``name`` means, and the entries of other kinds that share the name."""
    if kind:
        return stylecap.registry(kind).get(name), []
    matches = [e for e in stylecap.list_components() if e.name == name]
    if matches:
        matches.sort(key=lambda e: PREFERRED_KINDS.index(e.kind) if e.kind in PREFERRED_KINDS else len(PREFERRED_KINDS))
        return matches[0], matches[1:]
    all_names = sorted({e.name for e in stylecap.list_components()})
    close = difflib.get_close_matches(name, all_names, n=3, cutoff=0.5)
    hint = f"did you mean {' or '.join(map(repr, close))}? " if close else ""
    raise UsageError(f"no component is named {name!r}", f"{hint}see `stylecap list`")


class LazyGroup(TyperGroup):
    """The root command: ``caption`` is imported when it is called, plugin commands when a name that is not
    built in is asked for; listing commands for ``--help`` loads neither."""

    listing = False
    plugins_loaded = False

    def list_commands(self, ctx: click.Context) -> list[str]:
        names = list(super().list_commands(ctx))
        return names + [name for name in LAZY if name not in names]

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        found = super().get_command(ctx, name)
        if found is not None:
            return found
        if name in LAZY:
            module, function, short = LAZY[name]
            if self.listing:
                return click.Command(name, help=short, short_help=short)
            import importlib

            command = _click_command(name, getattr(importlib.import_module(module), function))
            self.add_command(command, name)
            return command
        if not self.plugins_loaded and not self.listing:
            self.plugins_loaded = True
            for extra, command in plugin_commands().items():
                if extra not in self.commands and extra not in LAZY:
                    self.add_command(command, extra)
            return super().get_command(ctx, name)
        return None

    def format_help(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        self.listing = True
        try:
            super().format_help(ctx, formatter)
        finally:
            self.listing = False


def _click_command(name: str, function, **settings) -> click.Command:
    app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
    app.command(name, **settings)(function)
    return typer.main.get_group(app).commands[name]


def plugin_commands() -> dict[str, click.Command]:
    """The commands that plugins add (their ``register_commands`` hooks run on a Typer app of their own)."""
    from stylecap.core.host import host

    extra = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
    host().call_each("register_commands", cli=extra)
    if not extra.registered_commands and not extra.registered_groups:
        return {}
    return dict(typer.main.get_group(extra).commands)


def make_app(*, lazy: bool = False) -> typer.Typer:
    """The command line, with the commands plugins add (built anew so none is added twice).

    ``lazy=True`` (what ``main`` runs) leaves out ``caption`` and the plugins' commands until they are asked for."""
    app = typer.Typer(
        name="stylecap",
        help="Restyle pictures and say something about them.",
        epilog=EPILOG,
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
        cls=LazyGroup,
    )
    app.callback()(_root)
    app.command("run")(run_command)
    app.command("train", context_settings=TRAIN_SETTINGS)(train_command)
    app.command("export")(export_command)
    app.command("plugins")(plugins_command)
    app.command("list")(list_command)
    app.command("info")(info_command)
    try:
        from .serve import serve_command
    except ImportError:
        serve_command = None
    if serve_command is not None:
        app.command("serve")(serve_command)
    if not lazy:
        from stylecap.core.host import host

        from .caption import caption_command

        app.command("caption")(caption_command)
        host().call_each("register_commands", cli=app)
    return app


def _prepare_streams() -> None:
    """Text that a stream cannot encode (a file name that is not UTF-8, an ASCII-only locale) prints as
    ``\\xe9`` instead of raising."""
    for stream in (sys.stdout, sys.stderr):
        if getattr(stream, "errors", None) == "strict" and hasattr(stream, "reconfigure"):
            try:
                stream.reconfigure(errors="backslashreplace")
            except (ValueError, OSError, AttributeError):
                pass


M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # glibc's mallopt parameters (malloc.h)


def keep_freed_memory() -> None:
    """Ask glibc to keep freed memory for reuse (up to 1 GiB) and to map afresh only blocks over 32 MiB.

    By default it returns freed memory to the system and maps large tensors anew, so every Gatys step
    faulted in its tensors' pages again: about an eighth of the README's job (docs/performance.md). Not glibc
    (macOS, Windows, musl), or ``MALLOC_*`` set by the user: nothing."""
    if not sys.platform.startswith("linux") or any(k.startswith("MALLOC_") for k in os.environ):
        return
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return
    mallopt(M_TRIM_THRESHOLD, 1 << 30)
    mallopt(M_MMAP_THRESHOLD, 32 << 20)


def _stop(signum, frame):
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the app, turning user-fixable errors into one line and an exit code.

    SIGTERM unwinds like Ctrl-C while a command runs, so the temporary files of a write are removed."""
    # Before torch loads OpenMP: idle threads sleep instead of spinning. When other work shares the cores, spinning
    # threads starve the ones with work: a Gatys run took 8x the wall time (docs/performance.md).
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    keep_freed_memory()
    _prepare_streams()
    command = typer.main.get_command(make_app(lazy=True))
    in_main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _stop) if in_main else None
    try:
        command(args=argv, prog_name="stylecap")
    except KeyboardInterrupt as e:
        _, err = _consoles()
        err.print("[yellow]stopped:[/yellow]", str(e) or "interrupted", markup=True, highlight=False)
        sys.exit(130)
    except StylecapError as e:
        if debug():
            raise
        from rich.markup import escape

        _, err = _consoles()
        err.print("[red]error:[/red]", escape(os.fsencode(str(e)).decode("utf-8", "backslashreplace")))
        sys.exit(e.exit_code)
    finally:
        if in_main:
            signal.signal(signal.SIGTERM, previous if previous is not None else signal.SIG_DFL)


if __name__ == "__main__":
    main()
