"""The ``adain`` style backend: one encoder pass, AdaIN on the features, one decoder pass."""

from __future__ import annotations

import importlib.resources
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import nn

from stylecap.core import color, guided
from stylecap.core.checkpoint import load_checkpoint, metadata_json
from stylecap.core.component import Encoder, ProgressCallback, StyleBackend, Weights
from stylecap.core.config import field
from stylecap.core.errors import CheckpointError, ConfigError, UsageError
from stylecap.core.export import refuse_run_options
from stylecap.core.host import create
from stylecap.core.styling import ColorMode, blend_weights, fit_size, frame, keep_colors, regions, resize, shrink

from .decoder import Decoder
from .frames import TemporalBlend
from .graph import AdaINGraph, Exported
from .statistics import Code, code_vector, decoder_code, style_code, transfer

SHIPPED = "lite0"
"""The decoder that ships inside the package, trained for efficientnet-lite0 (docs/adain.md)."""

ENCODER, LEVELS, WIDTH, BLOCKS = "efficientnet-lite0", ["stage3", "stage2", "stage1"], 16, 0
"""What an untrained decoder is built for unless the config says otherwise."""

BORDER = 16
"""Reflected pixels around the content while it is encoded and decoded, cropped off after: without
them the encoder's zero padding makes bright or dark rims along the picture's edges."""

ARCHITECTURE = ("encoder", "encoder_weights", "levels", "width", "blocks", "condition")
"""The options an exported model fixes: with runtime=onnx they come from the model."""
RUN_OPTIONS = (
    "alpha", "preserve_color", "palette", "masks", "max_size", "style_size", "work_size", "precision",
    "frame_blend", "frame_tolerance",
)  # fmt: skip
"""The options that act while pictures are stylised, not on the network an export writes."""

MIN_WORK_SIZE = 64
"""The smallest ``work_size``: below it the network sees too few pixels to draw any stroke."""
MIN_WORK_SIDE = 32
"""The shorter side of the working picture is kept at least this (or the content's own): a long strip
worked at ``work_size`` would otherwise be a few pixels high (and under the exported graph's 17)."""

MAX_WIDTH, MAX_BLOCKS = 512, 64
MAX_DECODER_BYTES = 2 * 2**30
"""Bounds on a decoder's shape, wherever it comes from (an option or a weights file's metadata): the
shipped decoder has width 16 and no blocks; a width of 200000 would ask for terabytes."""


def shipped_file() -> Path:
    return Path(str(importlib.resources.files(__package__) / "weights" / f"{ENCODER}-decoder.safetensors"))


