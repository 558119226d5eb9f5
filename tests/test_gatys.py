from __future__ import annotations

import json
import warnings

import pytest
import torch
from PIL import Image

import stylecap
from stylecap.core import color
from stylecap.core.component import IMAGE
from stylecap.core.errors import ConfigError, UsageError
from stylecap.core.imageio import to_pil
from stylecap.core.styling import resize
from stylecap.plugins.gatys.backend import STOP_WINDOW, Gatys, GatysConfig, Scales, Stop
from stylecap.plugins.gatys.tiling import TiledEncoder
from stylecap.plugins.losses.terms import gram

from .test_losses import TinyEncoder


def content_image(size=(32, 40)):
    """A smooth two-colour gradient with a dark disc: flat regions, one edge."""
    h, w = size
    y, x = torch.meshgrid(torch.linspace(0, 1, h), torch.linspace(0, 1, w), indexing="ij")
    disc = ((y - 0.5) ** 2 + (x - 0.4) ** 2 < 0.08).float()
    rgb = torch.stack([0.3 + 0.5 * x, 0.6 - 0.3 * y, 0.4 + 0.2 * x * y]) * (1 - 0.6 * disc)
    return rgb.unsqueeze(0)


def stripes(a, b, period=4, size=(32, 32)):
    """Diagonal stripes of colours ``a`` and ``b``: a style with strong, simple statistics."""
    h, w = size
    y, x = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    on = (((x + y) // period) % 2).float()
    return (torch.tensor(a).view(3, 1, 1) * on + torch.tensor(b).view(3, 1, 1) * (1 - on)).unsqueeze(0)


RED = stripes((0.9, 0.1, 0.1), (0.9, 0.8, 0.2))
BLUE = stripes((0.1, 0.2, 0.9), (0.1, 0.8, 0.8), period=3)


def backend(**options):
    return Gatys(GatysConfig(max_size=None, **options), encoder=TinyEncoder())


def run(content=None, styles=(RED,), **kwargs):
    options = {k: kwargs.pop(k) for k in list(kwargs) if k in GatysConfig.__dataclass_fields__ and k != "masks"}
    options.setdefault("steps", 10)
    return backend(**options).stylize(content_image() if content is None else content, list(styles), **kwargs)


def pixels(image):
    return to_pil(image).tobytes()


def test_style_loss_falls_and_progress_counts_up():
    calls = []
    out = run(steps=40, progress=lambda step, total, scalars: calls.append((step, total, scalars)))
    assert out.shape == content_image().shape and 0 <= out.min() and out.max() <= 1
    assert [c[0] for c in calls] == list(range(1, 41)) and {c[1] for c in calls} == {40}
    assert set(calls[0][2]) == {"loss", "content", "style", "tv", "range"}
    assert calls[-1][2]["style"] <= 0.25 * calls[0][2]["style"]


def test_adam_also_lowers_the_loss():
    losses = []
    run(optimizer="adam", lr=0.02, steps=15, progress=lambda s, t, v: losses.append(v["loss"]))
    assert losses[-1] < 0.7 * losses[0]


def test_same_seed_gives_same_bytes_and_noise_init_differs_from_content_init():
    first = run(init="noise", seed=3, steps=4)
    assert pixels(first) == pixels(run(init="noise", seed=3, steps=4))
    assert pixels(first) != pixels(run(init="noise", seed=4, steps=4))
    assert (first - run(init="content", steps=4)).abs().mean() > 0.05


def test_init_from_a_file(tmp_path):
    path = tmp_path / "init.png"
    Image.new("RGB", (10, 10), (255, 0, 0)).save(path)
    out = run(init=str(path), optimizer="adam", lr=1e-4, steps=1)
    torch.testing.assert_close(out.mean((2, 3)), torch.tensor([[1.0, 0.0, 0.0]]), atol=0.01, rtol=0)


def test_luminance_mode_keeps_the_content_chroma():
    content = content_image()
    out = run(content, preserve_color="luminance", steps=15)
    plain = run(content, steps=15)
    chroma = (color.to_yiq(out) - color.to_yiq(content))[:, 1:].abs()
    assert chroma.mean() < 0.01 and chroma.max() < 0.1
    assert (color.to_yiq(plain) - color.to_yiq(content))[:, 1:].abs().mean() > 5 * chroma.mean()
    assert (color.to_yiq(out) - color.to_yiq(content))[:, 0].abs().mean() > 0.02  # the luminance did change


def moments(image):
    flat = image.flatten(2)[0]
    return flat.mean(1), torch.cov(flat)


def test_histogram_matching_moves_style_colour_stats_to_the_content():
    content = content_image()
    reddish = torch.rand((1, 3, 32, 32), generator=torch.Generator().manual_seed(0))
    reddish = reddish * torch.tensor([0.3, 0.2, 0.2]).view(3, 1, 1) + torch.tensor([0.6, 0.1, 0.1]).view(3, 1, 1)
    matched = color.match_histogram(reddish, content)
    for before, after, target in zip(moments(reddish), moments(matched), moments(content)):
        assert (after - target).norm() < 0.1 * (before - target).norm()


def test_histogram_mode_keeps_the_result_nearer_the_content_colours():
    content = content_image()
    mean = moments(content)[0]
    plain = run(content, steps=15)
    kept = run(content, preserve_color="histogram", steps=15)
    assert (moments(kept)[0] - mean).norm() < 0.5 * (moments(plain)[0] - mean).norm()


def test_zero_blend_weight_is_the_same_as_leaving_the_style_out():
    assert pixels(run(styles=[RED, BLUE], style_weights=[1, 0])) == pixels(run(styles=[RED]))
    assert pixels(run(styles=[RED, BLUE], style_weights=[1, 1])) != pixels(run(styles=[RED]))


def test_snapshots_every_n_steps(tmp_path):
    final = run(steps=6, snapshot_every=2, snapshot_dir=tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["step-00002.png", "step-00004.png", "step-00006.png"]
    assert Image.open(tmp_path / "step-00006.png").tobytes() == pixels(final)


def test_a_registered_loss_joins_the_objective(toy_plugin):
    """A plugin's loss composes with the built-in terms: here a colour-mean loss pulls harder."""

    class ColourMean(stylecap.core.component.Loss):
        name = "colour-mean"
        layers = (IMAGE,)

        def represent(self, features):
            return {"mean": features[IMAGE].mean((2, 3))}

        def forward(self, features):
            return (features[IMAGE].mean((2, 3)) - self.targets["mean"]).pow(2).sum()

    stylecap.core.host.host().register(
        type("P", (), {"register_losses": staticmethod(stylecap.hookimpl(lambda register: register(ColourMean)))}),
        "colour-mean-plugin",
    )
    target = RED.mean((2, 3))
    plain = run(steps=10, style_weight=0.1)
    pulled = run(steps=10, style_weight=0.1, extra_losses=["colour-mean:1000"])
    assert (pulled.mean((2, 3)) - target).norm() < 0.5 * (plain.mean((2, 3)) - target).norm()


def test_pyramid_and_max_size_give_the_requested_size():
    calls = []
    big = content_image((48, 60))
    out = Gatys(GatysConfig(max_size=40, pyramid_levels=2, steps=3), encoder=TinyEncoder()).stylize(
        big, [RED], progress=lambda step, total, scalars: calls.append((step, total))
    )
    assert out.shape == (1, 3, 32, 40)
    assert calls == [(s, 6) for s in range(1, 7)]


def test_masks_give_each_region_its_own_style():
    masks = torch.zeros(2, 1, 32, 40)
    masks[0, ..., :20] = 1
    masks[1, ..., 20:] = 1
    out = run(styles=[RED, BLUE], masks=masks, steps=30, style_weight=100)
    left, right = out[..., :20].mean((2, 3)), out[..., 20:].mean((2, 3))
    red, blue = RED.mean((2, 3)), BLUE.mean((2, 3))
    assert (left - red).norm() < (left - blue).norm()
    assert (right - blue).norm() < (right - red).norm()


def test_masks_from_files(tmp_path):
    paths = []
    for i, box in enumerate([(0, 0, 20, 32), (20, 0, 40, 32)]):
        mask = Image.new("L", (40, 32))
        mask.paste(255, box)
        paths.append(tmp_path / f"mask{i}.png")
        mask.save(paths[-1])
    tensor = torch.zeros(2, 1, 32, 40)
    tensor[0, ..., :20] = 1
    tensor[1, ..., 20:] = 1
    from_files = backend(masks=paths, steps=10).stylize(content_image(), [RED, BLUE])
    assert pixels(from_files) == pixels(run(styles=[RED, BLUE], masks=tensor))


def test_bad_inputs_are_usage_errors():
    with pytest.raises(UsageError, match="style"):
        run(styles=[])
    with pytest.raises(UsageError, match="weight"):
        run(styles=[RED], style_weights=[1, 2])
    with pytest.raises(UsageError, match="masks"):
        run(styles=[RED, BLUE], masks=torch.ones(1, 1, 8, 8))


def test_registered_with_a_validated_config():
    gatys = stylecap.create("style", "gatys", steps="5", preserve_color="luminance")
    assert isinstance(gatys, Gatys) and gatys.config.steps == 5
    assert gatys.config.encoder == "efficientnet-lite0"
    with pytest.raises(ConfigError, match="steps"):
        stylecap.create("style", "gatys", steps=0)
    with pytest.raises(ConfigError):
        stylecap.create("style", "gatys", preserve_color="sepia")
    with pytest.raises(ConfigError, match="tile_size"):
        stylecap.create("style", "gatys", tile_size=8)
    with pytest.raises(ConfigError, match="scales"):
        stylecap.create("style", "gatys", scales=0)
    with pytest.raises(ConfigError, match="range_weight"):
        stylecap.create("style", "gatys", range_weight=-1)
    with pytest.raises(ConfigError, match="coarse_color"):
        stylecap.create("style", "gatys", coarse_color=-0.1)
    with pytest.raises(ConfigError, match="tolerance"):
        stylecap.create("style", "gatys", tolerance=1.5)
    with pytest.raises(ConfigError):
        stylecap.create("style", "gatys", line_search="armijo")


def test_default_encoder_stylises_a_small_picture():
    log = []
    gatys = stylecap.create("style", "gatys", steps=50, max_size=64)
    out = gatys.stylize(content_image((48, 64)), [BLUE], progress=lambda step, total, v: log.append(v["style"]))
    assert out.shape == (1, 3, 48, 64)
    assert log[-1] <= 0.2 * log[0]


def test_cli_runs_gatys_over_vgg19_weights_from_a_file(tmp_path, capsys):
    from stylecap_cli.main import main

    vgg = stylecap.create("encoder", "vgg19", weights="random", seed=3)
    torch.save(vgg.state_dict(), tmp_path / "vgg19.pth")
    to_pil(content_image()).save(tmp_path / "content.png")
    to_pil(BLUE).save(tmp_path / "style.png")
    args = [
        "run",
        str(tmp_path / "content.png"),
        "--style",
        str(tmp_path / "style.png"),
        "-s",
        "encoder=vgg19",
        "-s",
        f"encoder_weights={tmp_path / 'vgg19.pth'}",
        "-s",
        "steps=3",
        "-o",
        str(tmp_path / "out"),
        "--json",
    ]
    with pytest.raises(SystemExit) as info:
        main(args)
    out = capsys.readouterr().out
    assert info.value.code == 0
    config = json.loads(out)["components"]["style"]["config"]
    assert config["encoder"] == "vgg19" and config["encoder_weights"] == str(tmp_path / "vgg19.pth")
    assert Image.open(tmp_path / "out" / "content.png").size == (40, 32)
    with pytest.raises(SystemExit) as info:
        main([*args[:-4], "-s", f"encoder_weights={tmp_path / 'missing.pth'}", "-o", str(tmp_path / "out2")])
    assert info.value.code == 2 and "missing.pth" in capsys.readouterr().err


def saturation(image):
    return image.max(1).values - image.min(1).values


def test_tiles_give_the_features_and_gradient_of_the_whole_picture():
    """Margins cover TinyEncoder's receptive field, so stitching tiles changes nothing."""
    image, layers = content_image((64, 56)), ["c1", "c2", "c3"]
    whole, tiled = TiledEncoder(TinyEncoder(), layers), TiledEncoder(TinyEncoder(), layers, tile_size=16)
    results = []
    for encoder in (whole, tiled):
        x = image.clone().requires_grad_(True)
        features = encoder.features(x, layers)
        sum(gram(f).square().sum() + f.sin().sum() for f in features.values()).backward()
        results.append((features, x.grad))
    assert len(tiled.boxes((80, 72))) == 5 * 4  # the framed picture, in cores of 16 and 20 pixels
    for layer in layers:
        assert results[0][0][layer].shape[-2:] == (64 // tiled.strides[layer], 56 // tiled.strides[layer])
        torch.testing.assert_close(results[1][0][layer], results[0][0][layer])
    torch.testing.assert_close(results[1][1], results[0][1], rtol=1e-4, atol=1e-6)


LEFT_RIGHT = torch.zeros(2, 1, 64, 64)
LEFT_RIGHT[0, ..., :32] = LEFT_RIGHT[1, ..., 32:] = 1


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"optimizer": "adam", "lr": 0.05, "init": "content"},
        {"pyramid_levels": 2},
        {"styles": [RED, BLUE], "masks": LEFT_RIGHT, "optimizer": "adam", "lr": 0.05},
    ],
    ids=["lbfgs", "adam", "pyramid", "masks"],
)
def test_tiled_run_matches_the_untiled_one(options):
    """Every pixel, those along tile borders included, stays within 1e-3 of the untiled run: no seams.
    Masked runs use Adam: with two regions L-BFGS's line search amplifies float rounding (the untiled run on
    one thread and on two differs by 6e-3), while the features and gradients above match to 1e-4. The Adam run
    starts from the content: the styles' colours clip some pixels to 0 or 1, where the gradient is about 0 and
    Adam's step (gradient over its own size) turns a rounding difference there into a whole step."""
    content = content_image((64, 64))
    whole = run(content, **options, steps=8)
    tiled = run(content, **options, steps=8, tile_size=16)
    assert tiled.shape == whole.shape == content.shape
    assert (tiled - whole).abs().max() < 1e-3


def test_folding_batch_norm_keeps_the_encoder_function():
    encoder = stylecap.create("encoder", "efficientnet-lite0")
    folded = encoder.folded()
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in folded.modules())
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in encoder.modules())  # the original is untouched
    image = content_image((48, 64))
    for layer, feature in encoder.features(image, ["stage3"]).items():
        torch.testing.assert_close(folded.features(image, [layer])[layer], feature, rtol=1e-4, atol=1e-4)


