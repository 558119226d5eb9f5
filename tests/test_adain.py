"""AdaIN: the statistics are exact, every option changes the picture as it says, the trainer
learns and resumes exactly, and the shipped decoder works offline."""

from __future__ import annotations

import json

import pytest
import torch
from PIL import Image

import stylecap
from stylecap.core import color
from stylecap.core.errors import CheckpointError, ConfigError
from stylecap.core.imageio import to_tensor
from stylecap.plugins.adain.frames import global_shift
from stylecap.plugins.adain.statistics import adain, blend, code_vector, decoder_code, mean_std, style_code, transfer
from stylecap.plugins.adain.training import color_distance

from .conftest import check_resume_is_exact, metrics, run_cli

TINY = {"weights": None, "encoder_weights": "random", "width": 4}
CONDITION = ["stem", "stage1", "stage2", "stage3", "stage4"]  # the encoder's style layers
TRAIN = {
    "encoder_weights": "random", "width": 4, "crop_size": 32, "load_size": 32, "batch_size": 2,
    "log_every": 1, "flip": False,
}  # fmt: skip


def smooth(seed: int, size: int = 40, tint=(1.0, 1.0, 1.0)) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    base = torch.nn.functional.interpolate(torch.rand(1, 3, 5, 5, generator=g), size=size, mode="bilinear")
    return base * torch.tensor(tint)[:, None, None]


@pytest.fixture
def folders(tmp_path):
    """Content: smooth random pictures; style: the same kind, tinted strongly red."""
    for name, tint in (("content", (1.0, 1.0, 1.0)), ("style", (1.0, 0.2, 0.1))):
        (tmp_path / name).mkdir()
        for i in range(4):
            pixels = smooth(i + 10 * len(name), 32, tint)[0].permute(1, 2, 0).mul(255).byte().numpy()
            Image.fromarray(pixels).save(tmp_path / name / f"{i}.png")
    return {"content": tmp_path / "content", "style": tmp_path / "style"}


def tiny(**options) -> stylecap.StyleBackend:
    """An untrained AdaIN on a random encoder. Its last layer is scaled into [0, 1] (an untrained
    decoder's picture is mostly clipped to black), so the picture shows what the features do."""
    backend = stylecap.create("style", "adain", **(TINY | options))
    last = backend.decoder.to_rgb[-1]
    with torch.no_grad():
        last.weight.mul_(0.1)
        last.bias.fill_(0.5)
        if backend.decoder.condition is not None:  # it starts at zero: make it do something
            seeded = torch.Generator().manual_seed(0)
            torch.nn.init.normal_(backend.decoder.condition.net[-1].weight, std=0.05, generator=seeded)
    return backend


# -- the operation ----------------------------------------------------------------------------


def test_adain_gives_exactly_the_target_statistics():
    x = torch.randn(2, 5, 9, 7) * 3 + 1
    mean, std = torch.randn(2, 5, 1, 1), torch.rand(2, 5, 1, 1) + 0.5
    got_mean, got_std = mean_std(adain(x, mean, std))
    assert torch.allclose(got_mean, mean, atol=1e-5) and torch.allclose(got_std, std, atol=1e-4)
    assert torch.allclose(mean_std(x)[1] ** 2, x.var((2, 3), keepdim=True, correction=0) + 1e-5, rtol=1e-5)


def test_masked_statistics_ignore_the_rest_of_the_picture():
    x = torch.randn(1, 3, 8, 8)
    mask = torch.zeros(1, 1, 8, 8)
    mask[..., :, :3] = 1
    left_mean, left_std = mean_std(x[..., :3])
    mean, std = mean_std(x, mask)
    assert torch.allclose(mean, left_mean, atol=1e-6) and torch.allclose(std, left_std, atol=1e-5)
    target = (torch.ones(1, 3, 1, 1), torch.full((1, 3, 1, 1), 2.0))
    moved = adain(x, *target, mask=mask)
    assert torch.allclose(mean_std(moved[..., :3])[0], target[0], atol=1e-5)


