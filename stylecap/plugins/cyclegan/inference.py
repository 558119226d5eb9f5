"""Running a generator on pictures of any size: padding to its stride, and overlapping tiles.

Instance norm makes a generator's output depend on the whole picture, so naive tiles would
each be normalised differently and show seams. Large pictures are therefore translated in two
passes: one over the picture shrunk to a tile, which fixes every instance-norm layer's
statistics, then the tiles at full size with those statistics shared. The tiles overlap and
are blended with weights that are zero near their inner edges, where their padding differs
from the real neighbourhood.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

import torch
from torch import nn

from stylecap.core.styling import run_padded, shrink


@contextlib.contextmanager
def shared_statistics(net: nn.Module, reference: torch.Tensor) -> Iterator[None]:
    """Within the block, every instance norm of ``net`` uses the statistics it measured on ``reference``.

    With them fixed, instance norm is a per-channel affine map and the network is truly
    convolutional: a tile's output no longer depends on what else is in the tile.
    """
    norms = [m for m in net.modules() if isinstance(m, nn.InstanceNorm2d) and not m.track_running_stats]
    stats: dict[nn.Module, tuple[torch.Tensor, torch.Tensor]] = {}

    def record(module, args):
        stats[module] = torch.var_mean(args[0], dim=(2, 3), keepdim=True, correction=0)

    def replay(module, args, output):
        var, mean = stats[module]
        y = (args[0] - mean) * torch.rsqrt(var + module.eps)
        return y * module.weight[:, None, None] + module.bias[:, None, None] if module.affine else y

    handles = [m.register_forward_pre_hook(record) for m in norms]
    try:
        run_padded(net, reference)
    finally:
        for handle in handles:
            handle.remove()
    handles = [m.register_forward_hook(replay) for m in norms]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


def blend_weights(start: int, length: int, size: int, overlap: int) -> torch.Tensor:
    """1-D weights of one tile: 0 within ``overlap/4`` of an inner edge, rising to 1 at ``3*overlap/4``.

    Neighbouring tiles' weights sum to one across a regular overlap; edges on the picture's
    border keep weight 1.
    """
    quarter = overlap / 4
    d = torch.arange(length, dtype=torch.float32) + 0.5
    w = torch.ones(length)
    if start > 0:
        w = torch.minimum(w, ((d - quarter) / (2 * quarter)).clamp(0, 1))
    if start + length < size:
        w = torch.minimum(w, ((length - d - quarter) / (2 * quarter)).clamp(0, 1))
    return w


def starts(size: int, tile: int, overlap: int) -> list[int]:
    """Tile offsets along one side: a stride of ``tile - overlap``, the last tile flush with the end."""
    if size <= tile:
        return [0]
    return [*range(0, size - tile, tile - overlap), size - tile]


def translate(
    net: nn.Module,
    image: torch.Tensor,
    *,
    tile: int | None,
    overlap: int,
    progress: Callable[[int, int, dict[str, float]], None] | None = None,
) -> torch.Tensor:
    """``net`` applied to ``image`` (``[N, 3, H, W]``); pictures larger than ``tile`` (not None) go in
    tiles that share the statistics of the whole picture shrunk to one tile."""
    if tile is None or max(image.shape[-2:]) <= tile:
        return run_padded(net, image)
    with shared_statistics(net, shrink(image, tile)):
        return tiled(net, image, tile=tile, overlap=overlap, progress=progress)


def tiled(
    net: nn.Module,
    image: torch.Tensor,
    *,
    tile: int,
    overlap: int,
    progress: Callable[[int, int, dict[str, float]], None] | None = None,
) -> torch.Tensor:
    """``net`` applied tile by tile, the tiles blended; exact for a fully convolutional ``net``
    whose receptive field reaches less than ``overlap/4`` pixels."""
    h, w = image.shape[-2:]
    th, tw = min(tile, h), min(tile, w)
    boxes = [(y, x) for y in starts(h, tile, overlap) for x in starts(w, tile, overlap)]
    out = torch.zeros_like(image)
    total = torch.zeros(1, 1, h, w, dtype=image.dtype, device=image.device)
    for i, (y, x) in enumerate(boxes):
        weight = torch.outer(blend_weights(y, th, h, overlap), blend_weights(x, tw, w, overlap)).to(image)
        out[..., y : y + th, x : x + tw] += run_padded(net, image[..., y : y + th, x : x + tw]) * weight
        total[..., y : y + th, x : x + tw] += weight
        if progress:
            progress(i + 1, len(boxes), {})
    return out / total
