from __future__ import annotations

import pytest
import torch
from torch import nn

import stylecap
from stylecap.core.component import IMAGE, Encoder, Loss
from stylecap.core.errors import ConfigError
from stylecap.core.perceptual import PerceptualLoss
from stylecap.plugins.losses.terms import (
    ContentLoss,
    GramLoss,
    LayerLossConfig,
    RangeLoss,
    TVLoss,
    gram,
)


class TinyEncoder(Encoder):
    """A random three-layer conv net: enough structure for Gram statistics, fast on any CPU."""

    name = "tiny"
    layers = ("c1", "c2", "c3")
    style_layers = ("c1", "c2", "c3")
    content_layers = ("c2",)

    def __init__(self, config=None):
        super().__init__(config)
        generator = torch.Generator().manual_seed(0)
        shapes = [(3, 16, 1), (16, 32, 2), (32, 32, 2)]
        self.convs = nn.ModuleList(nn.Conv2d(cin, cout, 3, stride, 1) for cin, cout, stride in shapes)
        for conv in self.convs:
            fan_in = conv.weight[0].numel()
            conv.weight.data = torch.randn(conv.weight.shape, generator=generator) * (2 / fan_in) ** 0.5
            conv.bias.data.zero_()
        self.requires_grad_(False)
        self.passes = 0

    def preprocess(self, image):
        return image * 2 - 1

    def features(self, image, layers):
        self.passes += 1
        x, out = self.preprocess(image), {}
        for name, conv in zip(self.layers, self.convs):
            if set(layers) <= out.keys():
                break
            x = torch.relu(conv(x))
            if name in layers:
                out[name] = x
        return out


def image(seed, size=(24, 32)):
    return torch.rand((1, 3, *size), generator=torch.Generator().manual_seed(seed))


def test_gram_is_batched_outer_product_over_pixels():
    f = torch.randn(2, 5, 4, 6)
    expected = torch.stack([x.reshape(5, -1) @ x.reshape(5, -1).T / 24 for x in f])
    torch.testing.assert_close(gram(f), expected)


def test_gram_gradient_is_exact_with_and_without_masks():
    f = torch.randn(1, 4, 5, 6, dtype=torch.double, requires_grad=True)
    masks = torch.rand(2, 1, 5, 6, dtype=torch.double)
    assert torch.autograd.gradcheck(gram, (f,))
    assert torch.autograd.gradcheck(lambda x: gram(x, masks), (f,))


def test_masked_gram_per_region_and_full_mask_equals_plain_gram():
    f = torch.randn(1, 4, 6, 6)
    left = torch.zeros(1, 1, 6, 6)
    left[..., :3] = 1
    grams = gram(f, torch.cat([torch.ones(1, 1, 6, 6), left]))
    assert grams.shape == (2, 4, 4)
    torch.testing.assert_close(grams[0], gram(f)[0])
    torch.testing.assert_close(grams[1], gram(f[..., :3])[0])


def test_layer_losses_are_relative_to_target_and_weighted_per_layer():
    loss = GramLoss(LayerLossConfig(["a", "b"], [3.0, 1.0]))
    target = {"a": torch.randn(1, 4, 5, 5), "b": torch.randn(1, 8, 3, 3)}
    loss.set_target(loss.represent(target))
    assert loss(target).item() == 0
    # zero features: each layer's relative error is 1, whatever its scale
    assert loss({k: torch.zeros_like(v) for k, v in target.items()}).item() == pytest.approx(1.0)
    loss.set_target({"a": loss.targets["a"], "b": 100 * loss.targets["b"]})
    half = {"a": target["a"], "b": torch.zeros_like(target["b"])}
    assert loss(half).item() == pytest.approx(0.25)

    content = ContentLoss(LayerLossConfig(["a"]))
    content.set_target({"a": target["a"]})
    assert content({"a": 2 * target["a"]}).item() == pytest.approx(1.0)


