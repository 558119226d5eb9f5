"""``stylecap run``: stylise and caption each content picture; one bad input never stops the rest.

Nothing is lost: every result gets a name of its own (inputs with the same name from several folders,
or styles with the same name, never overwrite each other), no result overwrites an input, and
``--skip-existing`` makes a long batch resumable. ``--shard i/n`` (or ``RANK``/``WORLD_SIZE`` under
``torchrun``) takes one share of the inputs, so several processes, GPUs or machines split a batch and
together write exactly what one process would.

The heavy imports (torch and the library) happen inside the command, so ``stylecap --help`` stays fast.
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import typer

from stylecap.core.errors import StylecapError, UsageError, debug

DEFAULT_STYLE_BACKEND = "gatys"
DEFAULT_CAPTION_BACKEND = "remark"  # makes sense for the picture; the GANs do not yet (docs/captions.md)
NONE = "none"  # as a backend name: leave that step out


def _consoles():
    from rich.console import Console

    return Console(highlight=False, soft_wrap=True), Console(stderr=True, highlight=False, soft_wrap=True)


def shown(path: object) -> str:
    """A path as text that prints anywhere: bytes that are not UTF-8 appear as ``\\xe9``."""
    return os.fsencode(str(path)).decode("utf-8", "backslashreplace")


@dataclass
class Job:
    """One result to make: a content picture, the styles it gets (indices into the style pictures), its name."""

    path: Path
    styles: list[int]
    name: str


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
    skip_existing: bool = typer.Option(
        False, "--skip-existing", help="Leave results already in the output folder alone: resume a batch after a crash."
    ),
    shard: Optional[str] = typer.Option(
        None,
        "--shard",
        help="I/N: make only the I-th of N shares of the results (0-based), e.g. one per machine; under torchrun "
        "RANK/WORLD_SIZE choose it.",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object per input, nothing else on stdout."),
) -> None:
    """Stylise CONTENT pictures with --style and say something about each."""
    from stylecap.core.atomic import clean_stale, write_text_atomic
    from stylecap.core.config import parse_assignments
    from stylecap.core.imageio import OUTPUT_SUFFIXES, find_images, read_image
    from stylecap.core.pipeline import Pipeline, check_seed

    suffix = fmt.lower().lstrip(".")
    if f".{suffix}" not in OUTPUT_SUFFIXES:
        raise UsageError(f"--format {fmt!r} is not supported", f"use one of {', '.join(OUTPUT_SUFFIXES)}")
    if style_backend.lower() == NONE and caption_backend.lower() == NONE:
        raise UsageError("--style-backend none with --caption-backend none leaves nothing to do", "name a backend")
    if style_backend.lower() == NONE and style:
        raise UsageError("--style-backend none does not use --style", "name a style backend, or drop --style")
    if each_style and style_weight:
        raise UsageError("--each-style uses one style at a time, so --style-weight has nothing to blend", "drop one")
    if seed is not None:
        check_seed(seed, option="--seed")
    if max_size is not None and max_size < 1:
        raise UsageError(f"--max-size {max_size} is not a size", "give the longer side in pixels, e.g. 1024")
    index, count = _shard(shard)
    inputs = list(dict.fromkeys(find_images(content)))  # a picture named twice is made once
    style_paths = find_images(style) if style else []
    styles = []
    for path in style_paths:
        try:
            styles.append(read_image(path))
        except StylecapError as e:
            raise UsageError(f"--style {shown(path)}: {e.problem}", e.fix) from e
    # (styles, name) per result: every content with every style in turn, or with all of them blended
    jobs = _plan(inputs, style_paths, each_style)
    targets = {id(job): output / f"{job.name}.{suffix}" for job in jobs}

    pipeline = Pipeline.from_names(
        None if style_backend.lower() == NONE else style_backend,
        None if caption_backend.lower() == NONE else caption_backend,
        style_config=parse_assignments(style_option),
        caption_config=parse_assignments(caption_option),
        caption_source=caption_source,
        device=device or _rank_device(count),
        max_size=max_size,
    )
    _check_no_input_is_overwritten(jobs, targets, [*inputs, *style_paths])
    weights = None
    for n in sorted({len(job.styles) for job in jobs}):  # the request suits the pipeline, or nothing starts
        weights = pipeline.check_request(n, None if each_style else (style_weight or None))

    mine = jobs[index::count]
    out, err = _consoles()
    output.mkdir(parents=True, exist_ok=True)
    clean_stale(output)  # what a killed run's writes left behind
    failures = 0
    with _progress(err, enabled=not as_json and err.is_terminal) as bar:
        for job in mine:
            target = targets[id(job)]
            record = {"input": str(job.path)}
            if (
                skip_existing
                and target.is_file()
                and (pipeline.caption is None or target.with_suffix(".txt").is_file())
            ):
                _report(out, err, as_json, record | {"output": str(target), "skipped": True})
                continue
            task = bar.add_task(_escape(shown(job.name)), total=None)

            def progress(step: int, total: int, scalars: dict[str, float], task=task) -> None:
                bar.update(task, completed=step, total=total)

            try:
                result = _make(pipeline, job, styles, weights, seed, progress, read_image)
                result.save(target)
                if result.caption is not None:  # every caption asked for, one a line, best first
                    write_text_atomic(target.with_suffix(".txt"), "".join(f"{c}\n" for c in result.captions))
            except _Failed as failed:
                failures += 1
                _report(out, err, as_json, record | {"error": failed.message})
                continue
            except UsageError:
                raise  # the request is wrong for every input: stop at once, exit 2
            except (KeyboardInterrupt, SystemExit):
                raise
            except BaseException as e:
                failures += 1
                _report(out, err, as_json, record | {"error": _message(job.path, e)})
                continue
            finally:
                bar.remove_task(task)
            _report(
                out,
                err,
                as_json,
                record
                | {
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
        err.print(f"[red]error:[/red] {failures} of {len(mine)} results failed (see above)")
        raise typer.Exit(1)


class _Failed(Exception):
    """This input failed (it is reported and the run goes on)."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def _make(pipeline, job: Job, styles, weights, seed, progress, read_image):
    """The result of one job; a picture that cannot be read, or that a backend cannot handle, is ``_Failed``."""
    try:
        loaded = read_image(job.path)
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as e:
        raise _Failed(_message(job.path, e)) from e
    try:
        return pipeline(loaded, [styles[i] for i in job.styles], style_weights=weights, seed=seed, progress=progress)
    except (UsageError, KeyboardInterrupt, SystemExit):
        raise
    except BaseException as e:
        raise _Failed(_message(job.path, e)) from e


