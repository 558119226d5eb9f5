"""What every style backend shares: framing for strided networks, blend weights, masks, colours."""

from __future__ import annotations

import pytest
import torch

from stylecap.core import color
from stylecap.core.errors import UsageError
from stylecap.core.styling import blend_weights, frame, keep_colors, regions, run_padded


def test_frame_reflects_a_border_pads_to_the_multiple_and_crops_back():
    image = torch.rand(2, 3, 13, 10)
    framed, crop = frame(image, multiple=8, border=4)
    assert framed.shape[-2:] == (24, 24)  # 13 + 8 -> 24, 10 + 8 -> 24
    assert torch.equal(framed[..., 4:17, 4:14], image)
    assert torch.equal(framed[..., 3, 4:14], image[..., 1, :])  # reflected, not repeated
    assert torch.equal(crop(framed), image)
    tiny, crop = frame(torch.rand(1, 1, 2, 2), multiple=4, border=16)  # the border shrinks to fit
    assert tiny.shape[-2:] == (4, 4) and crop(tiny).shape[-2:] == (2, 2)
    assert torch.equal(run_padded(lambda x: x * 2, image, 8), image * 2)


def test_blend_weights_are_normalised_and_checked():
    styles = [torch.zeros(1, 3, 4, 4)] * 2
    assert blend_weights("b", styles, [3, 1]) == [0.75, 0.25]
    assert blend_weights("b", styles, None) == [0.5, 0.5]
    for bad in ([1], [-1, 2], [0, 0]):
        with pytest.raises(UsageError, match="b got 2 style images"):
            blend_weights("b", styles, bad)


def test_regions_resize_masks_and_need_one_per_style():
    masks = regions("b", torch.ones(2, 1, 8, 8), 2, (4, 6))
    assert masks.shape == (2, 1, 4, 6)
    assert regions("b", None, 2, (4, 6)) is None
    with pytest.raises(UsageError, match="1 masks for 2 styles"):
        regions("b", torch.ones(1, 1, 8, 8), 2, (4, 6))


def test_keep_colors_luminance_returns_grey_inputs_and_restores_chroma():
    content, style = torch.rand(1, 3, 8, 8) * 0.5 + 0.25, torch.rand(1, 3, 8, 8)
    base, styles, finish = keep_colors("luminance", content, [style])
    assert torch.allclose(base[:, 0], base[:, 1]) and torch.allclose(styles[0][:, 0], styles[0][:, 2])
    out = finish(base)
    assert torch.allclose(color.to_yiq(out), color.to_yiq(content), atol=1e-5)
    _, (recoloured,), _ = keep_colors("histogram", content, [style])
    assert torch.allclose(recoloured.mean((2, 3)), content.mean((2, 3)), atol=0.05)


def test_colorfulness_is_hasler_and_susstrunks_measure():
    red, green = torch.tensor([[1.0], [0.0], [0.0]]), torch.tensor([[0.0], [1.0], [0.0]])
    assert color.colorfulness(torch.full((3, 10), 0.4)) == 0.0  # grey
    assert color.colorfulness(red.expand(3, 10)) == pytest.approx(0.3 * (255**2 + 127.5**2) ** 0.5)  # mean term
    red_and_green = torch.cat([red.expand(3, 5), green.expand(3, 5)], 1)  # spread 255 in red-green, yellow 127.5
    assert color.colorfulness(red_and_green) == pytest.approx(255 + 0.3 * 127.5)
