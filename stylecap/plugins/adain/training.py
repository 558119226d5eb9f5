"""The ``adain`` trainer: a decoder learns to turn AdaIN-restyled features into pictures.

The encoder stays frozen. Each step restyles a batch of content crops with a batch of style
crops (pair i with pair i), decodes, re-encodes the result and asks for (Huang & Belongie 2017)
its deepest features to match the AdaIN target (content loss) and its channel means and
deviations at the style layers to match the style's (style loss). Optionally its colours match the
style crop's as a distribution (colour loss): the style loss alone leaves a photo's palette in place.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

import torch
import torch.nn.functional as F
from PIL import Image
from torchvision.utils import make_grid

from stylecap.core.color import to_yiq, turn_hue
from stylecap.core.component import Trainer
from stylecap.core.config import field
from stylecap.core.errors import ConfigError
from stylecap.core.host import create
from stylecap.core.imageio import find_images, to_pil
from stylecap.core.training.config import Schedule, TrainConfig
from stylecap.core.training.data import seeded
from stylecap.core.training.images import UnpairedImages

from .backend import BLOCKS, ENCODER, LEVELS, SHIPPED, WIDTH, AdaIN, AdaINConfig, build_decoder
from .decoder import Decoder
from .statistics import code_vector, mean_std, style_code, transfer


@dataclass
class AdaINTrainConfig(TrainConfig):
    content: Path | None = field(None, help="folder of content pictures (photos)")
    style: Path | None = field(None, help="folder of style pictures (paintings)")
    load_size: int = field(320, help="pictures are resized so their shorter side is this, then cropped")
    crop_size: int = field(256, help="side of the random square crops trained on")
    flip: bool = field(True, help="flip crops left-right at random")
    encoder: str = field(ENCODER, help="registered encoder, frozen (stylecap list encoder)")
    encoder_weights: str | None = field(None, help="the encoder's weights (name or file); None: its default")
    levels: list[str] = field(LEVELS, help="encoder layers restyled and decoded, deepest first (one per resolution)")
    width: int = field(WIDTH, help="decoder channels at full resolution (doubled per halving, up to 8x)")
    blocks: int = field(BLOCKS, help="decoder residual blocks at the deepest level (more depth where it is cheap)")
    init: str | None = field(
        None, help=f"start from a trained decoder of this shape: {SHIPPED} (shipped), a .safetensors, or None (random)"
    )
    style_layers: list[str] | None = field(None, help="layers whose means and deviations carry style; None: encoder's")
    condition: list[str] = field(
        [], help="style layers whose code the decoder is told (FiLM, docs/adain.md): none, or e.g. stem,stage1,stage4"
    )
    content_weight: float = field(1.0, help="weight of the content loss (deepest level against the AdaIN target)")
    style_weight: float = field(10.0, help="weight of the style loss (mean and std over the style layers)")
    color_weight: float = field(
        0.0, help="weight of the colour loss (sliced Wasserstein distance of the RGB colours to the style's); 0: off"
    )
    color_space: Literal["rgb", "chroma"] = field(
        "rgb", help="what the colour loss compares: rgb (lightness too), or chroma (YIQ's I and Q, not lightness)"
    )
    style_jitter: float = field(
        0.0,
        help="recolour each style crop at random (hue turned by up to this x 180 degrees, colourfulness scaled by up to"
        " 2**this either way), so the decoder meets many palettes; 0: off",
    )
    lr: float = field(1e-4, help="Adam learning rate")
    batch_size: int = field(8, help="global batch size")
    lr_schedule: Schedule = field("cosine", help="learning-rate factor over the run: constant, linear, cosine, ...")

    def validate(self) -> None:
        super().validate()
        for name in ("content", "style"):
            if getattr(self, name) is None:
                raise ValueError(f"{name} is required: a folder of pictures")
        if not 16 <= self.crop_size <= self.load_size:
            raise ValueError(f"crop_size must be from 16 to load_size ({self.load_size}), not {self.crop_size}")
        if min(self.content_weight, self.style_weight, self.color_weight) < 0 or self.lr <= 0:
            raise ValueError("content_weight, style_weight and color_weight must not be negative, lr must be positive")
        if not 0 <= self.style_jitter <= 1:
            raise ValueError(f"style_jitter must be from 0 to 1, not {self.style_jitter}")
        if not self.levels:
            raise ValueError("levels must name at least one encoder layer")
        if self.blocks < 0:
            raise ValueError(f"blocks must not be negative, not {self.blocks}")
        if self.init not in (None, SHIPPED) and not Path(self.init).is_file():
            raise ValueError(f"init {self.init!r} is neither {SHIPPED!r} nor a decoder file (.safetensors)")


def color_distance(image: torch.Tensor, style: torch.Tensor, directions: int = 32) -> torch.Tensor:
    """Sliced Wasserstein-1 distance between the colours of each picture ``[B, C, H, W]`` and of its style
    ``[B, C, h, w]`` (RGB, or any channels), mean over the batch: the mean gap between sorted projections on
    random directions (from torch's RNG, so a resumed run draws the same). Zero for the same colours in any
    arrangement; unlike the style loss's means and deviations it sees the palette's shape (which colours, how
    much of each)."""
    axes = F.normalize(torch.randn(image.shape[1], directions, device=image.device), dim=0)
    ours, theirs = (torch.einsum("bcn,cd->bdn", x.float().flatten(2), axes).sort(-1).values for x in (image, style))
    if theirs.shape[-1] != ours.shape[-1]:  # the style's quantiles at the picture's pixel count
        theirs = F.interpolate(theirs, size=ours.shape[-1], mode="linear", align_corners=True)
    return (ours - theirs).abs().mean()


class AdaINTrainer(Trainer):
    """Trains an AdaIN decoder for a frozen encoder on folders of photos and paintings."""

    name = "adain"
    target = "style"
    Config = AdaINTrainConfig

    def build(self, engine: Any) -> None:
        c = self.config
        options = {} if c.encoder_weights is None else {"weights": c.encoder_weights}
        self.encoder = create("encoder", c.encoder, **options)
        self.style_layers = list(c.style_layers or self.encoder.style_layers)
        decoder = build_decoder(self.encoder, c.levels, c.width, c.blocks, c.condition)
        if c.crop_size % decoder.multiple:
            raise ConfigError(
                f"trainer 'adain': crop_size {c.crop_size} does not divide by {decoder.multiple} (levels {c.levels})",
                f"use a crop_size that is a multiple of {decoder.multiple}",
            )
        content, style = find_images([c.content]), find_images([c.style])
        self.dataset = UnpairedImages(content, style, c.load_size, c.crop_size, c.flip)
        self.encoder.to(engine.device)
        fitted = False  # the condition's standardisation, which a conditioned start brings along
        if c.init is not None:  # fine-tuning: the backend checks the weights fit this shape, the condition aside
            start = AdaIN(replace(self.backend_config(c.init), condition=None), encoder=self.encoder)
            fitted = bool(start.config.condition)
            if fitted and start.config.condition != list(c.condition):
                layers = ",".join(start.config.condition)
                raise ConfigError(f"init {c.init!r} is a conditioned decoder", f"train with --condition {layers}")
            decoder.load_state_dict(start.decoder.state_dict(), strict=fitted)
        if decoder.condition is not None and not fitted:
            self.fit_condition(decoder, engine)
        self.models = {"decoder": decoder}
        self.optimizers = {"decoder": torch.optim.Adam(decoder.parameters(), lr=c.lr)}

    def fit_condition(self, decoder: Decoder, engine: Any, count: int = 64) -> None:
        """Standardise the decoder's style codes by those of ``count`` training style crops (seeded)."""
        with seeded(self.config.seed), torch.no_grad():
            crops = [self.dataset.load(self.dataset.b[i % len(self.dataset.b)]) for i in range(count)]
            codes = [
                code_vector(style_code(self.encoder.features(batch, self.config.condition)), self.config.condition)
                for batch in engine.to_device(torch.stack(crops).split(16))
            ]
        decoder.condition.fit(torch.cat(codes).cpu())

    def losses(self, content: torch.Tensor, style: torch.Tensor, engine: Any) -> dict[str, torch.Tensor]:
        c = self.config
        deepest = c.levels[0]
        with torch.no_grad():
            features = self.encoder.features(content, c.levels)
            layers = list(dict.fromkeys([*self.style_layers, *c.levels, *c.condition]))
            code = style_code(self.encoder.features(style, layers))
            targets = transfer(features, [{k: code[k] for k in c.levels}], [1.0])
            told = code_vector(code, c.condition) if c.condition else None
        with engine.autocast():
            out = self.models["decoder"](targets, told)
            got = self.encoder.features(out, list(dict.fromkeys([*self.style_layers, deepest])))
        content_loss = F.mse_loss(got[deepest].float(), targets[deepest])
        style_loss = sum(
            F.mse_loss(m, code[k][0]) + F.mse_loss(s, code[k][1])
            for k in self.style_layers
            for m, s in [mean_std(got[k])]
        )
        return {"content": content_loss, "style": style_loss, "out": out}

    def train_step(self, batch: Any, engine: Any) -> dict[str, torch.Tensor]:
        c = self.config
        content, style = batch
        if c.style_jitter:  # off: nothing drawn, so runs without it are as before
            angle = (torch.rand(len(style), device=style.device) * 2 - 1) * torch.pi * c.style_jitter
            chroma = 2 ** ((torch.rand(len(style), device=style.device) * 2 - 1) * c.style_jitter)
            style = turn_hue(style, angle, chroma)
        parts = self.losses(content, style, engine)
        logged = {"content": parts["content"], "style": parts["style"]}
        if c.color_weight:  # off: no random directions drawn, so runs without it are as before
            out = parts["out"]
            if c.color_space == "chroma":
                out, style = to_yiq(out)[:, 1:], to_yiq(style)[:, 1:]
            logged["color"] = color_distance(out, style)
        weights = {"content": c.content_weight, "style": c.style_weight, "color": c.color_weight}
        loss = sum(weights[k] * v for k, v in logged.items())
        engine.optimize("decoder", loss)
        return {"loss": loss, **logged}

    def sample(self, engine: Any) -> Image.Image:
        """Rows of content, style, result on the first four pairs."""
        with seeded(0):
            pairs = [self.dataset[i % len(self.dataset)] for i in range(4)]
        content, style = engine.to_device([torch.stack([p[i] for p in pairs]) for i in (0, 1)])
        with torch.no_grad():
            out = self.losses(content, style, engine)["out"].float().clamp(0, 1)
        grid = torch.stack([content, style, out], 1).flatten(0, 1)
        return to_pil(make_grid(grid, nrow=3, padding=2, pad_value=1))

    def backend_config(self, weights: str | None) -> AdaINConfig:
        """The backend's config for a decoder of this run's shape."""
        c = self.config
        shape = {"levels": list(c.levels), "width": c.width, "blocks": c.blocks, "condition": list(c.condition)}
        return AdaINConfig(weights=weights, encoder=c.encoder, encoder_weights=c.encoder_weights, **shape)

    def export(self) -> AdaIN:
        backend = AdaIN(self.backend_config(None), encoder=self.encoder)
        backend.decoder.load_state_dict(self.models["decoder"].state_dict())
        return backend