@dataclass
class AdaINConfig:
    weights: str | None = field(
        SHIPPED,
        help=f"decoder: '{SHIPPED}' (shipped, for efficientnet-lite0, offline), a .safetensors file written by "
        "`stylecap train style adain`, or none (untrained; a saved pipeline loads its weights)",
    )
    alpha: float = field(1.0, help="style strength: 0 gives back the content (as the decoder sees it), 1 all style")
    preserve_color: ColorMode = field(
        "none", help="keep the content's colours: transfer luminance only, or match style colours to the content"
    )
    palette: float = field(
        0.0, help="after decoding, move the result's colours this far (0-1) to the styles' palette, keeping its "
        "light and shade: nearer the style's colours, blotchy on smooth styles (docs/adain.md)",
    )  # fmt: skip
    masks: list[Path] = field([], help="one grey mask image per style (white = where that style goes)")
    max_size: int | None = field(1024, help="longer side of the output in pixels (the content is only shrunk)")
    style_size: int | None = field(512, help="style pictures are shrunk to this longer side: smaller, bigger strokes")
    work_size: int | None = field(
        None, help="stylise at this longer side (at least 64) and bring the result to full size by guided "
        "upsampling (the photo's edges, the style's colours): faster, finer strokes lost; None: full size",
    )  # fmt: skip
    encoder: str | None = field(None, help="registered encoder; None: the one the weights were trained with")
    encoder_weights: str | None = field(None, help="the encoder's weights (name or file); None: its default")
    levels: list[str] | None = field(
        None, help="encoder layers restyled and decoded, deepest first; None: the weights'"
    )
    width: int | None = field(None, help="decoder channels at full resolution; None: the weights'")
    blocks: int | None = field(None, help="decoder residual blocks at the deepest level; None: the weights'")
    condition: list[str] | None = field(
        None, help="style layers whose code the decoder is told (a conditioned decoder); [] none; None: the weights'"
    )
    precision: Literal["auto", "fp32", "bf16", "fp16"] = field(
        "auto", help="network precision: auto is bf16 on CUDA and fp32 on CPU (statistics stay fp32)"
    )
    frame_blend: float = field(
        0.0, help="for video frames given in order, one style: the previous result's share where the scene is still "
        "(after following the camera's shift); steadier strokes, 0 off, e.g. 0.7",
    )  # fmt: skip
    frame_tolerance: float = field(0.05, help="mean colour change (0-1) at which a pixel counts as moved (frame_blend)")
    runtime: Literal["torch", "onnx"] = field(
        "torch", help="onnx: weights is a model written by `stylecap export adain`, run by onnxruntime on the CPU "
        "(pip install 'stylecap[onnx]'; alpha 1, no masks, fp32; docs/export.md)",
    )  # fmt: skip

    def validate(self) -> None:
        if self.width is not None and not 1 <= self.width <= MAX_WIDTH:
            raise ValueError(f"width must be from 1 to {MAX_WIDTH}, not {self.width}")
        if self.blocks is not None and self.blocks > MAX_BLOCKS:
            raise ValueError(f"blocks must be at most {MAX_BLOCKS}, not {self.blocks}")
        if self.weights not in (None, SHIPPED) and not Path(self.weights).is_file():
            raise ValueError(f"weights {self.weights!r} is neither {SHIPPED!r}, none, nor a checkpoint file")
        if not 0 <= self.alpha <= 1:
            raise ValueError(f"alpha must be between 0 and 1, not {self.alpha}")
        if self.blocks is not None and self.blocks < 0:
            raise ValueError(f"blocks must not be negative, not {self.blocks}")
        if not 0 <= self.palette <= 1:
            raise ValueError(f"palette must be between 0 and 1, not {self.palette}")
        if self.palette and self.preserve_color != "none":
            raise ValueError(
                f"palette={self.palette} takes the style's colours and preserve_color={self.preserve_color} keeps "
                "the content's: set palette=0 or preserve_color=none"
            )
        if not 0 <= self.frame_blend < 1:
            raise ValueError(f"frame_blend must be at least 0 and below 1, not {self.frame_blend}")
        if self.frame_tolerance <= 0:
            raise ValueError(f"frame_tolerance must be positive, not {self.frame_tolerance}")
        for name in ("max_size", "style_size"):
            if getattr(self, name) is not None and getattr(self, name) < 16:
                raise ValueError(f"{name} must be at least 16 pixels, not {getattr(self, name)}")
        if self.work_size is not None and self.work_size < MIN_WORK_SIZE:
            raise ValueError(
                f"work_size must be at least {MIN_WORK_SIZE} pixels (or none: full size), not {self.work_size}"
            )
        exported = str(self.weights).endswith(".onnx")
        if self.runtime == "torch" and exported:
            raise ValueError(f"weights {self.weights!r} is an exported model: add runtime=onnx")
        if self.runtime == "onnx":
            if not exported:
                raise ValueError(
                    f"runtime=onnx runs a model written by `stylecap export adain`, and weights {self.weights!r} is "
                    "not one (export it: stylecap export adain --out adain.onnx, then weights=adain.onnx)"
                )
            for name, why, fine in (
                ("alpha", "restyles fully", self.alpha == 1),
                ("masks", "gives the whole picture one style", not self.masks),
                ("precision", "runs in fp32", self.precision in ("auto", "fp32")),
            ):
                if not fine:
                    value = getattr(self, name)
                    raise ValueError(f"{name}={value} needs runtime=torch: the exported graph {why}; drop one of them")