def test_alpha_blends_and_regions_of_the_restyled_features():
    f = {"a": torch.randn(1, 4, 6, 6)}
    red, blue = style_code({"a": torch.randn(1, 4, 3, 3) + 2}), style_code({"a": torch.randn(1, 4, 3, 3) - 2})
    assert torch.allclose(transfer(f, [red], [1.0], alpha=0)["a"], f["a"])
    full = transfer(f, [red], [1.0])["a"]
    assert torch.allclose(transfer(f, [red], [1.0], alpha=0.25)["a"], 0.25 * full + 0.75 * f["a"], atol=1e-6)
    assert torch.allclose(mean_std(full)[0], red["a"][0], atol=1e-5)
    mixed = transfer(f, [red, blue], [0.3, 0.7])["a"]
    assert torch.allclose(mean_std(mixed)[0], blend([red, blue], [0.3, 0.7])["a"][0], atol=1e-5)
    halves = torch.zeros(2, 1, 6, 6)
    halves[0, ..., :3], halves[1, ..., 3:] = 1, 1
    split = transfer(f, [red, blue], [0.5, 0.5], regions=halves)["a"]
    assert torch.allclose(mean_std(split[..., :3])[0], red["a"][0], atol=1e-4)
    assert torch.allclose(mean_std(split[..., 3:])[0], blue["a"][0], atol=1e-4)


def test_the_decoders_code_follows_blends_regions_and_alpha():
    def code(seed: int) -> dict:
        g = torch.Generator().manual_seed(seed)
        return {"a": (torch.randn(1, 3, 1, 1, generator=g), torch.rand(1, 3, 1, 1, generator=g) + 0.1)}

    own, red, blue = code(0), code(1), code(2)
    vector = {name: code_vector(c, ["a"]) for name, c in (("own", own), ("red", red), ("blue", blue))}
    assert vector["red"].shape == (1, 6, 1, 1) and torch.equal(vector["red"][:, 3:], red["a"][1].log())
    mixed = decoder_code([red, blue], [0.25, 0.75], ["a"])
    assert torch.allclose(mixed, code_vector(blend([red, blue], [0.25, 0.75]), ["a"]))
    assert torch.allclose(decoder_code([red], [1.0], ["a"], own=own, alpha=0.0), vector["own"])
    regions = torch.zeros(2, 1, 8, 12)
    regions[0, ..., :4], regions[1, ..., 8:] = 1, 1  # red left, nothing in the middle, blue right
    told = decoder_code([red, blue], [0.5, 0.5], ["a"], own=own, regions=regions, size=(8, 12))
    assert told.shape == (1, 6, 8, 12)
    for columns, name in ((slice(0, 3), "red"), (slice(5, 7), "own"), (slice(9, 12), "blue")):
        assert torch.allclose(told[..., columns], vector[name].expand(-1, -1, 8, told[..., columns].shape[-1]))


def test_a_conditioned_decoder_starts_as_the_plain_one_and_then_follows_the_code():
    plain = tiny()
    conditioned = stylecap.create("style", "adain", condition=CONDITION, **TINY)
    missing = conditioned.decoder.load_state_dict(plain.decoder.state_dict(), strict=False).missing_keys
    assert missing and all(k.startswith("condition.") for k in missing)
    content, red, blue = smooth(0, 32), smooth(1, 32, (1, 0.1, 0.1)), smooth(2, 32, (0.1, 0.1, 1))
    assert torch.equal(conditioned.stylize(content, [red]), plain.stylize(content, [red]))
    torch.nn.init.normal_(conditioned.decoder.condition.net[-1].weight, std=0.05)
    features = conditioned.encode(content)
    codes = [code_vector(style_code(conditioned.encode(s, CONDITION)), CONDITION) for s in (red, blue)]
    assert not torch.allclose(conditioned.decoder(features, codes[0]), conditioned.decoder(features, codes[1]))
    with pytest.raises(ValueError, match="needs the style code"):
        conditioned.decoder(features)


