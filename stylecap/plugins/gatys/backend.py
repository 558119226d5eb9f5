"""Gatys style transfer: optimise the picture itself until its encoder statistics match.

The content term keeps the content's deep features, the style term the style images' Gram
matrices, and a small total-variation term keeps the pixels from getting noisy. Optional:
colour preservation, several blended styles, per-region styles (masks), a coarse-to-fine
pyramid and tiles (tiling.py) for large outputs.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch

from stylecap.core import styling
from stylecap.core.component import IMAGE, Encoder, ProgressCallback, StyleBackend
from stylecap.core.config import field
from stylecap.core.host import create
from stylecap.core.imageio import read_image, to_pil, to_tensor, write_image
from stylecap.core.perceptual import PerceptualLoss
from stylecap.core.styling import blend_weights, fit_size, keep_colors, resize, shrink

from .tiling import TiledEncoder

RANGE_WEIGHT = 1e3
"""Weight of the soft [0, 1] pixel constraint: strong enough that the final clamp changes little."""

GRAPH_WARMUP = 3
"""Eager forward/backward passes before a CUDA graph is captured (the optimiser does not move in them)."""

LBFGS_HISTORY, LBFGS_MEMORY = 50, 2**30
"""Steps L-BFGS remembers, fewer if they would take more than that many bytes (two copies of
the picture per step: 50 steps of a 4096-px picture would take 20 GB)."""


@dataclass
class GatysConfig:
    encoder: str = field("efficientnet-lite0", help="registered encoder whose features define content and style")
    encoder_weights: str | None = field(
        None, help="the encoder's weights: a name (imagenet, random) or a file; None: its default"
    )
    content_layers: list[str] | None = field(None, help="layers compared with the content; None: the encoder's")
    style_layers: list[str] | None = field(None, help="layers whose Gram matrices carry style; None: the encoder's")
    style_layer_weights: list[float] | None = field(None, help="weight per style layer; None: equal")
    content_loss: str = field("content", help="registered loss comparing features with the content's (list loss)")
    style_loss: str = field("gram", help="registered loss comparing feature statistics with the style's (list loss)")
    content_weight: float = field(1.0, help="weight of the content term")
    style_weight: float = field(30.0, help="weight of the style term relative to content: more is more painterly")
    tv_weight: float = field(10.0, help="weight of the total-variation term: smooths high-frequency pixel noise")
    extra_losses: list[str] = field(
        [], help="more registered losses against the style, as NAME:WEIGHT (stylecap list loss), e.g. color-moments:10"
    )
    init: str = field("content", help="starting picture: content, noise, or an image file")
    optimizer: Literal["lbfgs", "adam"] = field("lbfgs", help="L-BFGS converges in fewer steps; Adam uses less memory")
    steps: int = field(200, help="optimisation steps (per pyramid level)")
    lr: float = field(0.02, help="Adam learning rate (pixel units per step)")
    seed: int | None = field(None, help="seed of init=noise (same seed, same bytes on CPU); None: torch's global RNG")
    max_size: int | None = field(512, help="longer side of the output in pixels (the content is only shrunk)")
    style_scale: float = field(1.0, help="style images' longer side relative to the output's: smaller = finer strokes")
    preserve_color: Literal["none", "luminance", "histogram"] = field(
        "none", help="keep the content's colours: transfer luminance only, or match style colours to the content"
    )
    masks: list[Path] = field([], help="one grey mask image per style (white = where that style goes)")
    pyramid_levels: int = field(1, help="coarse-to-fine levels, each half the size of the next: large outputs")
    tile_size: int | None = field(
        None, help="run the encoder in tiles of about this many pixels a side so large outputs fit in memory (e.g. 512)"
    )
    precision: Literal["fp32", "bf16"] = field(
        "fp32", help="bf16: encoder under bfloat16 autocast, for GPUs (slower and coarser on CPUs without bf16 units)"
    )
    cuda_graph: bool = field(
        True, help="on CUDA, capture each step's forward and backward once as a CUDA graph and replay it (untiled runs)"
    )
    snapshot_every: int = field(0, help="save the picture in progress to snapshot_dir every N steps")
    snapshot_dir: Path | None = field(None, help="folder for snapshots (step-N.png)")

    def validate(self) -> None:
        for name in ("steps", "pyramid_levels"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1")
        for name in ("content_weight", "style_weight", "tv_weight", "snapshot_every"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative")
        if self.lr <= 0 or self.style_scale <= 0:
            raise ValueError("lr and style_scale must be positive")
        if self.max_size is not None and self.max_size < 16:
            raise ValueError("max_size must be at least 16 pixels")
        if self.tile_size is not None and self.tile_size < 16:
            raise ValueError("tile_size must be at least 16 pixels")
        if self.snapshot_every and self.snapshot_dir is None:
            raise ValueError("snapshot_every needs snapshot_dir")
        for item in self.extra_losses:
            name, sep, weight = item.rpartition(":")
            if not sep or not name:
                raise ValueError(f"extra loss {item!r} is not NAME:WEIGHT")
            float(weight)


class Gatys(StyleBackend):
    """Optimises the picture so its features match the content and its Gram matrices the style.

    Slow (hundreds of encoder passes) but works with any style image and any encoder.
    ``encoder`` overrides ``config.encoder`` with a ready instance.
    """

    name = "gatys"
    Config = GatysConfig

    def __init__(self, config: GatysConfig | None = None, *, encoder: Encoder | None = None):
        super().__init__(config)
        self._encoder = encoder

    @property
    def encoder(self) -> Encoder:
        if self._encoder is None:
            options = {} if self.config.encoder_weights is None else {"weights": self.config.encoder_weights}
            self._encoder = create("encoder", self.config.encoder, **options)
        return self._encoder

    def stylize(
        self,
        content: torch.Tensor,
        styles: Sequence[torch.Tensor],
        *,
        style_weights: Sequence[float] | None = None,
        progress: ProgressCallback | None = None,
        masks: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Stylise ``content``; ``masks`` ``[len(styles), 1, H, W]`` give each style its region
        (then ``style_weights`` are not used)."""
        cfg = self.config
        weights = blend_weights("gatys", styles, style_weights)
        content = shrink(content, cfg.max_size)
        regions = styling.regions("gatys", cfg.masks if masks is None else masks, len(styles), content.shape[-2:])
        if regions is not None:
            weights = list(torch.eye(len(styles), device=content.device))
        base, styles, finish = keep_colors(cfg.preserve_color, content, [s.to(content) for s in styles])

        objective = self._objective(self.encoder.to(content.device).eval())
        sizes = pyramid(content.shape[-2:], cfg.pyramid_levels)
        image = self._init(base, sizes[0])
        for level, size in enumerate(sizes):
            style_size = round(cfg.style_scale * max(size))
            level_styles = [
                (resize(s, fit_size(s.shape[-2:], style_size, grow=True)), w) for s, w in zip(styles, weights)
            ]
            objective.set_targets(
                content=resize(base, size), **{name: level_styles for name in ["style", *self._extra_losses()]}
            )
            objective.losses["style"].masks = None if regions is None else resize(regions, size)
            run = _Run(level * cfg.steps, cfg.steps * len(sizes), progress, finish)
            image = self._optimize(objective, resize(image, size), run)
        return finish(image)

    def _objective(self, encoder: Encoder) -> PerceptualLoss:
        cfg = self.config
        content = create("loss", cfg.content_loss, layers=list(cfg.content_layers or encoder.content_layers))
        style = create("loss", cfg.style_loss, layers=list(cfg.style_layers or encoder.style_layers),
                       layer_weights=cfg.style_layer_weights)  # fmt: skip
        extra = {name: (create("loss", name), weight) for name, weight in self._extra_losses().items()}
        terms = {
            "content": (content, cfg.content_weight),
            "style": (style, cfg.style_weight),
            "tv": (create("loss", "tv"), cfg.tv_weight),
            "range": (create("loss", "range"), RANGE_WEIGHT),
        }
        terms |= extra
        layers = list(dict.fromkeys(layer for loss, _ in terms.values() for layer in loss.layers if layer != IMAGE))
        return PerceptualLoss(TiledEncoder(encoder, layers, tile_size=cfg.tile_size, precision=cfg.precision), terms)

    def _extra_losses(self) -> dict[str, float]:
        """``extra_losses`` as name -> weight; like the Gram term, each is targeted at the styles."""
        return {name: float(weight) for name, _, weight in (i.rpartition(":") for i in self.config.extra_losses)}

    def _init(self, content: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        init = self.config.init
        if init == "content":
            return resize(content, size)
        if init == "noise":
            seed = self.config.seed
            generator = None if seed is None else torch.Generator(content.device).manual_seed(seed)
            return torch.rand((1, 3, *size), generator=generator, device=content.device)
        return resize(to_tensor(read_image(init).rgb).to(content), size)

    def _optimize(self, objective: PerceptualLoss, image: torch.Tensor, run: _Run) -> torch.Tensor:
        cfg = self.config
        x = image.detach().clone().requires_grad_(True)
        if cfg.optimizer == "lbfgs":  # one iteration per step() keeps its history across steps
            history = max(1, min(LBFGS_HISTORY, LBFGS_MEMORY // (2 * x.numel() * x.element_size())))
            optimizer = torch.optim.LBFGS([x], lr=1.0, max_iter=1, history_size=history)
        else:
            optimizer = torch.optim.Adam([x], lr=cfg.lr, fused=x.is_cuda or None)
        scalars: dict[str, torch.Tensor] = {}

        def closure() -> torch.Tensor:
            optimizer.zero_grad()
            total, values = objective(x)
            total.backward()
            scalars.update(loss=total.detach(), **{k: v.detach() for k, v in values.items()})
            return total

        if cfg.cuda_graph and x.is_cuda and cfg.tile_size is None:
            closure = graphed(closure)
        for step in range(run.done + 1, run.done + cfg.steps + 1):
            optimizer.step(closure)
            if run.progress:  # read only when asked: on a GPU each read waits for the step
                run.progress(step, run.total, {k: v.item() for k, v in scalars.items()})
            if cfg.snapshot_every and step % cfg.snapshot_every == 0:
                write_image(Path(cfg.snapshot_dir) / f"step-{step:05d}.png", to_pil(run.finish(x.detach())))
        return x.detach()


def graphed(closure: Callable[[], torch.Tensor]) -> Callable[[], torch.Tensor]:
    """``closure`` (forward and backward, no host reads) captured once as a CUDA graph: each call
    then replays hundreds of kernels as one launch, writing the same loss and gradient tensors.

    Falls back to ``closure`` itself, with a warning, if something in it cannot be captured
    (a plugin loss that reads a value on the host, say).
    """
    stream = torch.cuda.Stream()  # warm-up (lazy set-up, cuDNN choices) off the default stream
    stream.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(stream):
        for _ in range(GRAPH_WARMUP):
            closure()
    torch.cuda.current_stream().wait_stream(stream)
    graph = torch.cuda.CUDAGraph()
    try:
        with torch.cuda.graph(graph):
            total = closure()
    except RuntimeError as error:
        warnings.warn(f"gatys: cannot capture a step as a CUDA graph ({error}); running it eagerly", stacklevel=2)
        return closure

    def replay() -> torch.Tensor:
        graph.replay()
        return total

    return replay


@dataclass
class _Run:
    """Where one pyramid level sits in the whole run, and whom to tell."""

    done: int
    total: int
    progress: ProgressCallback | None
    finish: Callable[[torch.Tensor], torch.Tensor]


def pyramid(size: Sequence[int], levels: int) -> list[tuple[int, int]]:
    """Sizes from coarse to fine, each half the next, ending at ``size``."""
    return [fit_size(size, round(max(size) / 2**k)) for k in reversed(range(levels))]
