"""AdaIN as one ONNX graph: what `stylecap export adain` writes and ``runtime=onnx`` runs.

The graph has two halves that run apart. ``style_code`` (from ``style``, shrunk as ``style_size`` says) is the
style's channel means and deviations at every layer the decoder reads, flat ``[N, D]``; codes blend
linearly, so a blend of styles is the weighted sum of their codes, and a style used again (a folder, a
video) is encoded once. ``image`` (from ``content``, sides of at least :data:`MIN_SIDE` pixels, and a
``code``) is the stylised picture, the content's size, in [0, 1]. Every input may be left out (it takes
a small default), so ``run(["style_code"], {"style": s})`` and ``run(["image"], {"content": c, "code": k})``
each cost one half.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from stylecap.core.errors import ImageError
from stylecap.core.export import load_onnx

from .statistics import style_code

if TYPE_CHECKING:
    from .backend import AdaIN

MIN_SIDE = 17
"""The graph reflects 16 pixels around the content (``backend.BORDER``), which needs one more."""


class AdaINGraph(nn.Module):
    """The backend's network, tensors in and out, pixels in [0, 1]; see the module docstring."""

    outputs = ("image", "style_code")
    optional = ("content", "code", "style")

    def __init__(self, backend: AdaIN):
        super().__init__()
        backend._place(torch.device("cpu"))
        self.backend, self.encoder = backend, backend.encoder  # the encoder is not the backend's submodule
        geometry = backend.encoder.geometry(backend.style_layers)
        self.splits = [geometry[name][0] for name in backend.style_layers for _ in ("mean", "std")]

    def example_inputs(self) -> dict[str, torch.Tensor]:
        """Odd sizes and no multiple of the decoder's stride: the trace takes every padding branch."""
        seeded = torch.Generator().manual_seed(0)
        style = torch.rand(1, 3, 41, 29, generator=seeded)
        return {"content": torch.rand(1, 3, 37, 53, generator=seeded), "code": self.code(style), "style": style}

    def forward(self, content: torch.Tensor, code: torch.Tensor, style: torch.Tensor):
        return self.stylize(content, code), self.code(style)

    def code(self, style: torch.Tensor) -> torch.Tensor:
        found = style_code(self.backend.encode(style, self.backend.style_layers))
        return torch.cat([t.flatten(1) for name in self.backend.style_layers for t in found[name]], 1)

    def stylize(self, content: torch.Tensor, code: torch.Tensor) -> torch.Tensor:
        parts = iter(code[:, :, None, None].split(self.splits, 1))
        found = {name: (next(parts), next(parts)) for name in self.backend.style_layers}
        return self.backend.restyle(content, [found], [1.0]).clamp(0, 1)


def array(t: torch.Tensor) -> Any:
    return t.detach().float().cpu().contiguous().numpy()


class Exported:
    """An exported AdaIN graph run by onnxruntime on the CPU: what ``runtime=onnx`` stylises with."""

    def __init__(self, path: str):
        self.path = path
        self.session, self.config = load_onnx(path, "adain")

    def code(self, style: torch.Tensor) -> torch.Tensor:
        return torch.from_numpy(self.session.run(["style_code"], {"style": array(style)})[0]).to(style.device)

    def stylize(self, content: torch.Tensor, code: torch.Tensor) -> torch.Tensor:
        h, w = content.shape[-2:]
        if min(h, w) < MIN_SIDE:
            raise ImageError(
                f"adain runtime=onnx takes pictures of at least {MIN_SIDE} px a side, not {w} x {h}",
                "use runtime=torch for tiny pictures",
            )
        found = self.session.run(["image"], {"content": array(content), "code": array(code)})[0]
        return torch.from_numpy(found).to(content.device)