# -- the backend ------------------------------------------------------------------------------


@pytest.mark.parametrize("condition", [[], CONDITION])
def test_alpha_zero_gives_the_decoders_reconstruction_and_sizes_are_kept(condition):
    backend = tiny(alpha=0.0, condition=condition)
    content = smooth(0, 37)[..., :29]  # odd sizes: padded to the decoder's multiple and cropped back
    out = backend.stylize(content, [smooth(1)])
    assert out.shape == content.shape
    assert torch.equal(out, backend.reconstruct(content))
    shrunk = tiny(max_size=16).stylize(content, [smooth(1)])
    assert shrunk.shape[-2:] == (16, 13)


@pytest.mark.parametrize("condition", [[], CONDITION])
def test_blend_weights_and_masks_choose_the_style(condition):
    backend = tiny(condition=condition)
    content, red, blue = smooth(0, 64), smooth(1, 40, (1, 0.1, 0.1)), smooth(2, 40, (0.1, 0.1, 1))
    only_red = backend.stylize(content, [red])
    assert torch.allclose(backend.stylize(content, [red, blue], style_weights=[1, 0]), only_red, atol=1e-5)
    only_blue = backend.stylize(content, [blue])
    halves = torch.zeros(2, 1, 64, 64)
    halves[0, ..., :32], halves[1, ..., 32:] = 1, 1
    split = backend.stylize(content, [red, blue], masks=halves)

    def closer(region, to, than):
        return (split[region] - to[region]).abs().mean() < (split[region] - than[region]).abs().mean()

    left, right = (..., slice(None), slice(0, 16)), (..., slice(None), slice(48, 64))  # away from the seam
    assert closer(left, only_red, only_blue) and closer(right, only_blue, only_red)


def test_masks_from_files_need_one_per_style(tmp_path):
    Image.new("L", (8, 8), 255).save(tmp_path / "m.png")
    backend = stylecap.create("style", "adain", masks=[str(tmp_path / "m.png")], **TINY)
    with pytest.raises(stylecap.StylecapError, match="1 masks for 2 styles"):
        backend.stylize(smooth(0), [smooth(1), smooth(2)])


def test_luminance_preservation_keeps_the_contents_chroma():
    backend = tiny(preserve_color="luminance")
    content = smooth(0, 32) * 0.5 + 0.25
    out = backend.stylize(content, [smooth(1, 32, (1, 0.1, 0.1))])
    inside = ((out > 0.01) & (out < 0.99)).all(1, keepdim=True)  # where clipping to [0, 1] changed nothing
    assert inside.float().mean() > 0.5
    chroma_out, chroma_content = color.to_yiq(out)[:, 1:], color.to_yiq(content)[:, 1:]
    assert torch.allclose(chroma_out * inside, chroma_content * inside, atol=1e-4)


def test_the_palette_moves_colours_to_the_styles_and_keeps_light_and_shade():
    content, style = smooth(0, 48) * 0.6 + 0.2, smooth(1, 40, (1, 0.3, 0.15))
    reference = color.palette([style])
    assert torch.allclose(color.take_palette(content, reference, 0.0), content, atol=1e-6)
    gaps = [(color.take_palette(content, reference, s).mean((2, 3)) - style.mean((2, 3))).norm() for s in (0, 0.5, 1)]
    assert gaps[0] > gaps[1] > gaps[2] and gaps[2] < 0.02  # the mean colour goes the style's way, all of it at 1
    y_in, y_out = (color.to_yiq(x)[:, 0].flatten() for x in (content, color.take_palette(content, reference)))
    assert torch.corrcoef(torch.stack([y_in, y_out]))[0, 1] > 0.999  # the lightness: an affine map of the picture's
    for odd in (torch.rand(1, 3, 1, 1), torch.zeros(1, 3, 8, 8), torch.rand(1, 3, 1, 40)):  # a pixel, flat, a strip
        for target in (color.palette([odd]), reference, color.palette([torch.full((1, 3, 4, 4), 0.7)])):
            assert torch.isfinite(color.take_palette(odd, target)).all()
    blend = color.palette([content, style], [3, 1])
    assert blend.shape[1] == color.PALETTE_SAMPLES
    assert torch.allclose(blend.mean(1), 0.75 * content.mean((0, 2, 3)) + 0.25 * style.mean((0, 2, 3)), atol=0.01)


