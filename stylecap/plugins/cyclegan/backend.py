"""The ``cyclegan`` style backend: a trained generator translates the picture; no style image needed."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import nn

from stylecap.core.checkpoint import load_checkpoint, metadata_json
from stylecap.core.component import ProgressCallback, StyleBackend, Weights
from stylecap.core.config import field, parse_assignments
from stylecap.core.errors import CheckpointError, ConfigError, UnknownComponentError, UsageError
from stylecap.core.export import refuse_run_options
from stylecap.core.host import create, registry
from stylecap.core.styling import shrink

from . import vintage
from .inference import translate

DIRECTIONS = ("a2b", "b2a")
MAX_GENERATOR_BYTES = 2 * 2**30
"""The largest generator built, wherever its options come from (the vintage ResNet-9 has 45 MB)."""
SMALLEST = 16
"""Pictures are replicated out to at least this many pixels a side (and the generator's stride): a
1 x 80 strip would otherwise leave the generator's coarsest layers nothing to pad or normalise."""


def options(value: dict[str, Any] | str) -> dict[str, Any]:
    """Component options from Python (a dict) or the command line (``"filters=32,norm=none"``)."""
    return parse_assignments([item for item in value.split(",") if item.strip()]) if isinstance(value, str) else value


def check_component(kind: str, name: str, values: dict[str, Any], what: str) -> None:
    """Fail at configuration time, naming the field, if ``name`` or its options would not build."""
    try:
        registry(kind).get(name).build_config(values)
    except UnknownComponentError as e:
        raise ValueError(f"{what} {name!r} is not a registered {kind} ({e.fix})") from None


@dataclass
class CycleGANConfig:
    weights: str | None = field(
        "vintage",
        help="'vintage' (modern -> vintage photo, from PyPI vintagify, offline), a .safetensors checkpoint written "
        "by `stylecap train style cyclegan`, or none (untrained; a saved pipeline loads its weights)",
    )
    direction: Literal["a2b", "b2a"] = field("a2b", help="a2b translates domain A pictures into B; b2a the reverse")
    max_size: int | None = field(1024, help="longer side of the output in pixels (the picture is only shrunk)")
    tile: int = field(1024, help="pictures with a longer side than this are translated in overlapping tiles")
    overlap: int = field(128, help="pixels shared by neighbouring tiles, blended so no seam shows")
    generator: str | None = field(None, help="registered generator; None: the one the weights name (or resnet-9)")
    generator_options: dict[str, Any] = field({}, help="its options, e.g. filters=32,norm=none; {}: the weights'")

    def __post_init__(self) -> None:
        self.generator_options = options(self.generator_options)

    def validate(self) -> None:
        if self.weights not in (None, "vintage") and not Path(self.weights).is_file():
            raise ValueError(f"weights {self.weights!r} is neither 'vintage', none, nor a checkpoint file")
        if self.max_size is not None and self.max_size < 16:
            raise ValueError(f"max_size must be at least 16 pixels, not {self.max_size}")
        if self.tile < 16:
            raise ValueError(f"tile must be at least 16 pixels, not {self.tile}")
        if not 0 <= self.overlap < self.tile:
            raise ValueError(f"overlap must be at least 0 and less than tile ({self.tile}), not {self.overlap}")
        if self.generator is not None:
            check_component("generator", self.generator, self.generator_options, "generator")


def read_weights(weights: str | None) -> tuple[str, dict[str, Any], dict[str, torch.Tensor] | None]:
    """Generator name, its options, and weights per direction (``a2b.*``, ``b2a.*``; None: untrained).

    A path may be a training checkpoint (``checkpoints/step-N/weights.safetensors``: the trainer's
    config, generators under ``g.``) or a saved pipeline's ``style.safetensors`` (this backend's
    config); both configs name the generator.
    """
    if weights is None:
        return "resnet-9", {}, None
    if weights == "vintage":
        return vintage.GENERATOR, vintage.GENERATOR_OPTIONS, {f"a2b.{k}": v for k, v in vintage.state_dict().items()}
    tensors, metadata = load_checkpoint(weights)
    config = metadata_json(metadata, "config", {}, source=weights)
    if not isinstance(config, dict) or not config.get("generator"):
        raise CheckpointError(f"{weights} names no CycleGAN generator", "give a checkpoint of a cyclegan run")
    generator, opts = config["generator"], config.get("generator_options") or {}
    if not isinstance(generator, str) or not isinstance(opts, dict):
        raise CheckpointError(
            f"{weights} says the generator is {generator!r} with options {opts!r}, not a name and an object",
            "give a checkpoint written by stylecap train style cyclegan",
        )
    if "trainer" in metadata:
        tensors = {k[2:]: v for k, v in tensors.items() if k.startswith("g.")}
    return generator, opts, tensors


def build_generator(name: str, options: dict[str, Any], where: str) -> nn.Module:
    """``create("generator", name, **options)``, once its size is known to fit (counted without allocating).

    ``where`` says where the name and options came from (an option, a weights file) for messages."""
    try:
        with torch.device("meta"):
            probe = create("generator", name, **options)
    except UsageError as e:
        if where.startswith("option"):
            raise
        raise CheckpointError(f"{where} names a generator that cannot be built: {e.problem}", e.fix) from None
    except Exception:  # a generator that cannot be built without real memory is built for real below
        probe = None
    if isinstance(probe, nn.Module):
        size = sum(p.numel() * p.element_size() for p in probe.parameters())
        if size > MAX_GENERATOR_BYTES:
            error = ConfigError if where.startswith("option") else CheckpointError
            raise error(
                f"cyclegan: {where} asks for generator {name!r} with {options} of {size / 2**30:,.1f} GiB, more than "
                f"{MAX_GENERATOR_BYTES >> 30} GiB",
                "use smaller generator_options (filters) or weights made by stylecap train style cyclegan",
            )
    return create("generator", name, **options)


class CycleGAN(StyleBackend, nn.Module):
    """Translates the picture into a learnt domain (CycleGAN); the style is the training set's, no style image.

    ``weights=vintage`` turns modern photos vintage offline. Any size works: big pictures are
    shrunk to ``max_size`` and translated in blended tiles beyond ``tile``.
    """

    name = "cyclegan"
    Config = CycleGANConfig
    needs_style = False
    weights = (
        Weights(
            "vintage",
            "modern photo -> vintage photo, ResNet-9, 11.4M parameters, direction a2b only",
            f"PyPI {vintage.SPEC} (MIT), G_A2B_epoch33.pth",
            offline=True,
        ),
    )

    def __init__(self, config: CycleGANConfig | None = None):
        super().__init__(config)
        name, opts, state = read_weights(self.config.weights)
        # the config records the generator it resolved to, so a saved pipeline describes itself
        c = self.config = replace(
            self.config,
            generator=self.config.generator or name,
            generator_options=self.config.generator_options or opts,
        )
        directions = DIRECTIONS if state is None else sorted({key.split(".", 1)[0] for key in state})
        if c.direction not in directions:
            raise UsageError(
                f"weights {c.weights!r} translate {' and '.join(directions)} only, not {c.direction}",
                f"use direction={directions[0]}",
            )
        given = config or CycleGANConfig()
        where = "option generator_options" if given.generator or given.generator_options else f"weights {c.weights!r}"
        for direction in directions:
            self.add_module(direction, build_generator(c.generator, c.generator_options, where))
        if state is not None:
            try:
                self.load_state_dict(state)
            except RuntimeError as e:
                raise CheckpointError(
                    f"weights {c.weights!r} do not fit generator {c.generator!r}: {e}",
                    "give weights made for that generator",
                ) from None
        self.requires_grad_(False)
        self.eval()

    def stylize(
        self,
        content: torch.Tensor,
        styles: Sequence[torch.Tensor],
        *,
        style_weights: Sequence[float] | None = None,
        progress: ProgressCallback | None = None,
    ) -> torch.Tensor:
        net = self.get_submodule(self.config.direction).to(content.device)
        image = content if self.config.max_size is None else shrink(content, self.config.max_size)
        return picture(net, image, tile=self.config.tile, overlap=self.config.overlap, progress=progress)

    def onnx_module(self) -> nn.Module:
        """The generator of ``direction`` on the whole picture (no tiles), for `stylecap export cyclegan`."""
        refuse_run_options(self, ("max_size", "tile", "overlap"))
        return CycleGANGraph(self.get_submodule(self.config.direction).cpu())


def picture(
    net: nn.Module,
    image: torch.Tensor,
    *,
    tile: int | None,
    overlap: int = 0,
    progress: ProgressCallback | None = None,
) -> torch.Tensor:
    """``net``'s translation of ``image`` (``[N, 3, H, W]`` in [0, 1]), the same size: pictures under
    :data:`SMALLEST` pixels a side are replicated out and cropped back; ``tile`` None: no tiles."""
    h, w = image.shape[-2:]
    least = max(SMALLEST, getattr(net, "multiple", 1))
    if h < least or w < least:  # replicated out at the bottom and right, cropped back after
        image = F.pad(image, (0, max(0, least - w), 0, max(0, least - h)), mode="replicate")
    out = translate(net, image * 2 - 1, tile=tile, overlap=overlap, progress=progress)
    return ((out[..., :h, :w] + 1) / 2).clamp(0, 1)


class CycleGANGraph(nn.Module):
    """What `stylecap export cyclegan` writes: ``image`` from ``content``, pixels in [0, 1], any size from
    :data:`SMALLEST` pixels a side, translated whole (a graph has no tiles)."""

    outputs = ("image",)
    optional = ()

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def example_inputs(self) -> dict[str, torch.Tensor]:
        """An odd size, no multiple of the generator's: the trace takes the padding branch."""
        return {"content": torch.rand(1, 3, 37, 53, generator=torch.Generator().manual_seed(0))}

    def forward(self, content: torch.Tensor) -> torch.Tensor:
        return picture(self.net, content, tile=None)