def read_weights(weights: str | None) -> tuple[dict[str, Any], dict[str, torch.Tensor] | None]:
    """The architecture (encoder, levels, width, blocks, condition) the weights were made for, and the
    decoder's tensors.

    A file may be a training checkpoint (``step-N/weights.safetensors``), a saved pipeline's
    ``style.safetensors`` or the shipped decoder: all keep the decoder under ``decoder.`` and a
    config naming the architecture in their metadata.
    """
    if weights is None:
        return {}, None
    if weights == SHIPPED and not shipped_file().is_file():
        raise CheckpointError(f"the shipped AdaIN decoder {shipped_file()} is missing", "reinstall stylecap")
    path = shipped_file() if weights == SHIPPED else weights
    tensors, metadata = load_checkpoint(path)
    config = metadata_json(metadata, "config", {}, source=path)
    if not isinstance(config, dict) or not config.get("levels"):
        raise CheckpointError(f"{weights} names no AdaIN decoder levels", "give a checkpoint of an adain run")
    found = {k: config[k] for k in ("encoder", "levels", "width", "blocks", "condition") if k in config}
    names = {"encoder": str, "levels": list, "width": int, "blocks": int, "condition": list}
    for key, value in found.items():
        ok = isinstance(value, names[key]) and not isinstance(value, bool)
        if ok and names[key] is list:
            ok = all(isinstance(item, str) for item in value)
        if not ok:
            raise CheckpointError(
                f"{weights} says the decoder's {key} is {value!r}, not a {names[key].__name__}",
                "give a checkpoint written by stylecap train style adain",
            )
    state = {k: v.float() for k, v in tensors.items() if k.startswith("decoder.")}
    return found, state


