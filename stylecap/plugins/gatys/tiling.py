"""The encoder as Gatys runs it: framed by a reflected border, batch norm folded, tile by tile if asked.

The Gram matrix needs all of a layer's features at once, so the loss cannot be split over
tiles. Instead the forward pass stitches each tile's features (its core: an overlapping margin
only gives the core its receptive field) into whole feature maps without keeping a graph, the
losses run on those maps as usual, and the backward pass runs the encoder again tile by tile,
feeding each tile its slice of ∂loss/∂features. Memory: the whole feature maps and one tile's
graph, instead of the whole picture's graph. The gradient is exact for the stitched features,
which equal the untiled ones wherever the margin covers the receptive field.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from typing import Literal

import torch
from torch.nn import functional as F

from stylecap.core.component import Encoder, Features
from stylecap.core.errors import UsageError

BORDER = 8
"""Reflected pixels around the picture. Without them the zero padding of the encoder's strided
convolutions lets the rows along an edge drift to saturated colours (docs/studies/gatys.md, "Edges")."""

PROBE = 64
"""Side of the blank picture whose feature sizes give each layer's stride."""

Box = tuple[int, int, int, int]
"""Rows ``[top, bottom)`` and columns ``[left, right)`` in pixels of the framed picture."""


class TiledEncoder(Encoder):
    """``encoder``'s features of a picture framed by ``BORDER`` reflected pixels, cropped back to it.

    The framed picture's sides are multiples of every stride of ``layers`` (the only layers it
    serves), so a tile starting at such a multiple samples exactly the grid of the whole.
    ``tile_size``: compute the features in tiles of about that many pixels a side, each widened
    by ``margin`` pixels of overlap (default: 4 deepest strides); ``None``: in one piece.
    ``precision="bf16"`` runs the encoder under bfloat16 autocast (the losses stay fp32).
    """

    name = "tiled"

    def __init__(
        self,
        encoder: Encoder,
        layers: Sequence[str],
        *,
        tile_size: int | None = None,
        margin: int | None = None,
        precision: Literal["fp32", "bf16"] = "fp32",
    ):
        super().__init__()
        self.encoder = encoder.folded()
        self.layers = tuple(layers)
        self.tile_size, self.margin, self.precision = tile_size, margin, precision
        self.strides: dict[str, int] = {}

    def _setup(self, device: torch.device) -> None:
        """Each layer's stride, from the feature sizes of a blank picture; the tile grid; the channels-last layout."""
        # Channels-last convolutions are faster on tensor cores and in oneDNN on a CPU (docs/studies/gatys.md).
        self.encoder.to(memory_format=torch.channels_last)
        with torch.no_grad():
            probe = self.run(torch.zeros(1, 3, PROBE, PROBE, device=device), self.layers)
        for name, feature in probe.items():
            if feature.dim() != 4:
                raise UsageError(f"gatys compares feature maps, and layer {name!r} is not one", "choose other layers")
            self.strides[name] = PROBE // feature.shape[-1]
        self.unit = math.lcm(*self.strides.values())
        self.margin = 4 * self.unit if self.margin is None else -(-self.margin // self.unit) * self.unit

    def run(self, image: torch.Tensor, layers: Sequence[str]) -> Features:
        """One encoder pass, in the chosen precision and layout; fp32 features."""
        image = image.contiguous(memory_format=torch.channels_last)
        bf16 = self.precision == "bf16"  # no weight-cast cache: a CUDA graph cannot keep one across replays
        with torch.autocast(image.device.type, dtype=torch.bfloat16, enabled=bf16, cache_enabled=False):
            features = self.encoder.features(image, layers)
        return {name: feature.float() for name, feature in features.items()}

    def features(self, image: torch.Tensor, layers: Sequence[str]) -> Features:
        if not self.strides:
            self._setup(image.device)
        h, w = image.shape[-2:]
        b = BORDER
        framed = F.pad(image, [b] * 4, mode="reflect" if min(h, w) > b else "replicate")
        framed = F.pad(framed, [0, -framed.shape[-1] % self.unit, 0, -framed.shape[-2] % self.unit], mode="replicate")
        layers = tuple(layers)
        boxes = self.boxes(framed.shape[-2:])
        if len(boxes) == 1:
            maps = self.run(framed, layers)
        else:
            maps = dict(zip(layers, _Stitch.apply(self, layers, boxes, framed)))
        return {name: feature[_cut((b, b + h, b, b + w), self.strides[name])] for name, feature in maps.items()}

    def boxes(self, size: Sequence[int]) -> list[tuple[Box, Box]]:
        """(window, core) boxes covering the framed picture: equal cores of about ``tile_size``
        pixels a side, windows ``margin`` wider each way (clipped to the picture)."""
        if self.tile_size is None:
            return [((0, size[0], 0, size[1]), (0, size[0], 0, size[1]))]
        rows, cols = (list(self._spans(n)) for n in size)
        return [((*wy, *wx), (*cy, *cx)) for wy, cy in rows for wx, cx in cols]

    def _spans(self, size: int) -> Iterator[tuple[tuple[int, int], tuple[int, int]]]:
        count = max(1, round(size / self.tile_size))
        core = -(-size // (count * self.unit)) * self.unit
        for start in range(0, size, core):
            end = min(size, start + core)
            yield (max(0, start - self.margin), min(size, end + self.margin)), (start, end)


def _cut(box: Box, stride: int, origin: Box = (0, 0, 0, 0)) -> tuple:
    """Index of the feature pixels (at ``stride``) of pixel ``box``, in a map that starts at ``origin``.

    Rounding outwards keeps every feature pixel that sees the box; on stride multiples it is exact.
    """
    (top, bottom, left, right), (y, x) = box, origin[::2]
    return (
        ...,
        slice((top - y) // stride, -(-(bottom - y) // stride)),
        slice((left - x) // stride, -(-(right - x) // stride)),
    )


class _Stitch(torch.autograd.Function):
    """Whole feature maps from tiles, without a graph; the backward pass recomputes one tile at a time."""

    @staticmethod
    def forward(ctx, tiler: TiledEncoder, layers: tuple[str, ...], boxes: list[tuple[Box, Box]], framed: torch.Tensor):
        ctx.tiler, ctx.layers, ctx.boxes = tiler, layers, boxes
        ctx.save_for_backward(framed)
        maps: dict[str, torch.Tensor] = {}
        for window, core in boxes:
            features = tiler.run(framed[_cut(window, 1)], layers)
            for name, feature in features.items():
                s = tiler.strides[name]
                if name not in maps:
                    maps[name] = feature.new_empty(*feature.shape[:2], *(n // s for n in framed.shape[-2:]))
                maps[name][_cut(core, s)] = feature[_cut(core, s, window)]
        return tuple(maps[name] for name in layers)

    @staticmethod
    def backward(ctx, *grads: torch.Tensor):
        (framed,) = ctx.saved_tensors
        tiler, grad = ctx.tiler, torch.zeros_like(framed)
        for window, core in ctx.boxes:
            tile = framed[_cut(window, 1)].detach().requires_grad_(True)
            with torch.enable_grad():
                features = tiler.run(tile, ctx.layers)
                cores = [features[name][_cut(core, tiler.strides[name], window)] for name in ctx.layers]
            torch.autograd.backward(cores, [g[_cut(core, tiler.strides[name])] for g, name in zip(grads, ctx.layers)])
            grad[_cut(window, 1)] += tile.grad
        return None, None, None, grad