def test_the_palette_option_takes_the_styles_colours_and_refuses_what_it_cannot_do():
    content, red = smooth(0, 48), smooth(1, 40, (1, 0.1, 0.1))

    def redness(**options):
        torch.manual_seed(0)  # the same untrained network each time
        out = tiny(**options).stylize(content, [red])
        return float(out[:, 0].mean() - out[:, 1:].mean())

    assert redness(palette=1.0) > redness(palette=0.5) > redness() + 0.1  # off by default
    with pytest.raises(ConfigError, match="palette=1.0 .* preserve_color=luminance"):
        tiny(palette=1.0, preserve_color="luminance")
    with pytest.raises(stylecap.StylecapError, match="palette.*masks"):
        tiny(palette=1.0).stylize(content, [red], masks=torch.ones(1, 1, 48, 48))


def test_shipped_decoder_works_offline_and_moves_style_statistics():
    backend = stylecap.create("style", "adain")
    assert backend.config.encoder == "efficientnet-lite0" and backend.config.levels
    assert backend.config.condition == CONDITION and backend.decoder.condition.scale.ne(1).all()  # from its metadata
    content, style = smooth(0, 64), smooth(1, 64, (1, 0.2, 0.1))
    out = backend.stylize(content, [style])
    layers = list(backend.encoder.style_layers)
    code = [style_code(backend.encoder.features(x, layers)) for x in (content, style, out)]
    ratios = []
    for layer in layers:
        before = (code[0][layer][0] - code[1][layer][0]).norm()
        after = (code[2][layer][0] - code[1][layer][0]).norm()
        assert after < before, layer  # every layer's means move toward the style's
        ratios.append(float(after / before))
    assert sum(ratios) / len(ratios) < 0.6, ratios


# -- video frames -----------------------------------------------------------------------------


def textured(size: int = 96) -> torch.Tensor:
    """A scene with detail at every scale, so a shift of a few pixels is visible everywhere."""
    g = torch.Generator().manual_seed(3)
    coarse = torch.nn.functional.interpolate(torch.rand(1, 3, 12, 12, generator=g), size=size, mode="bilinear")
    return (0.7 * coarse + 0.3 * torch.rand(1, 3, size, size, generator=g)).clamp(0, 1)


def test_global_shift_finds_the_cameras_move():
    scene = textured()
    assert global_shift(scene, torch.roll(scene, (3, -5), (-2, -1))) == (3, -5)
    assert global_shift(scene, scene) == (0, 0)


def instability(frames: list[torch.Tensor], step: int) -> float:
    """Mean change between consecutive frames where they show the same place (the pan moves ``step`` px)."""
    return float(sum((b[..., :-step] - a[..., step:]).abs().mean() for a, b in zip(frames, frames[1:])))


