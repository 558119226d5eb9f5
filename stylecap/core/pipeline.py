"""A pipeline of named components: a style backend, then a caption backend.

Programs compose one directly (``Pipeline(style=..., caption=...)``) or by name
(``Pipeline.from_names("gatys", None)``); ``save``/``load`` write one ``pipeline.json``
describing every component (name, plugin, version, config) beside its safetensors weights.
"""

from __future__ import annotations

import json
import os
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union

import torch
from PIL import Image

from . import config as config_mod
from .atomic import write_text_atomic
from .checkpoint import load_checkpoint, save_checkpoint
from .component import CaptionBackend, Captions, Component, Condition, ProgressCallback, StyleBackend
from .errors import CheckpointError, UsageError
from .host import registry
from .imageio import LoadedImage, read_image, resize_max, split_alpha, to_pil, to_tensor, write_image
from .registry import Entry

FORMAT = "stylecap-pipeline-1"
ImageInput = Union[str, os.PathLike, Image.Image, LoadedImage, torch.Tensor]


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
    return {
        "kind": kind,
        "name": component.name,
        "plugin": plugin.name if plugin else None,
        "distribution": plugin.distribution if plugin else None,
        "version": plugin.version if plugin else None,
        "config": config_mod.to_dict(component.config),
    }


def _entry_for(component: Component, kind: str) -> Entry | None:
    reg = registry(kind)
    if component.name in reg and reg.get(component.name).cls is type(component):
        return reg.get(component.name)
    return None


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
        self.style = style
        self.caption = caption
        self.caption_source = caption_source
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
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
        """Build from registry names; configs may hold strings (from the CLI) or typed values."""
        style_c = registry("style").create(style, **(style_config or {})) if style else None
        caption_c = registry("caption").create(caption, **(caption_config or {})) if caption else None
        return cls(style_c, caption_c, **kwargs)

    def components(self) -> dict[str, Component]:
        return {k: c for k, c in (("style", self.style), ("caption", self.caption)) if c is not None}

    def __call__(
        self,
        content: ImageInput,
        styles: Sequence[ImageInput] = (),
        *,
        style_weights: Sequence[float] | None = None,
        seed: int | None = None,
        progress: ProgressCallback | None = None,
    ) -> Result:
        timings: dict[str, float] = {}
        start = time.perf_counter()
        loaded = _load(content)
        rgb = resize_max(loaded.rgb, self.max_size)
        content_t = to_tensor(rgb).to(self.device)
        style_ts = [to_tensor(_load(s).rgb).to(self.device) for s in styles]
        timings["load_s"] = time.perf_counter() - start

        seed = random.randrange(2**31) if seed is None else seed
        torch.manual_seed(seed)
        out_t = content_t
        if self.style is not None:
            if self.style.needs_style and not style_ts:
                raise UsageError(f"style backend {self.style.name!r} needs a style image", "pass one with --style IMG")
            if style_weights is not None and len(style_weights) != len(style_ts):
                raise UsageError(
                    f"{len(style_weights)} style weights for {len(style_ts)} style images",
                    "give one weight per style image",
                )
            t0 = time.perf_counter()
            with torch.no_grad():  # optimising backends (Gatys) enable grad for themselves
                out_t = self.style.stylize(content_t, style_ts, style_weights=style_weights, progress=progress)
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
        """Write ``pipeline.json`` and one ``<kind>.safetensors`` per component with weights."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        described = {}
        for kind, component in self.components().items():
            info = _describe(component, kind)
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
        directory = Path(directory)
        path = directory / "pipeline.json"
        if not path.is_file():
            raise UsageError(f"{directory} holds no pipeline.json", "point to a folder written by Pipeline.save")
        try:
            doc = json.loads(path.read_text())
        except json.JSONDecodeError as e:
            raise CheckpointError(f"{path} is not valid JSON ({e})", "re-save the pipeline") from None
        if doc.get("format") != FORMAT:
            raise CheckpointError(f"{path} has format {doc.get('format')!r}, expected {FORMAT!r}", "re-save it")
        parts = {kind: _restore(directory, info) for kind, info in doc["components"].items()}
        return cls(
            parts.get("style"),
            parts.get("caption"),
            caption_source=doc.get("caption_source", "stylized"),
            device=device,
            max_size=doc.get("max_size"),
        )


def _restore(directory: Path, info: dict[str, Any]) -> Component:
    kind, name = info["kind"], info["name"]
    reg = registry(kind)
    if name not in reg:
        dist = info.get("distribution")
        fix = f"pip install {dist}" if dist else f"install the plugin that provides {name!r}"
        raise CheckpointError(
            f"this pipeline needs the {kind} component {name!r} from {dist or info.get('plugin') or 'a plugin'}"
            f" {info.get('version') or ''}, which is not installed".replace("  ", " "),
            fix,
        )
    component = reg.get(name).create(**info.get("config", {}))
    if info.get("weights"):
        tensors, _ = load_checkpoint(directory / info["weights"])
        component.load_state_dict(tensors)
    return component