def test_top_edge_keeps_the_colours_of_the_rows_below():
    """At 42 px the encoder's strided convolutions zero-pad the top row; unframed, it turned saturated."""
    gatys = stylecap.create("style", "gatys", steps=50, max_size=None)
    out = gatys.stylize(content_image((42, 64)), [RED])
    rows = saturation(out)[0].mean(1)
    assert rows[0] < 1.15 * rows[4:].mean()


def test_bf16_precision_still_lowers_the_style_loss():
    log = []
    run(precision="bf16", steps=20, progress=lambda s, t, v: log.append(v["style"]))
    assert log[-1] <= 0.3 * log[0]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("optimizer", ["lbfgs", "adam"])
def test_cuda_graph_steps_match_eager_steps(optimizer):
    """Replaying the captured step optimises like running it: same first loss, same final loss and picture."""
    content, style = content_image().cuda(), RED.cuda()
    results, losses = {}, {}
    for graph in (False, True):
        seen = []
        log = lambda _, __, s, seen=seen: seen.append(s["style"])  # noqa: E731
        gatys = Gatys(
            GatysConfig(max_size=None, steps=15, optimizer=optimizer, cuda_graph=graph), encoder=TinyEncoder()
        )
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            results[graph] = gatys.stylize(content, [style], progress=log)
        assert not [w for w in caught if "cannot capture" in str(w.message)]  # captured, not the eager fallback
        losses[graph] = seen
    # cuDNN's backward is not deterministic, so runs part after the first steps: ask for equal quality
    assert losses[True][-1] < 0.5 * losses[True][0]
    assert losses[True][0] == pytest.approx(losses[False][0], rel=1e-4)
    assert losses[True][-1] == pytest.approx(losses[False][-1], rel=0.05)
    assert (results[True] - results[False]).abs().mean() < 0.01


