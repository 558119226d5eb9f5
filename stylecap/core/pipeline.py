"""A pipeline of named components: a style backend, then a caption backend.

Programs compose one directly (``Pipeline(style=..., caption=...)``) or by name
(``Pipeline.from_names("gatys", None)``); ``save``/``load`` write one ``pipeline.json``
describing every component (name, plugin, version, config, the plugin components it names)
beside its safetensors weights.

A loaded ``pipeline.json`` is data, not instructions: its structure, kinds and option types are
checked before anything is built, every path in it must lie inside its folder, and options
that make a component write files (``stylecap.field(..., writes=True)``, ``snapshot_*``) keep
their defaults.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import random
import shutil
import time
import types
import typing
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union

import torch
from PIL import Image

from . import config as config_mod
from .atomic import atomic_path, clean_stale, write_text_atomic
from .checkpoint import load_checkpoint, save_checkpoint
from .component import CaptionBackend, Captions, Component, Condition, ProgressCallback, StyleBackend
from .errors import CheckpointError, ConfigError, ImageError, StylecapError, UsageError
from .host import BUILTIN_DISTRIBUTION, registry
from .imageio import (
    SUPPORTED_SUFFIXES,
    LoadedImage,
    read_image,
    resize_max,
    split_alpha,
    to_pil,
    to_tensor,
    write_image,
)
from .kinds import KINDS
from .registry import Entry

FORMAT = "stylecap-pipeline-1"
ImageInput = Union[str, os.PathLike, Image.Image, LoadedImage, torch.Tensor]
SLOTS: dict[str, type] = {"style": StyleBackend, "caption": CaptionBackend}
"""The two places of a pipeline and the base class a component there must have."""
NONE = "none"
"""As a backend name (``Pipeline.from_names("none", ...)``, ``--style-backend none``): leave that step out."""
MAX_SEED = 2**63 - 1

_FILE_SUFFIXES = {
    ".safetensors", ".pth", ".pt", ".bin", ".ckpt", ".onnx", ".json", ".gz", ".txt", ".tsv", ".csv", ".npz",
}  # fmt: skip
_FILE_SUFFIXES |= set(SUPPORTED_SUFFIXES)


@dataclass
class Result:
    """One run's output: the stylised picture (with the content's alpha, if any), its caption (the best of
    ``captions``) and the condition the captions were made from (what the captioner saw, for a person to read)."""

    image: Image.Image
    caption: str | None
    alpha: Image.Image | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    captions: list[str] = field(default_factory=list)
    condition: Condition | None = None

    def save(self, path: str | os.PathLike, *, quality: int = 95) -> Path:
        return write_image(path, self.image, alpha=self.alpha, quality=quality)


def resolve_device(device: str | torch.device | None, *, option: str = "--device") -> torch.device:
    """``device`` as a torch device that exists here (default: CUDA if present, else the CPU).

    A name torch does not know, or a GPU this machine lacks, is a :class:`UsageError` naming ``option``.
    """
    if device is None or device == "":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        found = torch.device(device)
    except (RuntimeError, TypeError, ValueError):
        raise UsageError(f"{option} {device!r} is not a device", "use cpu, cuda, cuda:1, mps ...") from None
    if found.type == "cuda":
        if not torch.cuda.is_available():
            raise UsageError(
                f"{option} {device!r}: this machine has no CUDA device that torch can use",
                "use --device cpu, or install torch built for CUDA and an NVIDIA driver",
            )
        count = torch.cuda.device_count()
        if found.index is not None and found.index >= count:
            raise UsageError(
                f"{option} {device!r}: this machine has {count} CUDA device(s)", f"use cuda:0 to cuda:{count - 1}"
            )
    elif found.type == "mps":
        if not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
            raise UsageError(f"{option} {device!r}: Apple's MPS is not available here", "use --device cpu")
    elif found.type != "cpu":
        try:
            torch.empty(1, device=found)
        except Exception as e:
            raise UsageError(
                f"{option} {device!r} cannot be used here ({type(e).__name__})", "use cpu or cuda"
            ) from None
    return found


def check_seed(seed: Any, *, option: str = "seed") -> int:
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= MAX_SEED:
        raise UsageError(f"{option} {seed!r} is not a whole number from 0 to 2**63-1", f"give a smaller {option}")
    return seed


def check_style_weights(weights: Sequence[float] | None, styles: int) -> list[float] | None:
    """One finite, non-negative weight per style picture, not all zero (None: equal weights)."""
    if weights is None:
        return None
    weights = list(weights)
    if len(weights) != styles:
        raise UsageError(f"{len(weights)} style weights for {styles} style images", "give one weight per style image")
    try:
        numbers = [float(w) for w in weights]
    except (TypeError, ValueError):
        raise UsageError(f"style weights {weights!r} are not all numbers", "give numbers, e.g. 3 and 1") from None
    if not all(math.isfinite(w) and w >= 0 for w in numbers) or (numbers and sum(numbers) <= 0):
        raise UsageError(
            f"style weights {', '.join(map(str, weights))} are not all finite and non-negative with a positive sum",
            "give one finite weight of 0 or more per style image, e.g. --style-weight 3 --style-weight 1",
        )
    return numbers


def _load(image: ImageInput) -> LoadedImage:
    if isinstance(image, LoadedImage):
        return image
    if isinstance(image, torch.Tensor):
        return LoadedImage(to_pil(image), None, None)
    if isinstance(image, Image.Image):
        return LoadedImage(*split_alpha(image, (255, 255, 255)), None)
    return read_image(image)


def _describe(component: Component, kind: str) -> dict[str, Any]:
    entry = _entry_for(component, kind)
    plugin = entry.plugin if entry else None
    config = config_mod.to_dict(component.config)
    described = {
        "kind": kind,
        "name": component.name,
        "plugin": plugin.name if plugin else None,
        "distribution": plugin.distribution if plugin else None,
        "version": plugin.version if plugin else None,
        "config": config,
    }
    uses = _uses(config)
    if uses:
        described["uses"] = uses
    return described


def _entry_for(component: Component, kind: str) -> Entry | None:
    reg = registry(kind)
    if component.name in reg and reg.get(component.name).cls is type(component):
        return reg.get(component.name)
    return None


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, (list, tuple)):
        return [s for v in value for s in _strings(v)]
    return []


def _uses(config: dict[str, Any]) -> list[dict[str, Any]]:
    """The components of other plugins that a config names (an extra loss, an encoder), so a loaded pipeline
    can say which package to install; values such as ``NAME:WEIGHT`` count by their name."""
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for text in _strings(config):
        for name in {text, text.rpartition(":")[0]} - {""}:
            for kind in KINDS:
                reg = registry(kind)
                if name in reg and reg.get(name).plugin.distribution != BUILTIN_DISTRIBUTION:
                    plugin = reg.get(name).plugin
                    found[(kind, name)] = {
                        "kind": kind,
                        "name": name,
                        "plugin": plugin.name,
                        "distribution": plugin.distribution,
                        "version": plugin.version,
                    }
    return [found[key] for key in sorted(found)]


def _not_installed(kind: str, name: str, info: dict[str, Any], what: str) -> CheckpointError:
    dist = info.get("distribution") if isinstance(info.get("distribution"), str) else None
    plugin = info.get("plugin") if isinstance(info.get("plugin"), str) else None
    version = info.get("version") if isinstance(info.get("version"), str) else ""
    label = KINDS[kind].label if kind in KINDS else kind
    fix = f"pip install {dist}" if dist else f"install the plugin that provides {name!r}"
    origin = dist or (f"plugin {plugin}" if plugin else "a plugin")
    return CheckpointError(
        f"{what} needs the {label} {name!r} from {origin} {version}".strip() + ", which is not installed", fix
    )


class Pipeline:
    """Stylise a picture, then caption it. Either component may be ``None``."""

    def __init__(
        self,
        style: StyleBackend | None = None,
        caption: CaptionBackend | None = None,
        *,
        caption_source: str = "stylized",
        device: str | torch.device | None = None,
        max_size: int | None = None,
    ):
        if caption_source not in ("stylized", "content"):
            raise UsageError(f"caption_source {caption_source!r} is not known", "use 'stylized' or 'content'")
        for slot, component in (("style", style), ("caption", caption)):
            if component is not None and not isinstance(component, SLOTS[slot]):
                raise UsageError(
                    f"{type(component).__name__} is not a {KINDS[slot].label}", f"give a {SLOTS[slot].__name__}"
                )
        if max_size is not None and (isinstance(max_size, bool) or not isinstance(max_size, int) or max_size < 1):
            raise UsageError(f"max_size {max_size!r} is not a whole number of pixels, 1 or more", "give e.g. 1024")
        self.style = style
        self.caption = caption
        self.caption_source = caption_source
        self.device = resolve_device(device)
        self.max_size = max_size

    @classmethod
    def from_names(
        cls,
        style: str | None,
        caption: str | None = None,
        *,
        style_config: dict[str, Any] | None = None,
        caption_config: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> Pipeline:
        """Build from registry names (``None`` or ``"none"`` leaves that step out); configs may hold strings
        (from the CLI) or typed values. Every name and option is checked before either component is built."""
        style = None if style is None or (isinstance(style, str) and style.lower() == NONE) else style
        caption = None if caption is None or (isinstance(caption, str) and caption.lower() == NONE) else caption
        planned = []
        for kind, name, values in (("style", style, style_config), ("caption", caption, caption_config)):
            if name is not None:
                entry = registry(kind).get(name)
                planned.append((kind, entry, entry.build_config(values or {})))
        if "device" in kwargs:
            kwargs["device"] = resolve_device(kwargs["device"])
        built = {kind: _create(entry, config) for kind, entry, config in planned}
        return cls(built.get("style"), built.get("caption"), **kwargs)

    def components(self) -> dict[str, Component]:
        return {k: c for k, c in (("style", self.style), ("caption", self.caption)) if c is not None}

    def check_request(self, styles: int, style_weights: Sequence[float] | None = None) -> list[float] | None:
        """Whether ``styles`` style pictures with ``style_weights`` suit this pipeline: checked once, before a
        batch starts, so a request that cannot work fails at once (a :class:`UsageError`)."""
        if self.style is not None and self.style.needs_style and not styles:
            raise UsageError(f"style backend {self.style.name!r} needs a style image", "pass one with --style IMG")
        return check_style_weights(style_weights, styles)

    def __call__(
        self,
        content: ImageInput,
        styles: Sequence[ImageInput] = (),
        *,
        style_weights: Sequence[float] | None = None,
        seed: int | None = None,
        progress: ProgressCallback | None = None,
    ) -> Result:
        if self.style is not None:
            style_weights = self.check_request(len(styles), style_weights)
        seed = random.randrange(2**31) if seed is None else check_seed(seed)
        timings: dict[str, float] = {}
        start = time.perf_counter()
        loaded = _load(content)
        rgb = resize_max(loaded.rgb, self.max_size)
        content_t = to_tensor(rgb).to(self.device)
        style_ts = [to_tensor(_load(s).rgb).to(self.device) for s in styles]
        timings["load_s"] = time.perf_counter() - start

        torch.manual_seed(seed)
        out_t = content_t
        if self.style is not None:
            t0 = time.perf_counter()
            with torch.no_grad():  # optimising backends (Gatys) enable grad for themselves
                out_t = self.style.stylize(content_t, style_ts, style_weights=style_weights, progress=progress)
            if not bool(torch.isfinite(out_t).all()):
                raise StylecapError(
                    f"style backend {self.style.name!r} gave a picture with NaN or infinite values",
                    "check its weights and options (stylecap info " + self.style.name + ")",
                )
            timings["style_s"] = time.perf_counter() - t0

        said = Captions([None])
        if self.caption is not None:
            t0 = time.perf_counter()
            with torch.no_grad():
                source = out_t if self.caption_source == "stylized" else content_t
                said = self.caption.captions(source, content=content_t, seed=seed)
            timings["caption_s"] = time.perf_counter() - t0
        timings["total_s"] = time.perf_counter() - start

        metadata = {
            "seed": seed,
            "device": str(self.device),
            "size": list(rgb.size),
            "components": {k: _describe(c, k) for k, c in self.components().items()},
            "timings": timings,
        }
        alpha = loaded.alpha.resize(rgb.size) if loaded.alpha is not None else None
        captions = [t for t in said.texts if t is not None]
        return Result(to_pil(out_t.detach().cpu()), said.texts[0], alpha, metadata, captions, said.condition)

    # -- persistence ---------------------------------------------------------------------

    def save(self, directory: str | os.PathLike) -> Path:
        """Write ``pipeline.json`` and one ``<kind>.safetensors`` per component with weights.

        Files the configs name (a weights file, masks, an init picture) are copied into the folder and
        named relative to it, so the folder is whole; options that write files are saved as their defaults.
        """
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        clean_stale(directory)
        described = {}
        for kind, component in self.components().items():
            info = _describe(component, kind)
            info["config"] = _portable_config(component, info["config"], directory, kind)
            state = component.state_dict() if hasattr(component, "state_dict") else {}
            if state:
                info["weights"] = f"{kind}.safetensors"
                save_checkpoint(directory / info["weights"], state, {k: v for k, v in info.items() if v is not None})
            described[kind] = info
        doc = {
            "format": FORMAT,
            "caption_source": self.caption_source,
            "max_size": self.max_size,
            "components": described,
        }
        write_text_atomic(directory / "pipeline.json", json.dumps(doc, indent=2) + "\n")
        return directory

    @classmethod
    def load(cls, directory: str | os.PathLike, *, device: str | torch.device | None = None) -> Pipeline:
        """Rebuild a saved pipeline; a damaged or hostile ``pipeline.json`` is a :class:`CheckpointError`
        naming what is wrong, raised before any component is built."""
        directory = Path(directory)
        path = directory / "pipeline.json"
        if not path.is_file():
            raise UsageError(f"{directory} holds no pipeline.json", "point to a folder written by Pipeline.save")
        doc = _read_doc(path)
        planned = {slot: _plan(directory, path, slot, info) for slot, info in doc["components"].items()}
        device = resolve_device(device)
        parts = {}
        for slot, (entry, config, weights) in planned.items():
            component = _create(entry, config)
            if weights is not None:
                tensors, _ = load_checkpoint(weights)
                try:
                    component.load_state_dict(tensors)
                except (RuntimeError, KeyError, ValueError, TypeError) as e:
                    first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
                    raise CheckpointError(
                        f"{weights} does not fit {entry.label} as {path} configures it ({first})",
                        "re-save the pipeline",
                    ) from None
            parts[slot] = component
        return cls(
            parts.get("style"),
            parts.get("caption"),
            caption_source=doc["caption_source"],
            device=device,
            max_size=doc["max_size"],
        )


def _create(entry: Entry, config: Any) -> Component:
    """Build a component from a checked config; a file its options name that cannot be used is a usage error."""
    try:
        return entry.create(config)
    except UsageError:
        raise
    except (CheckpointError, ImageError) as e:
        raise ConfigError(f"{entry.label}: {e.problem}", e.fix) from e


# -- reading pipeline.json ---------------------------------------------------------------------------


def _bad(path: Path, problem: str) -> CheckpointError:
    return CheckpointError(f"{path} is not a usable pipeline: {problem}", "re-save the pipeline with Pipeline.save")


def _read_doc(path: Path) -> dict[str, Any]:
    """``pipeline.json`` with every field it must have, of the right type (defaults filled in)."""
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as e:
        raise _bad(path, f"it is not UTF-8 text ({e.reason} at byte {e.start})") from None
    except OSError as e:
        raise CheckpointError(f"cannot read {path} ({e.strerror})", "check the file's permissions") from None
    try:
        doc = json.loads(text)
    except (ValueError, RecursionError) as e:
        raise CheckpointError(f"{path} is not valid JSON ({e})", "re-save the pipeline") from None
    if not isinstance(doc, dict):
        raise _bad(path, f"it holds a {type(doc).__name__}, not an object")
    if doc.get("format") != FORMAT:
        raise CheckpointError(f"{path} has format {doc.get('format')!r}, expected {FORMAT!r}", "re-save it")
    components = doc.get("components")
    if not isinstance(components, dict):
        raise _bad(path, f"'components' is {type(components).__name__}, not an object of style and caption")
    for slot, info in components.items():
        if slot not in SLOTS:
            raise _bad(path, f"'components' has {slot!r}; only 'style' and 'caption' are known")
        if not isinstance(info, dict):
            raise _bad(path, f"the {slot} component is {type(info).__name__}, not an object")
        if info.get("kind", slot) != slot:
            raise _bad(path, f"the {slot} component is of kind {info.get('kind')!r}; a {slot} place needs a {slot}")
        if not isinstance(info.get("name"), str) or not info["name"]:
            raise _bad(path, f"the {slot} component's 'name' is {info.get('name')!r}, not a name")
        if not isinstance(info.get("config", {}), dict):
            raise _bad(path, f"the {slot} component's 'config' is {type(info['config']).__name__}, not an object")
        if info.get("weights") is not None and not isinstance(info["weights"], str):
            raise _bad(path, f"the {slot} component's 'weights' is {info['weights']!r}, not a file name")
        uses = info.get("uses", [])
        if not isinstance(uses, list) or not all(
            isinstance(u, dict) and isinstance(u.get("kind"), str) and isinstance(u.get("name"), str) for u in uses
        ):
            raise _bad(path, f"the {slot} component's 'uses' is not a list of kind and name objects")
    source = doc.get("caption_source", "stylized")
    if source not in ("stylized", "content"):
        raise _bad(path, f"'caption_source' is {source!r}, not 'stylized' or 'content'")
    max_size = doc.get("max_size")
    if max_size is not None and (isinstance(max_size, bool) or not isinstance(max_size, int) or max_size < 1):
        raise _bad(path, f"'max_size' is {max_size!r}, not a whole number of pixels")
    return {"components": components, "caption_source": source, "max_size": max_size}


def _plan(directory: Path, path: Path, slot: str, info: dict[str, Any]) -> tuple[Entry, Any, Path | None]:
    """The registry entry, the checked config and the weights file of one component, nothing built yet."""
    name = info["name"]
    reg = registry(slot)
    if name not in reg:
        raise _not_installed(slot, name, info, "this pipeline")
    for use in info.get("uses", []):
        if use["kind"] in KINDS and use["name"] not in registry(use["kind"]):
            raise _not_installed(use["kind"], use["name"], use, f"this pipeline's {slot} backend {name!r}")
    entry = reg.get(name)
    values = _local_config(entry, info.get("config", {}), directory, path)
    try:
        config = entry.build_config(values)
    except ConfigError as e:
        raise _bad(path, f"{e.problem} ({e.fix})" if e.fix else e.problem) from None
    weights = None
    if info.get("weights") is not None:
        weights = Path(_inside(directory, info["weights"], path, f"the {slot} component's 'weights'"))
        if not weights.is_file():
            raise CheckpointError(f"{path} names weights {info['weights']!r}, which are missing", "re-save it")
    return entry, config, weights


def _path_typed(tp: Any) -> bool:
    if tp is Path:
        return True
    if typing.get_origin(tp) in (typing.Union, types.UnionType, list, tuple):
        return any(_path_typed(arg) for arg in typing.get_args(tp))
    return False


def _looks_like_path(text: str) -> bool:
    return (
        "/" in text
        or "\\" in text
        or text.startswith(("~", "."))
        or os.path.isabs(text)
        or Path(text).suffix.lower() in _FILE_SUFFIXES
    )


def _inside(directory: Path, value: str, path: Path, what: str) -> str:
    """``value`` as a path inside ``directory``; anything absolute or leading out of it is refused."""
    root = directory.resolve()
    target = (root / value).resolve()
    if value.startswith("~") or Path(value).is_absolute() or not target.is_relative_to(root):
        raise CheckpointError(
            f"{path}: {what} is {value!r}, a path outside the pipeline's folder",
            "a saved pipeline names only files inside its own folder; copy the file there and name it relative to it",
        )
    return str(target)


def _local_config(entry: Entry, values: dict[str, Any], directory: Path, path: Path) -> dict[str, Any]:
    """The saved option values with paths made to point inside ``directory`` (or refused) and the options that
    write files left out (they keep their defaults)."""
    hints = typing.get_type_hints(entry.cls.Config) if dataclasses.is_dataclass(entry.cls.Config) else {}
    declared = {f.name: f for f in dataclasses.fields(entry.cls.Config)} if hints else {}
    out = {}
    for key, value in values.items():
        f = declared.get(key) if isinstance(key, str) else None
        if f is not None and config_mod.writes_files(f):
            continue
        what = f"{entry.label} option {key!r}"
        if f is not None and _path_typed(hints[key]):
            out[key] = _localise(value, directory, path, what, every=True)
        else:
            out[key] = _localise(value, directory, path, what, every=False)
    return out


def _localise(value: Any, directory: Path, path: Path, what: str, *, every: bool) -> Any:
    if isinstance(value, str):
        return _inside(directory, value, path, what) if every or _looks_like_path(value) else value
    if isinstance(value, list):
        return [_localise(v, directory, path, what, every=every) for v in value]
    if isinstance(value, dict):
        return {k: _localise(v, directory, path, what, every=False) for k, v in value.items()}
    return value


# -- writing pipeline.json ----------------------------------------------------------------------------


def _portable_config(component: Component, values: dict[str, Any], directory: Path, kind: str) -> dict[str, Any]:
    """The config as ``save`` records it: files it names copied into ``directory``, writing options at defaults."""
    cls = type(component.config)
    declared = {f.name: f for f in dataclasses.fields(cls)} if dataclasses.is_dataclass(cls) else {}
    hints = typing.get_type_hints(cls) if declared else {}
    copied: dict[str, str] = {}
    out = {}
    for key, value in values.items():
        f = declared.get(key)
        if f is not None and config_mod.writes_files(f):
            out[key] = json.loads(json.dumps(config_mod.default_of(f), default=str))
            continue
        every = f is not None and _path_typed(hints[key])
        out[key] = _portable(value, directory, kind, copied, every=every)
    return out


def _portable(value: Any, directory: Path, kind: str, copied: dict[str, str], *, every: bool) -> Any:
    if isinstance(value, list):
        return [_portable(v, directory, kind, copied, every=every) for v in value]
    if isinstance(value, dict):
        return {k: _portable(v, directory, kind, copied, every=False) for k, v in value.items()}
    if not isinstance(value, str) or not (every or _looks_like_path(value)):
        return value
    source = Path(value).expanduser()
    root = directory.resolve()
    if not source.is_file():
        return value  # a folder or nothing: recorded as given (load refuses it unless it is inside the folder)
    resolved = source.resolve()
    if resolved.is_relative_to(root):
        return str(resolved.relative_to(root))
    if str(resolved) not in copied:
        name, n = source.name, 1
        while f"{kind}-files/{name}" in copied.values():  # two files of one name: keep both
            n += 1
            name = f"{source.stem}-{n}{source.suffix}"
        with atomic_path(directory / f"{kind}-files" / name) as tmp:
            shutil.copyfile(resolved, tmp)
        copied[str(resolved)] = f"{kind}-files/{name}"
    return copied[str(resolved)]
