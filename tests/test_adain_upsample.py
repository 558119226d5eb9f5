"""AdaIN's ``work_size``: guided upsampling brings a low-resolution result back to full size with the
guide's edges, the output keeps the content's size with every option, and torch and onnxruntime agree."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import stylecap
from stylecap.core import guided
from stylecap.core.errors import ConfigError

MAP = torch.tensor([[0.5, -0.2, 0.1], [0.3, 0.8, -0.4], [0.0, 0.2, 0.6]])
OFFSET = torch.tensor([0.1, -0.05, 0.2])


def picture(seed: int, h: int, w: int, coarse: tuple[int, int] = (4, 5)) -> torch.Tensor:
    """Smooth random colours, like a photo at a small size."""
    grid = torch.rand(1, 3, *coarse, generator=torch.Generator().manual_seed(seed))
    return nn.functional.interpolate(grid, size=(h, w), mode="bilinear")


def recoloured(image: torch.Tensor) -> torch.Tensor:
    return torch.einsum("ij,bjhw->bihw", MAP, image) + OFFSET.view(1, 3, 1, 1)


def test_an_affine_colour_map_of_the_guide_is_recovered_at_full_size():
    guide = torch.cat([picture(1, 96, 128, (12, 16)), picture(2, 96, 128, (12, 16))])  # a batch of two
    small = nn.functional.interpolate(guide, size=(24, 32), mode="bilinear", antialias=True)
    got = guided.upsample(recoloured(small), small, guide, eps=1e-6)
    assert got.shape == guide.shape
    assert (got - recoloured(guide)).abs().max() < 2e-3
    plain = nn.functional.interpolate(recoloured(small), size=(96, 128), mode="bilinear")
    assert (plain - recoloured(guide)).abs().max() > 0.02  # a plain enlargement loses what the guide keeps


def test_the_cofactor_inverse_inverts():
    m = torch.randn(50, 3, 3, generator=torch.Generator().manual_seed(3))
    spd = m @ m.transpose(1, 2) + 0.1 * torch.eye(3)
    entries = [spd[:, j, k] for j, k in guided.PAIRS]
    ca, cb, cc, cd, ce, cf = guided.inverse3(entries)
    inv = torch.stack([torch.stack(r, -1) for r in ((ca, cb, cc), (cb, cd, ce), (cc, ce, cf))], -2)
    assert torch.allclose(inv @ spd, torch.eye(3).expand(50, 3, 3), atol=1e-3)


@pytest.mark.parametrize(
    "options",
    [{}, {"preserve_color": "luminance"}, {"preserve_color": "histogram"}, {"frame_blend": 0.5}, {"alpha": 0.5}],
)
def test_work_size_gives_the_contents_size(options):
    backend = stylecap.create("style", "adain", work_size=64, style_size=32, **options)
    content = torch.cat([picture(4, 90, 150), picture(5, 90, 150)])
    styles = [picture(6, 40, 40), picture(7, 30, 44)]
    out = backend.stylize(content, styles, style_weights=[2, 1])
    assert out.shape == content.shape
    assert 0 <= out.min() and out.max() <= 1
    full = stylecap.create("style", "adain", style_size=32, **options).stylize(content, styles, style_weights=[2, 1])
    assert (out - full).abs().mean() < 0.15  # the same picture, less detail
    assert not torch.equal(out, full)  # but it did work at the smaller size


def test_work_size_at_or_above_the_picture_changes_nothing():
    content, style = picture(8, 40, 60), picture(9, 32, 32)
    plain = stylecap.create("style", "adain").stylize(content, [style])
    assert torch.equal(stylecap.create("style", "adain", work_size=64).stylize(content, [style]), plain)


def test_a_long_strip_keeps_a_usable_height():
    out = stylecap.create("style", "adain", work_size=64).stylize(picture(10, 20, 400), [picture(11, 32, 32)])
    assert out.shape == (1, 3, 20, 400)


@pytest.mark.parametrize("value", [0, 16, 63])
def test_a_too_small_work_size_is_refused_by_name(value):
    with pytest.raises(ConfigError, match=f"work_size must be at least 64 pixels .*not {value}"):
        stylecap.create("style", "adain", work_size=value)


def test_onnxruntime_and_torch_agree_with_work_size(tmp_path):
    pytest.importorskip("onnx", reason="ONNX export needs pip install 'stylecap[onnx]'")
    pytest.importorskip("onnxruntime", reason="runtime=onnx needs pip install 'stylecap[onnx]'")
    from stylecap.core.export import export_onnx

    model = export_onnx(stylecap.create("style", "adain"), tmp_path / "adain.onnx")
    options = {"work_size": 64, "preserve_color": "luminance", "style_size": 32}
    content, styles = torch.cat([picture(12, 72, 120), picture(13, 72, 120)]), [picture(14, 40, 40)]
    want = stylecap.create("style", "adain", **options).stylize(content, styles)
    got = stylecap.create("style", "adain", runtime="onnx", weights=str(model), **options).stylize(content, styles)
    assert got.shape == want.shape == content.shape
    assert (got - want).abs().max() <= 2e-3