def test_a_plugin_loss_replaces_a_builtin_term_by_name():
    from stylecap.plugins.losses.terms import GramLoss

    calls = []

    class CountingGram(GramLoss):
        name = "counting-gram"

        def forward(self, features):
            calls.append(1)
            return super().forward(features)

    stylecap.core.host.host().register(
        type("P", (), {"register_losses": staticmethod(stylecap.hookimpl(lambda register: register(CountingGram)))}),
        "counting-plugin",
    )
    replaced = run(steps=5, style_loss="counting-gram")
    assert calls and pixels(replaced) == pixels(run(steps=5))  # the same term under another name: same picture
    with pytest.raises(UsageError, match="unknown loss 'no-such-loss'"):
        run(steps=1, style_loss="no-such-loss")


def test_scales_start_from_the_same_picture_and_lower_the_loss_faster():
    image = content_image((64, 64))
    picture = Scales(image, 4)
    assert [tuple(p.shape[-2:]) for p in picture.params] == [(64, 64), (32, 32), (16, 16), (8, 8)]
    torch.testing.assert_close(picture(), image)
    final = {}
    for scales in (1, 4):
        losses = []
        log = losses.append
        run(image, steps=15, scales=scales, init="content", progress=lambda s, t, v, log=log: log(v["loss"]))
        final[scales] = losses[-1]
    assert final[4] < 0.97 * final[1]