class AdaIN(StyleBackend, nn.Module):
    """Real-time arbitrary style transfer (AdaIN): the content's features take the style's
    channel means and deviations, and a trained decoder turns them back into a picture.

    One forward pass per picture; any style image; blends, masks, colour preservation,
    an alpha for the strength and steadier video (``frame_blend``: successive calls are
    successive frames). The shipped decoder works offline with efficientnet-lite0.
    """

    name = "adain"
    Config = AdaINConfig
    weights = (
        Weights(
            SHIPPED,
            "decoder for efficientnet-lite0 (stage3 + skips from stage2, stage1; told the style code of the five "
            "style layers), trained on offline photos, painting-style images and wallpapers; see docs/adain.md",
            "shipped with stylecap",
            offline=True,
        ),
    )

    def __init__(self, config: AdaINConfig | None = None, *, encoder: Encoder | None = None):
        super().__init__(config)
        self.exported = None
        self._last: tuple[list[torch.Tensor], list[Any]] = ([], [])  # the last styles and their codes
        self.frames = TemporalBlend(self.config.frame_blend, self.config.frame_tolerance)
        if self.config.runtime == "onnx":
            self._open(self.config)
            return
        found, state = read_weights(self.config.weights)
        c = self.config = replace(
            self.config,
            encoder=self.config.encoder or found.get("encoder", ENCODER),
            levels=self.config.levels or found.get("levels", LEVELS),
            width=self.config.width or found.get("width", WIDTH),
            blocks=found.get("blocks", BLOCKS) if self.config.blocks is None else self.config.blocks,
            condition=found.get("condition", []) if self.config.condition is None else self.config.condition,
        )
        given = config or AdaINConfig()
        source = {  # where each part of the shape came from, for messages
            key: f"option {key}" if getattr(given, key) is not None else f"the weights {c.weights!r}"
            for key in ("encoder", "levels", "width", "blocks", "condition")
        }
        options = {} if c.encoder_weights is None else {"weights": c.encoder_weights}
        encoder = encoder or create("encoder", c.encoder, **options)
        self._encoder = [encoder.folded()]  # in a list: not a submodule, so not saved with the decoder
        self.decoder = build_decoder(self.encoder, c.levels, c.width, c.blocks, c.condition, source=source)
        if state is not None:
            try:
                self.load_state_dict(state)
            except RuntimeError as e:
                raise CheckpointError(
                    f"weights {c.weights!r} do not fit an AdaIN decoder for {c.encoder} at {c.levels}: {e}",
                    "give the encoder, levels, width, blocks and condition the decoder was trained with",
                ) from None
        self.requires_grad_(False)
        self.eval()

    def _open(self, given: AdaINConfig) -> None:
        """runtime=onnx: the exported model; the options it fixes are taken from it (given ones must agree)."""
        self.exported = Exported(given.weights)
        model = self.exported.config
        for key in ARCHITECTURE:
            if getattr(given, key) is not None and getattr(given, key) != model.get(key):
                raise ConfigError(
                    f"adain: option {key}={getattr(given, key)!r} differs from {model.get(key)!r} in {given.weights}",
                    f"drop {key}; the exported model fixes it, or export again with it",
                )
        self.config = replace(given, **{key: model.get(key) for key in ARCHITECTURE})

    @property
    def encoder(self) -> Encoder:
        if self.exported is not None:
            raise UsageError("adain runtime=onnx has no torch encoder", "use runtime=torch")
        return self._encoder[0]

    @property
    def style_layers(self) -> list[str]:
        """Every layer whose code the decoder reads: the levels, then the condition's."""
        return list(dict.fromkeys([*self.config.levels, *self.config.condition]))

    def stylize(
        self,
        content: torch.Tensor,
        styles: Sequence[torch.Tensor],
        *,
        style_weights: Sequence[float] | None = None,
        progress: ProgressCallback | None = None,
        masks: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Stylise ``content`` (a batch works too); ``masks`` ``[len(styles), 1, H, W]`` give each
        style its region (then ``style_weights`` are not used)."""
        c = self.config
        weights = blend_weights("adain", styles, style_weights)
        content = shrink(content, c.max_size)
        areas = regions("adain", c.masks if masks is None else masks, len(styles), content.shape[-2:])
        if c.palette and areas is not None:
            raise UsageError("adain: palette takes one palette for the whole picture, masks one style per region",
                             "set palette=0 or drop the masks")  # fmt: skip
        base, styles, finish = keep_colors(c.preserve_color, content, [s.to(content) for s in styles])
        if self.exported is None:
            self._place(content.device)
        elif areas is not None:
            raise UsageError("adain: masks need runtime=torch (the exported graph gives one style)", "drop them")
        styles = [shrink(s, c.style_size) for s in styles]
        codes = self.style_codes(styles)
        small = self._work(base)
        if areas is not None:
            areas = resize(areas, small.shape[-2:])
        if self.exported is None:
            out = self.restyle(small, codes, weights, areas)
        else:  # codes blend linearly (graph.py)
            out = self.exported.stylize(small, sum(w * code for w, code in zip(weights, codes)))
        if small is not base:  # clamped first: torch's decoder output is not, the exported graph's is
            out = guided.upsample(out.clamp(0, 1), self._guide(small), self._guide(base), residual=self.residual)
        out = finish(out)
        if c.palette:
            reference = color.palette(styles, weights)
            out = torch.cat([color.take_palette(image, reference, c.palette) for image in out.split(1)])
        if c.frame_blend:  # a batch is consecutive frames
            out = torch.cat([self.frames(f, r) for f, r in zip(content.split(1), out.split(1))])
        if progress is not None:
            progress(1, 1, {})
        return out

    guide: Literal["luminance", "color"] = "luminance"
    """What ``work_size``'s guided upsampling fits the result to: the photo's luminance (a gain and an offset per
    channel: half the maps to enlarge of a 3 x 3 colour matrix, measured in docs/studies/adain-speed.md)."""
    residual = True
    """Add back, plainly enlarged, the low-resolution texture the fit misses (``guided.upsample``)."""

    def _guide(self, image: torch.Tensor) -> torch.Tensor:
        return image if self.guide == "color" else color.to_yiq(image)[:, :1]

    def _work(self, image: torch.Tensor) -> torch.Tensor:
        """``image`` shrunk to ``work_size`` (its shorter side kept at least :data:`MIN_WORK_SIDE`), or itself
        when that is off or would not make it smaller."""
        longer = self.config.work_size
        h, w = image.shape[-2:]
        if longer is None or max(h, w) <= longer:
            return image
        longer = max(longer, round(max(h, w) * min(MIN_WORK_SIDE, h, w) / min(h, w)))
        size = fit_size((h, w), longer)
        return image if size == (h, w) else resize(image, size)

    def style_codes(self, styles: list[torch.Tensor]) -> list[Any]:
        """Each style's code; the last call's are kept, so a folder or a video with one style encodes it once."""
        last, codes = self._last
        if len(last) == len(styles) and all(
            a.shape == b.shape and a.device == b.device and torch.equal(a, b) for a, b in zip(last, styles)
        ):
            return codes
        if self.exported is not None:
            codes = [self.exported.code(s) for s in styles]
        else:
            codes = [style_code(self.encode(s, self.style_layers)) for s in styles]
        self._last = (styles, codes)
        return codes

    def restyle(
        self,
        content: torch.Tensor,
        codes: Sequence[Code],
        weights: Sequence[float],
        areas: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """The decoder's picture (not clamped) of ``content`` given the styles' ``codes``, blended by ``weights``
        or each in its region of ``areas``: framed, encoded, restyled, decoded, cropped back."""
        c = self.config
        framed, crop = self._frame(content)
        if areas is not None:
            areas = self._frame(areas)[0]
        needs_own = c.condition and (c.alpha < 1 or areas is not None)  # the content's code: a deeper encoding
        features = self.encode(framed, self.style_layers if needs_own else c.levels)
        targets = transfer({k: features[k] for k in c.levels}, codes, weights, alpha=c.alpha, regions=areas)
        told = None
        if c.condition:
            own = style_code({k: features[k] for k in c.condition}) if needs_own else None
            size = targets[c.levels[0]].shape[-2:]
            told = decoder_code(codes, weights, c.condition, own=own, alpha=c.alpha, regions=areas, size=size)
        with self._autocast(framed.device):
            decoded = self.decoder(targets, told)
        return crop(decoded.float())

    def onnx_module(self) -> nn.Module:
        """The network as one graph (graph.py says what it takes), for `stylecap export adain`."""
        if self.exported is not None:
            raise UsageError(
                f"adain runs the exported model {self.exported.path} already", "export from runtime=torch weights"
            )
        refuse_run_options(self, RUN_OPTIONS)
        return AdaINGraph(self)

    def _frame(self, image: torch.Tensor):
        """``styling.frame`` with a picture too small for the decoder (a 1 x 80 strip, a 1-px icon) replicated
        out at the bottom and right to two of the decoder's strides, so its coarsest features are at least
        2 x 2 (reflection padding needs that); the crop takes the picture's own pixels back."""
        framed, crop = frame(image, self.decoder.multiple, BORDER)
        least = 2 * self.decoder.multiple
        pad_h, pad_w = max(0, least - framed.shape[-2]), max(0, least - framed.shape[-1])
        if pad_h or pad_w:
            framed = F.pad(framed, (0, pad_w, 0, pad_h), mode="replicate")
        return framed, crop

    def encode(self, image: torch.Tensor, layers: Sequence[str] | None = None) -> dict[str, torch.Tensor]:
        """Encoder features (fp32) of ``layers`` (default: the decoder's levels)."""
        with self._autocast(image.device):
            image = image.contiguous(memory_format=torch.channels_last)
            found = self.encoder.features(image, layers or self.config.levels)
        return {name: f.float() for name, f in found.items()}

    def _place(self, device: torch.device) -> None:
        """Networks on ``device``: the encoder channels-last; the decoder too on a CPU (half the time there),
        but not on a GPU, where its reflection pads and upsampling ran 1.3x slower so (docs/performance.md)."""
        self.encoder.to(device, memory_format=torch.channels_last)
        cpu = device.type == "cpu"
        self.decoder.to(device, memory_format=torch.channels_last if cpu else torch.contiguous_format)

    def _autocast(self, device: torch.device):
        precision = self.config.precision
        if precision == "auto":
            precision = "bf16" if device.type == "cuda" else "fp32"
        dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision)
        return torch.autocast(device.type, dtype=dtype or torch.float32, enabled=dtype is not None)

    def reconstruct(self, image: torch.Tensor) -> torch.Tensor:
        """The decoder's picture of the unchanged features: what alpha=0 gives."""
        self._place(image.device)
        c = self.config
        framed, crop = self._frame(image)
        features = self.encode(framed, self.style_layers)
        told = code_vector(style_code(features), c.condition) if c.condition else None
        with self._autocast(image.device):
            out = self.decoder({k: features[k] for k in c.levels}, told)
        return crop(out.float()).clamp(0, 1)