def _message(path: Path, e: BaseException) -> str:
    """One line saying which input failed and why; the traceback too with STYLECAP_DEBUG=1."""
    if debug():
        traceback.print_exception(type(e), e, e.__traceback__, file=sys.stderr)
    name = shown(path)
    if isinstance(e, StylecapError):
        text = shown(e)
        return text if name in text else f"{name}: {text}"
    first = (str(e).strip().splitlines() or [""])[0][:300]
    if isinstance(e, MemoryError) or "out of memory" in first.lower() or "can't allocate memory" in first.lower():
        return f"{name}: out of memory ({type(e).__name__}: {first}) (lower --max-size or the backend's size options)"
    hint = "" if debug() else "; STYLECAP_DEBUG=1 shows the traceback"
    return f"{name}: the backends failed on this picture ({type(e).__name__}: {first}{hint})"


def _shard(spec: str | None) -> tuple[int, int]:
    """(index, count) from ``--shard I/N``, else from torchrun's ``RANK``/``WORLD_SIZE``, else (0, 1)."""
    if spec is not None:
        i, sep, n = spec.partition("/")
        if not sep or not i.strip().isdigit() or not n.strip().isdigit() or not 0 <= int(i) < int(n):
            raise UsageError(f"--shard {spec!r} is not I/N with 0 <= I < N", "e.g. --shard 0/4 ... --shard 3/4")
        return int(i), int(n)
    rank, world = os.environ.get("RANK"), os.environ.get("WORLD_SIZE")
    if rank is None or world is None:
        return 0, 1
    if not rank.isdigit() or not world.isdigit() or not 0 <= int(rank) < int(world):
        raise UsageError(f"RANK={rank} and WORLD_SIZE={world} do not name a share", "start it with torchrun")
    return int(rank), int(world)