def test_frame_blend_steadies_a_panning_shot_and_off_changes_nothing():
    scene, style = textured(), smooth(1, 64, (1, 0.2, 0.1))
    frames = [scene[..., :, 2 * i : 2 * i + 64] for i in range(6)]  # the camera pans 2 px per frame
    plain = stylecap.create("style", "adain")
    alone = [plain.stylize(f, [style]) for f in frames]
    assert torch.equal(alone[-1], stylecap.create("style", "adain").stylize(frames[-1], [style]))  # no memory
    steady = stylecap.create("style", "adain", frame_blend=0.7)
    blended = [steady.stylize(f, [style]) for f in frames]
    assert torch.equal(blended[0], alone[0])
    assert instability(blended, 2) < 0.7 * instability(alone, 2)
    assert (blended[-1] - alone[-1]).abs().mean() < 0.05  # still this frame's picture
    other = smooth(5, 48)  # a frame of another size starts afresh
    assert torch.equal(steady.stylize(other, [style]), plain.stylize(other, [style]))


@pytest.mark.parametrize(
    "values, field",
    [({"alpha": 1.5}, "alpha"), ({"weights": "missing.safetensors"}, "weights"), ({"max_size": 4}, "max_size"),
     ({"preserve_color": "sepia"}, "preserve_color"), ({"style_size": 8}, "style_size"),
     ({"frame_blend": 1.0}, "frame_blend"), ({"frame_tolerance": 0}, "frame_tolerance"), ({"blocks": -1}, "blocks"),
     ({"palette": 1.5}, "palette")],
)  # fmt: skip
def test_bad_values_are_config_errors_naming_the_field(values, field):
    with pytest.raises(ConfigError, match=field):
        stylecap.registry("style").get("adain").build_config(values)


def test_weights_for_another_architecture_are_refused(tmp_path):
    backend = tiny()
    pipe = stylecap.Pipeline(backend)
    pipe.save(tmp_path / "p")
    with pytest.raises(CheckpointError, match="do not fit"):
        stylecap.create("style", "adain", weights=str(tmp_path / "p" / "style.safetensors"), width=8)
    with pytest.raises(CheckpointError, match="do not fit"):  # residual blocks are part of the shape too
        stylecap.create("style", "adain", weights=str(tmp_path / "p" / "style.safetensors"), blocks=1)
    with pytest.raises(CheckpointError, match="do not fit"):  # and so is the style condition
        stylecap.create("style", "adain", weights=str(tmp_path / "p" / "style.safetensors"), condition=["stage4"])


# -- training ---------------------------------------------------------------------------------


def test_training_lowers_the_loss_and_exports_a_working_backend(folders, tmp_path):
    run = tmp_path / "run"
    options = {"steps": 30, "lr": 3e-3, "sample_every": 30, "blocks": 1}
    trained = stylecap.train("style", "adain", out=run, **options, **folders, **TRAIN)
    rows = metrics(run)
    first, last = sum(r["loss"] for r in rows[:5]) / 5, sum(r["loss"] for r in rows[-5:]) / 5
    assert last < 0.7 * first, (first, last)
    assert (run / "samples" / "step-00000030.png").is_file()
    again = stylecap.Pipeline.load(run / "final").style
    assert again.config.weights is None and again.config.width == 4 and again.config.blocks == 1
    content, style = smooth(0, 32), smooth(1, 32, (1, 0.2, 0.1))
    assert torch.equal(again.stylize(content, [style]), trained.stylize(content, [style]))
    checkpoint = run / "checkpoints" / "step-00000030" / "weights.safetensors"
    from_checkpoint = stylecap.create("style", "adain", weights=str(checkpoint), encoder_weights="random")
    assert from_checkpoint.config.blocks == 1  # the shape comes from the file's metadata
    assert torch.equal(from_checkpoint.stylize(content, [style]), trained.stylize(content, [style]))


def test_resume_after_a_kill_repeats_the_uninterrupted_run(folders, tmp_path):
    check_resume_is_exact("style", "adain", tmp_path / "run", steps=6, **folders, **TRAIN)