def build_decoder(
    encoder: Encoder,
    levels: Sequence[str],
    width: int,
    blocks: int = BLOCKS,
    condition: Sequence[str] = (),
    *,
    source: dict[str, str] | None = None,
) -> Decoder:
    """A decoder sized for ``encoder``'s ``levels``, told the code of the ``condition`` layers if any.

    The shape is checked before anything is allocated: known layers, and a decoder whose parameters fit
    in :data:`MAX_DECODER_BYTES`. ``source`` says where each part came from (``{"width": "option width"}``).
    """
    source = source or {}

    def refuse(key: str, problem: str, fix: str) -> None:
        where = source.get(key, f"option {key}")
        error = ConfigError if where.startswith("option") else CheckpointError
        raise error(f"adain: {where} gives {problem}", fix)

    known = list(encoder.layers)
    for key, names in (("levels", levels), ("condition", condition)):
        unknown = [n for n in names if n not in known]
        if unknown:
            refuse(key, f"{key} {unknown} that encoder {encoder.name!r} lacks", f"use layers of {', '.join(known)}")
    if not levels:
        refuse("levels", "no levels", "name at least one encoder layer")
    if not 1 <= width <= MAX_WIDTH or not 0 <= blocks <= MAX_BLOCKS:
        key = "width" if not 1 <= width <= MAX_WIDTH else "blocks"
        refuse(key, f"width {width} and blocks {blocks}", f"width is 1 to {MAX_WIDTH}, blocks 0 to {MAX_BLOCKS}")
    geometry = encoder.geometry([*levels, *condition])
    code_size = 2 * sum(geometry[k][0] for k in condition)
    shape = ({k: geometry[k][0] for k in levels}, {k: geometry[k][1] for k in levels}, width, blocks, code_size)
    try:
        with torch.device("meta"):  # count the parameters without allocating them
            size = sum(p.numel() * 4 for p in Decoder(*shape).parameters())
    except ValueError as e:
        refuse("levels", f"levels {list(levels)} that no decoder fits ({e})", "name one layer per resolution")
    if size > MAX_DECODER_BYTES:
        refuse(
            "width",
            f"a decoder of {size / 2**30:,.1f} GiB (width {width}, blocks {blocks}), "
            f"more than {MAX_DECODER_BYTES >> 30} GiB",
            "use a smaller width or fewer blocks",
        )
    return Decoder(*shape)