def _rank_device(count: int) -> str | None:
    """Under torchrun (several processes on a machine), each process its own GPU: cuda:LOCAL_RANK."""
    local = os.environ.get("LOCAL_RANK")
    if count == 1 or local is None or not local.isdigit():
        return None
    import torch

    if not torch.cuda.is_available():
        return None
    return f"cuda:{int(local) % torch.cuda.device_count()}"


def distinct_names(paths: list[Path]) -> list[str]:
    """A name per path that no other path of the list has (compared without case, as some file systems do).

    The stem where it is unique; clashing stems with different suffixes add them (``a_jpg``, ``a_png``);
    then the folders they come from (``d1_x``, ``d2_x``); then a number (``x-2``)."""
    base = [p.stem for p in paths]
    for group in _clashes(base):
        if len({paths[i].suffix.lower() for i in group}) == len(group):
            for i in group:
                base[i] = f"{paths[i].stem}_{paths[i].suffix.lstrip('.')}"
    names = list(base)
    folders = [[part for part in p.absolute().parent.parts if part not in ("/", "\\")] for p in paths]
    depth = 1
    while (groups := _clashes(names)) and depth <= max(len(f) for f in folders):
        for group in groups:
            for i in group:
                names[i] = "_".join([*folders[i][-depth:], base[i]])
        depth += 1
    return _numbered_apart(names)


def _numbered_apart(names: list[str]) -> list[str]:
    """``names`` with a number added to each repeat: x, x-2, x-3 (without case: X and x are one name)."""
    taken = {name.casefold() for name in names}
    seen: set[str] = set()
    out = []
    for name in names:
        if name.casefold() in seen:
            k = 2
            while f"{name}-{k}".casefold() in taken:
                k += 1
            name = f"{name}-{k}"
            taken.add(name.casefold())
        seen.add(name.casefold())
        out.append(name)
    return out


def _clashes(names: list[str]) -> list[list[int]]:
    groups: dict[str, list[int]] = {}
    for i, name in enumerate(names):
        groups.setdefault(name.casefold(), []).append(i)
    return [group for group in groups.values() if len(group) > 1]


def _plan(inputs: list[Path], style_paths: list[Path], each_style: bool) -> list[Job]:
    content_names = distinct_names(inputs)
    if not each_style:
        return [Job(p, list(range(len(style_paths))), n) for p, n in zip(inputs, content_names)]
    style_names = distinct_names(style_paths)
    jobs = [Job(p, [k], f"{n}_{s}") for p, n in zip(inputs, content_names) for k, s in enumerate(style_names)]
    for job, name in zip(jobs, _numbered_apart([job.name for job in jobs])):  # "a_b" + "c" against "a" + "b_c"
        job.name = name
    return jobs


def _check_no_input_is_overwritten(jobs: list[Job], targets: dict[int, Path], sources: list[Path]) -> None:
    taken = {}
    for path in sources:
        try:
            taken[path.resolve()] = path
        except OSError:
            continue
    for job in jobs:
        target = targets[id(job)]
        for candidate in (target, target.with_suffix(".txt")):
            if candidate.resolve() in taken:
                raise UsageError(
                    f"the result {shown(candidate)} would overwrite the input {shown(taken[candidate.resolve()])}",
                    "choose another --output folder (or --format)",
                )


def _progress(err, *, enabled: bool):
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),  # from the step rate so far; tolerance may stop sooner, and the bar then ends full
        console=err,
        disable=not enabled,
        transient=True,
    )


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)


def _report(out, err, as_json: bool, record: dict) -> None:
    if as_json:
        print(json.dumps(record), flush=True)
    elif "error" in record:
        err.print("[red]error:[/red]", _escape(record["error"]))
    elif record.get("skipped"):
        out.print(f"{_escape(shown(record['output']))}  (exists, skipped)")
    else:
        caption = f"  {_escape(record['caption'])}" if record["caption"] else ""
        out.print(f"{_escape(shown(record['output']))}{caption}")
    sys.stdout.flush()