def test_fine_tuning_starts_from_the_given_decoder(folders, tmp_path):
    base = stylecap.train("style", "adain", out=tmp_path / "base", steps=10, lr=3e-3, **folders, **TRAIN)
    weights = str(tmp_path / "base" / "final" / "style.safetensors")
    tuned = stylecap.train("style", "adain", out=tmp_path / "tuned", steps=1, lr=1e-9, init=weights, **folders, **TRAIN)
    for (name, before), after in zip(base.decoder.named_parameters(), tuned.decoder.parameters()):
        assert torch.allclose(before, after, atol=1e-6), name  # one step of lr 1e-9 from the same weights
    with pytest.raises(CheckpointError, match="do not fit an AdaIN decoder"):
        stylecap.train("style", "adain", out=tmp_path / "wide", init=weights, **folders, **(TRAIN | {"width": 8}))
    with pytest.raises(ConfigError, match="init 'nowhere.safetensors' is neither 'lite0' nor a decoder file"):
        stylecap.train("style", "adain", out=tmp_path / "bad", init="nowhere.safetensors", **folders, **TRAIN)


def test_a_conditioned_decoder_trains_resumes_and_fine_tunes_a_plain_one(folders, tmp_path):
    run = tmp_path / "run"
    trained = stylecap.train("style", "adain", out=run, steps=30, lr=3e-3, condition=CONDITION, **folders, **TRAIN)
    rows = metrics(run)
    assert sum(r["loss"] for r in rows[-5:]) < 0.7 * sum(r["loss"] for r in rows[:5])
    condition = trained.decoder.condition
    assert condition.scale.ne(1).all() and condition.net[-1].weight.abs().sum() > 0  # fitted, then trained
    again = stylecap.Pipeline.load(run / "final").style
    content, style = smooth(0, 32), smooth(1, 32, (1, 0.2, 0.1))
    assert again.config.condition == CONDITION
    assert torch.equal(again.stylize(content, [style]), trained.stylize(content, [style]))
    check_resume_is_exact("style", "adain", tmp_path / "resumed", steps=6, condition=CONDITION, **folders, **TRAIN)

    plain = stylecap.train("style", "adain", out=tmp_path / "plain", steps=5, lr=3e-3, **folders, **TRAIN)
    weights = str(tmp_path / "plain" / "final" / "style.safetensors")
    options = {"steps": 1, "lr": 1e-9, "init": weights, "condition": CONDITION}
    tuned = stylecap.train("style", "adain", out=tmp_path / "tuned", **options, **folders, **TRAIN)
    assert torch.allclose(tuned.stylize(content, [style]), plain.stylize(content, [style]), atol=1e-5)
    with pytest.raises(ConfigError, match="is a conditioned decoder"):
        init = str(run / "final" / "style.safetensors")
        stylecap.train("style", "adain", out=tmp_path / "back", init=init, **folders, **TRAIN)


def test_the_colour_loss_is_zero_for_the_same_colours_anywhere_and_grows_with_the_gap():
    torch.manual_seed(0)
    style, photo = smooth(1, 32, (1, 0.2, 0.1)), smooth(0, 32)
    shuffled = style.flatten(2)[..., torch.randperm(32 * 32)].view_as(style)
    assert color_distance(shuffled, style) < 1e-6  # the same palette in another arrangement
    assert color_distance(style.expand(2, -1, -1, -1), torch.cat([style, photo])) > 0  # per pair, mean over the batch
    gaps = [color_distance(photo + t * (style - photo), style).item() for t in (0.0, 0.5, 0.9)]
    assert gaps[0] > gaps[1] > gaps[2] > 0, gaps
    bigger = torch.nn.functional.interpolate(style, size=48, mode="nearest")  # other pixel counts: by quantiles
    assert color_distance(bigger, style) < 0.05 * gaps[0]