def test_coarse_color_scales_the_colour_the_coarse_tensors_add():
    image = content_image((32, 32))
    added = {}
    for factor in (0.0, 0.3, 1.0):
        picture = Scales(image, 3, coarse_color=factor)
        torch.testing.assert_close(picture(), image)  # the same start whatever the factor
        with torch.no_grad():
            for p, seed in zip(picture.params[1:], (1, 2)):
                p.copy_(torch.randn(p.shape, generator=torch.Generator().manual_seed(seed)))
        added[factor] = color.to_yiq(picture().detach() - image)
    lightness, colour = (lambda a: a[:, :1]), (lambda a: a[:, 1:])
    assert colour(added[0.0]).abs().max() < 1e-5 < lightness(added[0.0]).abs().max()  # 0: lightness only
    torch.testing.assert_close(colour(added[0.3]), 0.3 * colour(added[1.0]))
    torch.testing.assert_close(lightness(added[0.3]), lightness(added[1.0]))


def test_coarse_colour_follows_the_styles_colourfulness(monkeypatch):
    """Grey styles get grey coarse scales, so broad areas do not drift into colour the Gram terms barely see."""
    factors, init = [], Scales.__init__
    monkeypatch.setattr(Scales, "__init__", lambda self, *a: factors.append(a[-1]) or init(self, *a))
    grey, content = color.grey(RED), content_image((48, 48))
    chroma = {}
    for option in (None, 1.0):
        chroma[option] = color.to_yiq(run(content, styles=[grey], steps=30, coarse_color=option))[:, 1:].abs().mean()
    run(styles=[RED], steps=1)
    run(styles=[RED], steps=1, coarse_color=0.5)
    assert factors == [0.0, 1.0, 1.0, 0.5]  # grey: 0; a saturated style: 1; set: as set
    assert chroma[None] < 0.6 * chroma[1.0]  # the grey style's picture stays nearer grey