def test_tv_is_zero_on_flat_images_and_reads_the_image():
    tv = TVLoss()
    assert tv.layers == (IMAGE,)
    assert tv({IMAGE: torch.full((1, 3, 8, 8), 0.3)}).item() == 0
    stripes = torch.zeros(1, 3, 8, 8)
    stripes[..., ::2] = 1
    assert tv({IMAGE: stripes}).item() == pytest.approx(1.0)
    assert stylecap.create("loss", "tv", exponent=1)({IMAGE: stripes}).item() == pytest.approx(1.0)
    x = image(8)
    squares = (x[..., 1:, :] - x[..., :-1, :]).pow(2).mean() + (x[..., 1:] - x[..., :-1]).pow(2).mean()
    torch.testing.assert_close(tv({IMAGE: x}), squares)


def test_range_penalises_only_pixels_outside_the_unit_interval():
    x = torch.tensor([[[[-0.5, 0.0, 0.7, 1.0, 1.5, 0.2, 0.3, 0.4]]]])
    assert RangeLoss()({IMAGE: x}).item() == pytest.approx((0.25 + 0.25) / 8)


def test_losses_are_registered_and_configured_by_name():
    assert isinstance(stylecap.create("loss", "gram", layers=["x", "y"]), GramLoss)
    assert stylecap.create("loss", "content", layers="x").layers == ("x",)
    assert stylecap.create("loss", "tv", exponent="1").config.exponent == 1.0
    with pytest.raises(ConfigError, match="layers"):
        stylecap.create("loss", "gram")
    with pytest.raises(ConfigError, match="layer_weights"):
        stylecap.create("loss", "gram", layers=["x"], layer_weights=[1, 2])


def objective(encoder=None):
    encoder = encoder or TinyEncoder()
    return PerceptualLoss(
        encoder,
        {
            "content": (ContentLoss(LayerLossConfig(["c2"])), 1.0),
            "style": (GramLoss(LayerLossConfig(["c1", "c3"])), 10.0),
            "tv": (TVLoss(), 0.5),
        },
    )


def test_perceptual_loss_runs_the_encoder_once_per_distinct_image():
    loss = objective()
    content, style = image(1), image(2)
    loss.set_targets(content=content, style=[(style, 1.0), (content, 2.0)])
    assert loss.encoder.passes == 2
    assert loss.layers == ("c2", "c1", "c3", IMAGE)

    x = content.clone().requires_grad_(True)
    total, values = loss(x)
    assert loss.encoder.passes == 3
    assert set(values) == {"content", "style", "tv"}
    assert values["content"].item() == 0
    expected = values["content"] + 10 * values["style"] + 0.5 * values["tv"]
    torch.testing.assert_close(total, expected)
    total.backward()
    assert x.grad.abs().sum() > 0


def test_blend_weights_move_gram_targets_in_proportion():
    loss = objective()
    a, b = image(3), image(4)
    targets = []
    for spec in (a, b, [(a, 3.0), (b, 1.0)]):
        loss.set_targets(style=spec)
        targets.append(loss.losses["style"].targets)
    for layer in ("c1", "c3"):
        torch.testing.assert_close(targets[2][layer], 0.75 * targets[0][layer] + 0.25 * targets[1][layer])


def test_vector_weights_give_one_target_per_region():
    loss = objective()
    a, b = image(5), image(6)
    loss.set_targets(style=[(a, torch.tensor([1.0, 0.0])), (b, torch.tensor([0.0, 1.0]))])
    stats = loss.losses["style"].targets["c1"]
    assert stats.shape == (2, 16, 16)
    loss.set_targets(style=b)
    torch.testing.assert_close(stats[1:], loss.losses["style"].targets["c1"])


class MeanColor(Loss):
    """A third-party-style term: composes through ``layers``/``represent``/``forward`` alone."""

    name = "mean-color"
    layers = (IMAGE,)

    def represent(self, features):
        return {IMAGE: features[IMAGE].mean((2, 3))}

    def forward(self, features):
        return (features[IMAGE].mean((2, 3)) - self.targets[IMAGE]).pow(2).sum()


def test_a_custom_loss_composes_without_extra_encoder_passes():
    encoder = TinyEncoder()
    loss = PerceptualLoss(encoder, {"style": (GramLoss(LayerLossConfig(["c1"])), 1.0), "color": (MeanColor(), 1.0)})
    style = image(7)
    loss.set_targets(style=style, color=style)
    assert encoder.passes == 1
    _, values = loss(style)
    assert encoder.passes == 2
    assert values["color"].item() == 0
