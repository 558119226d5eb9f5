"""``stylecap train KIND BACKEND --option value ...``: the trainer's config fields are the options.

``stylecap train KIND BACKEND --help`` lists them. The library (and torch) load inside the command.
"""

from __future__ import annotations

import contextlib
import difflib
import json
import sys
from pathlib import Path
from typing import Any, Optional

import typer

from stylecap.core import config as config_mod
from stylecap.core.errors import ConfigError, UsageError


def _err():
    from rich.console import Console

    return Console(stderr=True, highlight=False, soft_wrap=True)


def train_command(
    ctx: typer.Context,
    kind: Optional[str] = typer.Argument(None, help="What to train: style or caption."),
    backend: Optional[str] = typer.Argument(None, help="The backend's trainer, e.g. adain (`stylecap list trainer`)."),
    config_file: Optional[Path] = typer.Option(None, "--config", help="JSON or TOML file of options."),
    resume: Optional[Path] = typer.Option(None, "--resume", help="Continue the run in this folder."),
    show_help: bool = typer.Option(False, "--help", "-h", help="Show this message, and the trainer's options."),
) -> None:
    """Train a backend. Every option of the trainer is a flag: `stylecap train KIND BACKEND --help` lists them,
    e.g. `stylecap train style adain --steps 2000 --out runs/adain`."""
    from stylecap.core.host import registry

    if show_help or kind is None or backend is None:
        typer.echo(ctx.get_help())
        if kind is not None and backend is not None:
            _print_trainer_options(registry("trainer").get(backend), kind, backend)
        elif not show_help:
            raise UsageError("name what to train", "e.g. stylecap train style adain --help")
        raise typer.Exit(0)
    entry = registry("trainer").get(backend)
    fields = {f.name: f for f in config_mod.fields(entry.cls.Config)}
    options = _read_config_file(config_file) if config_file else {}
    options |= _parse_flags(ctx.args, fields, backend)
    from stylecap.core.training.engine import train

    err = _err()
    callbacks = [_ProgressCallback(err)] if err.is_terminal else [_LineCallback()]
    with _progress_bar(callbacks[0]):
        train(kind, backend, resume=resume, callbacks=callbacks, **options)
    out = resume or options.get("out") or fields["out"].default
    err.print(f"done: weights and pipeline in {Path(out) / 'final'}")


def _print_trainer_options(entry, kind: str, backend: str) -> None:
    """The trainer's options as flags, with types, defaults and help (plain text: it is read in a pipe too)."""
    if entry.cls.target != kind:
        raise UsageError(
            f"trainer {backend!r} trains {entry.cls.target} backends, not {kind}",
            f"use `stylecap train {entry.cls.target} {backend} --help`",
        )
    typer.echo(f"\nOptions of trainer {backend!r}: {entry.cls.describe()}\n")
    for f in config_mod.fields(entry.cls.Config):
        flag = f"--{f.name.replace('_', '-')}" + (f" / --no-{f.name.replace('_', '-')}" if f.type == "bool" else "")
        typer.echo(f"  {flag}  {f.type}  (default: {json.dumps(f.default, default=str)})")
        if f.help:
            typer.echo(f"      {f.help}")


def _parse_flags(args: list[str], fields: dict[str, config_mod.Field], backend: str) -> dict[str, Any]:
    """``--steps 100 --lr=1e-4 --channels-last --no-tensorboard`` -> typed-later strings."""
    out: dict[str, Any] = {}
    i = 0
    while i < len(args):
        arg = args[i]
        if not arg.startswith("--"):
            raise UsageError(f"unexpected argument {arg!r}", "options look like --name value")
        key, sep, value = arg[2:].partition("=")
        name = key.replace("-", "_")
        negated = name.startswith("no_") and name[3:] in fields and fields[name[3:]].type == "bool"
        if negated:
            out[name[3:]] = "false"
        elif name not in fields:
            close = difflib.get_close_matches(name, list(fields), n=3)
            hint = f"did you mean {', '.join('--' + c.replace('_', '-') for c in close)}? " if close else ""
            raise ConfigError(f"unknown option --{key}", f"{hint}see `stylecap train KIND {backend} --help`")
        elif sep:
            out[name] = value
        elif fields[name].type == "bool" and (i + 1 == len(args) or args[i + 1].startswith("--")):
            out[name] = "true"
        elif i + 1 < len(args):
            out[name] = args[i + 1]
            i += 1
        else:
            raise UsageError(f"option --{key} needs a value", f"write --{key} VALUE")
        i += 1
    return out


def _read_config_file(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise UsageError(f"config file {path} does not exist", "check the path")
    kind = "TOML" if path.suffix == ".toml" else "JSON"
    try:
        text = path.read_bytes().decode("utf-8")
        if kind == "TOML":
            import tomllib

            doc = tomllib.loads(text)
        else:
            doc = json.loads(text)
    except ModuleNotFoundError:
        raise UsageError("TOML config files need Python 3.11+", "use a .json file") from None
    except (ValueError, RecursionError) as e:  # JSON, TOML and UTF-8 errors are ValueErrors
        raise UsageError(f"config file {path} is not valid {kind}: {e}", "fix the file") from None
    if not isinstance(doc, dict):
        raise UsageError(
            f"config file {path} holds a {type(doc).__name__}, not an object of options",
            'write {"steps": 1000, "lr": 0.0001, ...}',
        )
    return doc


class _ProgressCallback:
    def __init__(self, console):
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        self.bar = Progress(
            TextColumn("training"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            TextColumn("{task.fields[metrics]}"),
            console=console,
        )
        self.task = None

    def on_log(self, engine, record: dict[str, Any]) -> None:
        if self.task is None:
            self.task = self.bar.add_task("train", total=engine.config.steps, metrics="")
        shown = "  ".join(
            f"{k} {v:.4g}" for k, v in record.items() if isinstance(v, float) and not k.startswith(("lr/", "time"))
        )
        self.bar.update(self.task, completed=record["step"], metrics=shown)


class _LineCallback:
    """Without a terminal: one plain line per log step, for log files."""

    bar = None

    def on_log(self, engine, record: dict[str, Any]) -> None:
        print(json.dumps(record), file=sys.stderr, flush=True)


def _progress_bar(callback):
    return callback.bar if callback.bar is not None else contextlib.nullcontext()
