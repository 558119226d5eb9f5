"""Gatys style transfer: optimise the picture itself until its encoder statistics match.

The content term keeps the content's deep features, the style term the style images' Gram
matrices, and a small total-variation term keeps the pixels from getting noisy. Optional:
colour preservation, several blended styles, per-region styles (masks), a coarse-to-fine
pyramid and tiles (tiling.py) for large outputs.

The picture is optimised as a sum of ``scales`` pictures, each half the size of the next (a
Laplacian-pyramid parametrisation), from the photo in the styles' colours: the same objective, but the
optimiser moves broad areas as readily as single pixels (in colour only as readily as the styles are
colourful) and starts nearer: 60 steps reach about the loss that 200 plain steps from the photo did
(docs/studies/gatys.md, "Time to quality").
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch
from torch.nn import functional as F

from stylecap.core import color, styling
from stylecap.core.component import IMAGE, Encoder, ProgressCallback, StyleBackend
from stylecap.core.config import field
from stylecap.core.host import create
from stylecap.core.imageio import check_size, read_image, to_pil, to_tensor, write_image
from stylecap.core.perceptual import PerceptualLoss
from stylecap.core.styling import blend_weights, fit_size, keep_colors, resize, shrink

from .tiling import TiledEncoder

GRAPH_WARMUP = 3
"""Eager forward/backward passes before a CUDA graph is captured (the optimiser does not move in them)."""

STOP_WINDOW = 10
"""Steps over which ``tolerance`` compares the best loss so far."""

LINE_SEARCH_EVALS = 25
"""Most loss evaluations one L-BFGS step may make with ``line_search="strong_wolfe"``."""

UNDEFINED = 10.0
"""Where a term is not finite, the line search sees this many times the last finite loss (with no
gradient): a clear rise it steps back from, small enough for its cubic interpolation in float32."""

LBFGS_MEMORY = 2**30
"""Bytes L-BFGS's history may take: fewer steps are remembered if ``lbfgs_history`` would take more
(two copies of the parameters per step: 50 steps of a 4096-px picture would take 20 GB)."""


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
    range_weight: float = field(
        1e4, help="weight of the soft [0, 1] pixel constraint (pixels are clamped once, at the end): enough that "
        "the clamp changes little",
    )  # fmt: skip
    extra_losses: list[str] = field(
        [], help="more registered losses against the style, as NAME:WEIGHT (stylecap list loss), e.g. color-moments:10"
    )
    init: str = field(
        "style-colors",
        help="starting picture: style-colors (the content in the styles' colour mean and covariance), content, "
        "adain (the adain backend's result), noise, or an image file",
    )
    optimizer: Literal["lbfgs", "adam"] = field("lbfgs", help="L-BFGS converges in fewer steps; Adam uses less memory")
    steps: int = field(60, help="optimisation steps (per pyramid level): the budget, if tolerance stops no sooner")
    scales: int = field(
        4, help="optimise the picture as a sum of this many resolutions, each half the next: fewer steps for the "
        "same loss; 1: plain pixels",
    )  # fmt: skip
    coarse_color: float | None = field(
        None, help="how readily the coarser scales change colour (their YIQ colour channels are scaled by this; "
        "0: lightness only); None: by the styles' colourfulness, 0 for grey styles to 1 for highly colourful ones",
    )  # fmt: skip
    tolerance: float = field(
        0.01, help=f"stop when the best loss fell by less than this fraction over {STOP_WINDOW} steps; 0: run all steps"
    )
    line_search: Literal["none", "strong_wolfe"] = field(
        "strong_wolfe",
        help="L-BFGS step length: strong_wolfe (a line search, about one encoder pass a step) or none (unit steps)",
    )
    lbfgs_history: int = field(20, help="steps L-BFGS remembers (its memory: two copies of the picture each)")
    lr: float = field(0.01, help="Adam learning rate (pixel units per step)")
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
        for name in ("steps", "pyramid_levels", "scales", "lbfgs_history"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1")
        if not 0 <= self.tolerance < 1:
            raise ValueError(f"tolerance must be at least 0 and below 1, not {self.tolerance}")
        for name in ("content_weight", "style_weight", "tv_weight", "range_weight", "coarse_color", "snapshot_every"):
            if (getattr(self, name) or 0) < 0:
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
        self._adain: StyleBackend | None = None

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
        colours = color.palette(styles, None if regions is not None else [float(w) for w in weights])
        image = self._init(base, styles, weights, regions, colours, sizes[0])
        coarse_color = cfg.coarse_color
        if coarse_color is None:  # grey styles: broad areas drift into colour blotches (docs/studies/gatys.md)
            coarse_color = min(1.0, color.colorfulness(colours) / color.COLORFUL)
        for level, size in enumerate(sizes):
            objective.set_targets(
                content=resize(base, size),
                **{name: self._styles(styles, weights, size) for name in ["style", *self._extra_losses()]},
            )
            objective.losses["style"].masks = None if regions is None else resize(regions, size)
            run = _Run(level * cfg.steps, cfg.steps * len(sizes), progress, finish, last=level == len(sizes) - 1)
            image = self._optimize(objective, resize(image, size), coarse_color, run)
        return finish(image)

    def _styles(self, styles: Sequence[torch.Tensor], weights: Sequence, size: Sequence[int]) -> list[tuple]:
        """(style, weight) pairs, each style resized to ``style_scale`` times the longer side of ``size``."""
        longer = round(self.config.style_scale * max(size))
        sizes = [fit_size(s.shape[-2:], longer, grow=True) for s in styles]
        for height, width in sizes:  # before a style of, say, 100x the output's size takes all the memory
            check_size(height, width, f"style_scale={self.config.style_scale}", "use a smaller style_scale")
        return [(resize(s, fitted), w) for s, fitted, w in zip(styles, sizes, weights)]

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
            "range": (create("loss", "range"), cfg.range_weight),
        }
        terms |= extra
        layers = list(dict.fromkeys(layer for loss, _ in terms.values() for layer in loss.layers if layer != IMAGE))
        return PerceptualLoss(TiledEncoder(encoder, layers, tile_size=cfg.tile_size, precision=cfg.precision), terms)

    def _extra_losses(self) -> dict[str, float]:
        """``extra_losses`` as name -> weight; like the Gram term, each is targeted at the styles."""
        return {name: float(weight) for name, _, weight in (i.rpartition(":") for i in self.config.extra_losses)}

    def _init(
        self,
        content: torch.Tensor,
        styles: Sequence[torch.Tensor],
        weights: Sequence,
        regions: torch.Tensor | None,
        colours: torch.Tensor,
        size: tuple[int, int],
    ) -> torch.Tensor:
        init = self.config.init
        if init == "content":
            return resize(content, size)
        if init == "style-colors":  # a start nearer the style's statistics: fewer steps (docs/studies/gatys.md)
            return resize(color.take_moments(content, colours), size)
        if init == "adain":  # the feed-forward result for the same styles, blend or regions
            if self._adain is None:
                self._adain = create("style", "adain", max_size=None)
            pairs = self._styles(styles, weights, content.shape[-2:])
            blend = None if regions is not None else [float(w) for _, w in pairs]
            with torch.no_grad():
                out = self._adain.stylize(content, [s for s, _ in pairs], style_weights=blend, masks=regions)
            return resize(out.float().contiguous(), size)
        if init == "noise":
            seed = self.config.seed
            generator = None if seed is None else torch.Generator(content.device).manual_seed(seed)
            return torch.rand((1, 3, *size), generator=generator, device=content.device)
        return resize(to_tensor(read_image(init).rgb).to(content), size)

    def _optimize(self, objective: PerceptualLoss, image: torch.Tensor, coarse_color: float, run: _Run) -> torch.Tensor:
        cfg = self.config
        picture = Scales(image, cfg.scales, coarse_color)
        params = picture.params
        if cfg.optimizer == "lbfgs":  # one iteration per step() keeps its history across steps
            size = sum(p.numel() for p in params) * image.element_size()
            history = max(1, min(cfg.lbfgs_history, LBFGS_MEMORY // (2 * size)))
            search = cfg.line_search == "strong_wolfe"
            optimizer = torch.optim.LBFGS(
                params, lr=1.0, max_iter=1, max_eval=LINE_SEARCH_EVALS if search else None, history_size=history,
                line_search_fn="strong_wolfe" if search else None,
            )  # fmt: skip
        else:
            optimizer = torch.optim.Adam(params, lr=cfg.lr, fused=image.is_cuda or None)
        scalars: dict[str, torch.Tensor] = {}

        def closure() -> torch.Tensor:
            optimizer.zero_grad()
            total, values = objective(picture())
            total.backward()
            scalars.update(loss=total.detach(), **{k: v.detach() for k, v in values.items()})
            return total

        if cfg.cuda_graph and image.is_cuda and cfg.tile_size is None:
            closure = graphed(closure)
        if cfg.optimizer == "lbfgs" and cfg.line_search != "none":
            closure = remembered(closure, params, scalars)
        stop = Stop(cfg.tolerance)
        for step in range(run.done + 1, run.done + cfg.steps + 1):
            optimizer.step(closure)
            done = cfg.tolerance > 0 and stop(scalars["loss"].item())
            if run.progress:  # read only when asked: on a GPU each read waits for the step
                total = step if done and run.last else run.total  # stopped: the bar ends full
                run.progress(step, total, {k: v.item() for k, v in scalars.items()})
            if cfg.snapshot_every and step % cfg.snapshot_every == 0:
                write_image(Path(cfg.snapshot_dir) / f"step-{step:05d}.png", to_pil(run.finish(picture().detach())))
            if done:
                break
        with torch.no_grad():
            return picture().detach()


class Scales:
    """The picture as a sum of ``count`` tensors, each half the size of the next: from the coarsest,
    each is upsampled (bilinear) onto the next and added, a Laplacian-pyramid parametrisation.

    The finest starts as ``image`` and the others at zero, so it starts as the same picture and
    optimises the same objective; but a gradient step moves each coarse tensor by the sum of its
    area's pixel gradients, so broad areas change as readily as single pixels (a preconditioner).
    The coarse tensors hold luminance and colour (YIQ), their colour scaled by ``coarse_color``: with
    the styles' colours already in the start, broad areas then change mostly in lightness and texture,
    and do not drift into blotches of colour that a grey style's Gram terms barely see.
    """

    def __init__(self, image: torch.Tensor, count: int, coarse_color: float = 1.0):
        size = tuple(image.shape[-2:])
        coarse = [fit_size(size, max(1, round(max(size) / 2**k))) for k in range(1, count)]
        self.params = [image.detach().clone().requires_grad_(True)]
        self.params += [image.new_zeros((*image.shape[:2], *s)).requires_grad_(True) for s in coarse]
        # on the picture's device once: a host-to-device copy inside a step would break CUDA graph capture
        self.mix = color.YIQ_TO_RGB.to(image) * image.new_tensor([1.0, coarse_color, coarse_color])

    def __call__(self) -> torch.Tensor:
        finest, *coarse = self.params
        if not coarse:
            return finest
        picture = coarse[-1]
        for finer in reversed(coarse[:-1]):  # one upsampling to full size, not one per tensor: half the time
            picture = finer + F.interpolate(picture, size=finer.shape[-2:], mode="bilinear", align_corners=False)
        picture = torch.einsum("ij,bjhw->bihw", self.mix, picture)  # to RGB, the colour scaled
        return finest + F.interpolate(picture, size=finest.shape[-2:], mode="bilinear", align_corners=False)


class Stop:
    """The stop rule: true once the best loss so far fell by less than ``tolerance`` (a fraction)
    over the last ``STOP_WINDOW`` steps. The best loss, not the last: L-BFGS's unit steps
    sometimes go up for a step."""

    def __init__(self, tolerance: float, window: int = STOP_WINDOW):
        self.tolerance, self.window, self.best = tolerance, window, []

    def __call__(self, loss: float) -> bool:
        self.best.append(min(loss, self.best[-1]) if self.best else loss)
        if len(self.best) <= self.window:
            return False
        before = self.best[-1 - self.window]
        return before - self.best[-1] <= self.tolerance * abs(before)


def remembered(
    closure: Callable[[], torch.Tensor], params: Sequence[torch.Tensor], scalars: dict[str, torch.Tensor]
) -> Callable[[], torch.Tensor]:
    """``closure`` that skips the encoder when the parameters are those of its last call (and
    puts back that call's gradients and ``scalars``): L-BFGS with a line search evaluates the
    accepted point again at the start of each step. A point where the loss is not finite reads as
    ``UNDEFINED`` times the last finite loss, with no gradient, so the line search takes a shorter
    step instead of accepting it (``scalars`` keep the last finite values)."""
    last: dict = {}
    finite: dict[str, torch.Tensor] = {}

    def call() -> torch.Tensor:
        if last and all(torch.equal(p.detach(), q) for p, q in zip(params, last["x"])):
            for p, g in zip(params, last["grad"]):
                if p.grad is None:
                    p.grad = g.clone()
                else:  # in place: a CUDA graph writes its gradients into these very tensors
                    p.grad.copy_(g)
            scalars.update(last["scalars"])
            return last["loss"]
        loss = closure()
        if torch.isfinite(loss):
            finite.update({k: v.clone() for k, v in scalars.items()})
        else:  # a term undefined there (the log of a negative pixel, say)
            loss = UNDEFINED * finite["loss"].abs() if finite else torch.full_like(loss, UNDEFINED)
            for p in params:
                if p.grad is not None:
                    p.grad.zero_()
            scalars.update(finite)
        last.update(x=[p.detach().clone() for p in params], loss=loss.detach().clone(), scalars=dict(scalars))
        last["grad"] = [torch.zeros_like(p) if p.grad is None else p.grad.clone() for p in params]
        return loss

    return call


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
    last: bool = True


def pyramid(size: Sequence[int], levels: int) -> list[tuple[int, int]]:
    """Sizes from coarse to fine, each half the next, ending at ``size``."""
    return [fit_size(size, round(max(size) / 2**k)) for k in reversed(range(levels))]
