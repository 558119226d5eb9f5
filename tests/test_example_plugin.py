"""The example third-party plugin, used the way its users would: installed, then through the CLI.

CI installs it (``pip install -e examples/stylecap-plugin-example``); a plain checkout skips.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

import stylecap
from stylecap.core.imageio import read_image, to_tensor

from .conftest import run_cli as cli

color = pytest.importorskip("stylecap_plugin_example.color")
SPACES, moments = color.SPACES, color.moments

TOL = 0.005
"""How close lαβ statistics (log10 units) must come after 8-bit PNG rounding: a tenth or less of the gaps tested."""


def picture(path, base, spread, seed=0):
    """A 48x48 noisy picture around the colour ``base`` (0..1 per channel)."""
    rng = np.random.default_rng(seed)
    pixels = np.clip(np.array(base) + spread * rng.uniform(-1, 1, (48, 48, 3)), 0, 1)
    Image.fromarray(np.rint(pixels * 255).astype(np.uint8)).save(path)
    return path


@pytest.fixture
def pics(tmp_path):
    return {
        "content": picture(tmp_path / "content.png", (0.45, 0.5, 0.55), 0.2, seed=1),
        "warm": picture(tmp_path / "warm.png", (0.7, 0.5, 0.35), 0.12, seed=2),
        "cool": picture(tmp_path / "cool.png", (0.35, 0.5, 0.65), 0.06, seed=3),
    }


def to_space(path, space="lab-alpha-beta"):
    return SPACES[space][0](to_tensor(read_image(path).rgb).double())


def stats(path, space="lab-alpha-beta"):
    """(mean, std) per channel as one ``[6]`` tensor."""
    return torch.cat(moments(to_space(path, space)), 1)[0]


def run(capsys, tmp_path, pics, *options, styles=("warm",)):
    args = ["run", str(pics["content"]), "--style-backend", "reinhard", "-o", str(tmp_path / "out"), "--json"]
    for style in styles:
        args += ["--style", str(pics[style])]
    code, out, err = cli(capsys, *args, *options)
    assert code == 0, err
    record = json.loads(out)
    assert record["components"]["style"]["distribution"] == "stylecap-plugin-example"
    return record


# --- discovery ---------------------------------------------------------------------


def test_entry_point_is_discovered(capsys):
    code, out, _ = cli(capsys, "plugins", "--json")
    example = {p["name"]: p for p in json.loads(out)}["example"]
    assert code == 0 and example == {
        "name": "example",
        "distribution": "stylecap-plugin-example",
        "version": "0.1.0",
        "module": "stylecap_plugin_example",
        "hooks": ["register_commands", "register_losses", "register_style_backends"],
        "requires": [],
        "error": None,
    }


def test_components_are_listed_and_described(capsys):
    code, out, _ = cli(capsys, "list", "style", "--json")
    reinhard = {e["name"]: e for e in json.loads(out)}["reinhard"]
    assert code == 0 and reinhard["distribution"] == "stylecap-plugin-example" and reinhard["plugin"] == "example"
    assert "Reinhard" in reinhard["description"]
    code, out, _ = cli(capsys, "list", "loss", "--json")
    assert "color-moments" in {e["name"] for e in json.loads(out)}
    code, out, _ = cli(capsys, "info", "reinhard", "--json")
    options = {o["name"]: o for o in json.loads(out)["options"]}
    assert list(options) == ["strength", "preserve_luminance", "space"]
    assert options["strength"]["default"] == 1.0 and all(o["help"] for o in options.values())


def test_plugin_command_prints_the_statistics(capsys, pics):
    code, out, _ = cli(capsys, "color-stats", str(pics["warm"]), "--json")
    record = json.loads(out)
    assert code == 0 and torch.allclose(torch.tensor(record["mean"] + record["std"]).double(), stats(pics["warm"]))


# --- the style backend, through `stylecap run` --------------------------------------


@pytest.mark.parametrize("space", ["lab-alpha-beta", "lab"])
def test_run_gives_the_content_the_style_statistics(capsys, tmp_path, pics, space):
    record = run(capsys, tmp_path, pics, "-s", f"space={space}")
    out = read_image(record["output"]).rgb
    assert out.size == (48, 48)
    tol = TOL if space == "lab-alpha-beta" else 0.2  # lαβ is in log10 units, CIELAB's lightness in 0..100
    assert (stats(record["output"], space) - stats(pics["warm"], space)).abs().max() < tol
    assert (stats(pics["content"], space) - stats(pics["warm"], space)).abs().max() > 20 * tol


def test_strength_zero_keeps_the_content(capsys, tmp_path, pics):
    record = run(capsys, tmp_path, pics, "-s", "strength=0")
    out, content = (np.asarray(read_image(p).rgb, dtype=int) for p in (record["output"], pics["content"]))
    assert np.abs(out - content).max() <= 1


def test_preserve_luminance_keeps_the_content_lightness(capsys, tmp_path, pics):
    record = run(capsys, tmp_path, pics, "-s", "preserve_luminance=true")
    out, content = to_space(record["output"]), to_space(pics["content"])
    assert (out[:, 0] - content[:, 0]).abs().mean() < TOL / 2
    chroma = [1, 2, 4, 5]  # mean and std of α and β
    assert (stats(record["output"])[chroma] - stats(pics["warm"])[chroma]).abs().max() < TOL


def test_style_weights_blend_the_statistics(capsys, tmp_path, pics):
    record = run(capsys, tmp_path, pics, "--style-weight", "1", "--style-weight", "3", styles=("warm", "cool"))
    expected = 0.25 * stats(pics["warm"]) + 0.75 * stats(pics["cool"])
    assert (stats(record["output"]) - expected).abs().max() < TOL


def test_bad_option_is_one_line_usage_error(capsys, tmp_path, pics):
    args = ["run", str(pics["content"]), "--style", str(pics["warm"]), "--style-backend", "reinhard"]
    code, _, err = cli(capsys, *args, "-s", "strength=2", "-o", str(tmp_path))
    assert code == 2 and "strength must be between 0 and 1" in err and len(err.strip().splitlines()) == 1


# --- the Python API -----------------------------------------------------------------


def test_colour_spaces_are_achromatic_for_grey_and_invert_exactly():
    grey = torch.linspace(0.05, 1, 20).view(1, 1, 4, 5).expand(1, 3, 4, 5)
    lab = SPACES["lab-alpha-beta"][0](grey)
    # l = (log L + log M + log S) / √3 with L = M = S = grey (+ the offset that keeps black finite)
    assert torch.allclose(lab[:, 0], 3**0.5 * (grey[:, 0] + 1e-3).log10(), atol=2e-3)
    assert lab[:, 1:].abs().max() < 2e-3
    assert SPACES["lab"][0](grey)[:, 1:].abs().max() < 0.01
    red = SPACES["lab"][0](torch.tensor([1.0, 0.0, 0.0]).view(1, 3, 1, 1)).flatten()
    assert torch.allclose(red, torch.tensor([53.24, 80.09, 67.20]), atol=0.05)  # the standard sRGB red
    rgb = torch.rand(2, 3, 8, 8, generator=torch.Generator().manual_seed(0)) * 0.95 + 0.05
    for to_space, to_rgb in SPACES.values():
        assert torch.allclose(to_rgb(to_space(rgb)), rgb, atol=1e-4)


def test_reinhard_works_on_a_batch_and_on_every_device():
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    g = torch.Generator().manual_seed(0)
    content, style = torch.rand(2, 3, 32, 32, generator=g), torch.rand(1, 3, 24, 24, generator=g) * 0.5
    results = [stylecap.create("style", "reinhard").stylize(content.to(d), [style.to(d)]).cpu() for d in devices]
    assert results[0].shape == content.shape and 0 <= results[0].min() and results[0].max() <= 1
    for result in results[1:]:
        assert torch.allclose(result, results[0], atol=1e-4)


def test_color_moments_loss_falls_toward_the_target_and_has_gradients():
    def distance(image, target, **config):
        loss = stylecap.create("loss", "color-moments", **config)
        loss.set_target(loss.represent({stylecap.IMAGE: target}))
        return loss({stylecap.IMAGE: image})

    assert isinstance(stylecap.create("loss", "color-moments"), stylecap.Loss)
    g = torch.Generator().manual_seed(0)
    target = 0.2 + 0.6 * torch.rand(1, 3, 32, 32, generator=g) * torch.tensor([1.0, 0.6, 0.3]).view(1, 3, 1, 1)
    image = torch.rand(1, 3, 40, 40, generator=g)
    toward = stylecap.create("style", "reinhard").stylize(image, [target])
    values = [distance(image.lerp(toward, t), target).item() for t in (0, 0.5, 1)]
    assert values[0] > values[1] > values[2] and values[2] < 1e-3 * values[0]
    assert distance(target, target).item() < 1e-10
    flat = torch.zeros(1, 3, 8, 8, requires_grad=True)  # black and flat: the log and std guards matter here
    for space in SPACES:
        distance(flat, target, space=space).backward()
        assert flat.grad.isfinite().all() and flat.grad.abs().sum() > 0
    assert distance(torch.full((1, 3, 8, 8), -0.5), target).isfinite()  # an optimiser's pixels may go below 0


@pytest.mark.parametrize("weights", [[0.0, 0.0], [1.0, -1.0], [1.0]])
def test_weights_that_cannot_be_blended_are_refused(weights):
    image = torch.rand(1, 3, 8, 8)
    with pytest.raises(stylecap.StylecapError, match="style weights"):
        stylecap.create("style", "reinhard").stylize(image, [image, image], style_weights=weights)


def test_the_plugin_loss_joins_gatys_from_the_command_line(tmp_path, capsys):
    content, style = tmp_path / "content.png", tmp_path / "style.png"
    Image.fromarray((np.random.default_rng(0).random((48, 48, 3)) * 255).astype(np.uint8)).save(content)
    Image.new("RGB", (48, 48), (200, 80, 40)).save(style)
    args = [
        "run",
        str(content),
        "--style",
        str(style),
        "-o",
        str(tmp_path / "out"),
        "--json",
        "--seed",
        "0",
        "-s",
        "steps=5",
        "-s",
        "extra_losses=color-moments:100",
    ]
    code, out, err = cli(capsys, *args)
    assert code == 0, err
    assert json.loads(out)["components"]["style"]["config"]["extra_losses"] == ["color-moments:100"]