def test_the_colour_loss_trains_the_palette_and_resumes_exactly(folders, tmp_path):
    run = tmp_path / "run"
    options = {"steps": 30, "lr": 3e-3, "style_weight": 0, "color_weight": 10}
    stylecap.train("style", "adain", out=run, **options, **folders, **TRAIN)
    rows = metrics(run)
    assert sum(r["color"] for r in rows[-5:]) < 0.7 * sum(r["color"] for r in rows[:5])
    plain = tmp_path / "plain"
    stylecap.train("style", "adain", out=plain, steps=2, **folders, **TRAIN)
    assert "color" not in metrics(plain)[0]  # off by default
    check_resume_is_exact("style", "adain", tmp_path / "resumed", steps=6, color_weight=10, **folders, **TRAIN)
    chroma = tmp_path / "chroma"  # the colour loss on hue alone: another quantity, trained down too
    stylecap.train("style", "adain", out=chroma, color_space="chroma", **options, **folders, **TRAIN)
    rows = metrics(chroma)
    assert rows[0]["color"] != metrics(run)[0]["color"]
    assert sum(r["color"] for r in rows[-5:]) < 0.7 * sum(r["color"] for r in rows[:5])


def test_turning_the_hue_makes_new_palettes_and_keeps_the_lightness():
    picture = 0.25 + 0.5 * torch.rand(2, 3, 8, 8, generator=torch.Generator().manual_seed(0))  # well inside RGB
    zero, one = torch.zeros(2), torch.ones(2)
    assert torch.allclose(color.turn_hue(picture, zero, one), picture, atol=1e-5)
    y = color.to_yiq(picture)[:, 0]
    greyed = color.turn_hue(picture, zero, torch.zeros(2))
    assert torch.allclose(greyed, y[:, None].expand_as(greyed), atol=1e-5)  # no colour: its lightness, grey
    red = torch.tensor([0.8, 0.3, 0.3]).view(1, 3, 1, 1)
    opposite = color.turn_hue(red, torch.tensor([torch.pi]), torch.ones(1))
    assert opposite[0, 0] < 0.5 and opposite[0, 2] > 0.4  # red turned half round: a cyan-blue
    assert torch.allclose(color.to_yiq(opposite)[:, 0], color.to_yiq(red)[:, 0], atol=1e-5)


def test_style_jitter_recolours_the_styles_resumes_exactly_and_is_checked(folders, tmp_path):
    runs = [tmp_path / "plain", tmp_path / "jitter"]
    for run, jitter in zip(runs, (0.0, 1.0)):
        stylecap.train("style", "adain", out=run, steps=2, style_jitter=jitter, **folders, **TRAIN)
    assert metrics(runs[0])[0]["style"] != metrics(runs[1])[0]["style"]  # recoloured styles
    check_resume_is_exact("style", "adain", tmp_path / "resumed", steps=6, style_jitter=1.0, **folders, **TRAIN)
    with pytest.raises(ConfigError, match="style_jitter"):
        stylecap.train("style", "adain", out=tmp_path / "bad", style_jitter=2.0, **folders, **TRAIN)


def test_crop_size_must_suit_the_decoder(folders, tmp_path):
    with pytest.raises(ConfigError, match="crop_size 36 does not divide by 8"):
        stylecap.train(
            "style", "adain", out=tmp_path / "run", **folders, **(TRAIN | {"crop_size": 36, "load_size": 40})
        )


def test_runs_from_the_command_line_with_the_shipped_decoder(tmp_path, capsys):
    photo, art = tmp_path / "photo.png", tmp_path / "art.png"
    Image.new("RGB", (45, 30), (90, 120, 200)).save(photo)
    Image.fromarray(smooth(3, 40, (1, 0.5, 0.1))[0].permute(1, 2, 0).mul(255).byte().numpy()).save(art)
    code, out, err = run_cli(capsys, "run", str(photo), "--style", str(art), "--style-backend", "adain",
                             "-s", "alpha=0.8", "-o", str(tmp_path / "out"), "--json")  # fmt: skip
    assert code == 0, err
    result = to_tensor(Image.open(json.loads(out)["output"]))
    assert result.shape[-2:] == (30, 45)