def test_stop_rule_compares_the_best_loss_over_the_window():
    stop = Stop(0.01, window=3)
    assert not any(stop(v) for v in [10.0, 8.0, 6.0, 4.0, 9.0, 3.0])  # a bump does not stop it
    assert [stop(v) for v in [2.999, 2.998, 2.997]] == [False, False, True]


def test_stop_rule_stops_a_converged_picture_early_and_not_a_fresh_one(tmp_path):
    to_pil(run(steps=80)).save(tmp_path / "converged.png")
    calls = []
    run(init=str(tmp_path / "converged.png"), steps=60, tolerance=0.01, progress=lambda *c: calls.append(c[:2]))
    assert STOP_WINDOW < len(calls) < 30
    assert calls[-1] == (len(calls), len(calls))  # stopped: the last call says so, and a bar ends full
    assert all(total == 60 for _, total in calls[:-1])  # until then: the budget
    fresh = []
    run(steps=20, tolerance=0.01, progress=lambda *c: fresh.append(c[:2]))
    assert fresh == [(s, 20) for s in range(1, 21)]


def test_adain_init_starts_from_the_adain_picture():
    content = content_image((48, 64))
    style = resize(RED, (64, 64))  # as gatys sizes it: style_scale x the output's longer side
    adain = stylecap.create("style", "adain", max_size=None).stylize(content, [style])
    start = run(content, init="adain", optimizer="adam", lr=1e-4, steps=1, scales=1)
    assert (start - adain).abs().max() < 0.01
    assert (content - adain).abs().mean() > 0.05  # the AdaIN picture is not the content


def test_style_colors_init_starts_from_the_content_in_the_styles_colour_moments():
    content, style = content_image((48, 64)), 0.3 + 0.4 * RED  # colours the map need not clip
    start = run(content, [style], init="style-colors", optimizer="adam", lr=1e-4, steps=1, scales=1)
    for got, before, target in zip(moments(start), moments(content), moments(style)):
        assert (got - target).norm() < 0.1 * (before - target).norm()
    blend = run(content, styles=[RED, BLUE], style_weights=[3, 1], init="style-colors", optimizer="adam",
                lr=1e-4, steps=1, scales=1)  # fmt: skip
    pooled = 0.75 * RED.mean((2, 3)) + 0.25 * BLUE.mean((2, 3))  # the styles' colours pooled by the blend
    assert (blend.mean((2, 3)) - pooled).abs().max() < 0.05


def test_range_weight_keeps_pixels_inside_before_the_final_clamp(monkeypatch):
    """The picture before the clamp strays further outside [0, 1] with a weaker range term."""
    seen = {}
    clamp = torch.Tensor.clamp
    monkeypatch.setattr(torch.Tensor, "clamp", lambda t, *a, **k: seen.update(last=t.detach()) or clamp(t, *a, **k))
    excess = {}
    for weight in (0.0, 1e4):
        run(styles=[RED], steps=20, range_weight=weight, style_weight=100)
        excess[weight] = (seen["last"] - seen["last"].clamp(0, 1)).abs().mean()
    assert excess[1e4] < 0.5 * excess[0.0]


def test_line_search_evaluates_each_accepted_point_once(monkeypatch):
    from stylecap.core.perceptual import PerceptualLoss

    passes, forward = [], PerceptualLoss.forward
    monkeypatch.setattr(PerceptualLoss, "forward", lambda self, image: passes.append(1) or forward(self, image))
    losses = []
    run(steps=20, line_search="strong_wolfe", init="content", progress=lambda s, t, v: losses.append(v["loss"]))
    assert len(losses) == 20 and losses[-1] < 0.4 * losses[0]
    assert len(passes) < 30  # about one encoder pass a step: the point a step starts from is remembered
    passes.clear()
    run(steps=20, line_search="none")
    assert len(passes) == 20


def test_a_term_undefined_at_some_pixels_makes_the_line_search_step_back(toy_plugin):
    """A plugin term that is NaN at negative pixels (a log): the search shortens the step, the run goes on."""
    undefined = []

    class LogFloor(stylecap.core.component.Loss):
        name = "log-floor"
        layers = (IMAGE,)

        def represent(self, features):
            return {}

        def forward(self, features):
            value = torch.log(features[IMAGE]).mean()  # NaN where a pixel is below 0, as the range term allows
            undefined.append(not torch.isfinite(value))
            return value.square() * 0 if torch.isfinite(value) else value

    stylecap.core.host.host().register(
        type("P", (), {"register_losses": staticmethod(stylecap.hookimpl(lambda register: register(LogFloor)))}),
        "log-floor-plugin",
    )
    losses = []
    out = run(steps=30, tolerance=0, extra_losses=["log-floor:1"], init="content",  # no pixel at 0 yet
              progress=lambda s, t, v: losses.append(v["loss"]))  # fmt: skip
    assert any(undefined) and torch.isfinite(out).all()
    assert torch.isfinite(torch.tensor(losses)).all() and losses[-1] < 0.8 * losses[0]
