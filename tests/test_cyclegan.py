"""CycleGAN: networks, losses, the image pool, training through the engine, tiles, and the vintage weights."""

from __future__ import annotations

import json

import pytest
import torch
from PIL import Image
from torch import nn

import stylecap
from stylecap.core.errors import CheckpointError, ConfigError, UsageError
from stylecap.core.imageio import to_tensor
from stylecap.core.styling import shrink
from stylecap.core.training.state import CheckpointFolder
from stylecap.plugins.cyclegan import vintage
from stylecap.plugins.cyclegan.inference import run_padded, shared_statistics, tiled, translate
from stylecap.plugins.cyclegan.training import ImagePool, discriminator_loss, generator_loss

from .conftest import check_resume_is_exact, metrics
from .conftest import run_cli as cli

TINY = {
    "generator": "resnet-6",
    "generator_options": {"filters": 8},
    "discriminator_options": {"filters": 8, "layers": 2},
    "load_size": 36,
    "crop_size": 32,
    "log_every": 1,
}


@pytest.fixture
def domains(tmp_path):
    """Two unpaired toy domains: smooth random pictures tinted red (A) or blue (B)."""
    g = torch.Generator().manual_seed(0)
    for domain, tint in (("a", (1.0, 0.5, 0.5)), ("b", (0.5, 0.5, 1.0))):
        (tmp_path / domain).mkdir()
        for i in range(8):
            base = nn.functional.interpolate(torch.rand(1, 3, 5, 5, generator=g), size=40, mode="bilinear")[0]
            pixels = (base * torch.tensor(tint)[:, None, None]).permute(1, 2, 0).mul(255).byte().numpy()
            Image.fromarray(pixels).save(tmp_path / domain / f"{i}.png")
    return {"domain_a": tmp_path / "a", "domain_b": tmp_path / "b"}


def chelsea(size: tuple[int, int]) -> torch.Tensor:
    data = pytest.importorskip("skimage.data")
    return to_tensor(Image.fromarray(data.chelsea()).resize(size, Image.Resampling.LANCZOS))


# -- networks and losses ----------------------------------------------------------------------


def test_components_are_registered_and_generators_keep_the_size():
    assert {"resnet-9", "resnet-6", "unet-256", "unet-128"} <= set(stylecap.registry("generator").names())
    for name in ("resnet-9", "resnet-6", "unet-256", "unet-128"):
        g = stylecap.create("generator", name, filters=4)
        side = max(32, g.multiple)
        x = torch.rand(2, 3, side, side) * 2 - 1
        y = g(x)
        assert y.shape == x.shape and y.abs().max() <= 1
    assert stylecap.registry("trainer").get("cyclegan").cls.target == "style"
    assert not stylecap.registry("style").get("cyclegan").cls.needs_style


def test_patchgan_judges_70x70_patches():
    d = stylecap.create("discriminator", "patchgan", filters=4, norm="none")
    x = torch.zeros(1, 3, 256, 256, requires_grad=True)
    scores = d(x)
    assert scores.shape == (1, 1, 30, 30)
    scores[0, 0, 15, 15].backward()
    rows, cols = x.grad[0].abs().sum(0).nonzero().unbind(1)
    assert rows.max() - rows.min() + 1 == 70 and cols.max() - cols.min() + 1 == 70


def test_gan_losses():
    real, fake = torch.full((4,), 3.0), torch.full((4,), -3.0)
    assert discriminator_loss("lsgan", torch.ones(4), torch.zeros(4)) == 0
    assert generator_loss("lsgan", torch.zeros(4)) == 1
    assert discriminator_loss("hinge", real, fake) == 0 and generator_loss("hinge", fake) == 3
    vanilla = discriminator_loss("vanilla", real, fake)  # binary cross-entropy of sigmoid(logits)
    assert vanilla == pytest.approx(-torch.sigmoid(real).log().mean().item(), rel=1e-5)


# -- the image pool ---------------------------------------------------------------------------


def test_pool_fills_then_swaps_half_of_the_time():
    torch.manual_seed(0)
    pool = ImagePool(3, (1, 1, 1))
    images = torch.arange(400.0).view(-1, 1, 1, 1)
    assert torch.equal(pool(images[:2]), images[:2]) and torch.equal(pool(images[2:3]), images[2:3])  # filling
    assert torch.equal(pool.images, images[:3]) and int(pool.count) == 3
    swaps = 0
    for image in images[3:]:
        before = pool.images.clone()
        out = pool(image[None])[0]
        if torch.equal(out, image):  # passed through: the pool is unchanged
            assert torch.equal(pool.images, before)
        else:  # a stored image came back and the new one took its place
            slot = (before == out).flatten().nonzero().item()
            assert pool.images[slot] == image and (pool.images != before).sum() == 1
            swaps += 1
    assert 0.4 < swaps / len(images[3:]) < 0.6
    fakes = images[:5].clone().requires_grad_()
    passed = ImagePool(0, (1, 1, 1))(fakes)  # no pool: the fakes themselves, cut from the generator's graph
    assert torch.equal(passed, images[:5]) and not passed.requires_grad


def test_pool_draws_repeat_under_a_seed():
    images = torch.rand(30, 3, 2, 2)

    def draws():
        torch.manual_seed(1)
        pool = ImagePool(4, (3, 2, 2))
        return torch.cat([pool(images[i : i + 2]) for i in range(0, 30, 2)])

    assert torch.equal(draws(), draws())


# -- training through the engine --------------------------------------------------------------


def test_training_lowers_the_losses_and_saves_sample_grids(domains, tmp_path):
    run = tmp_path / "run"
    stylecap.train(
        "style", "cyclegan", out=run, steps=24, batch_size=2, lr=2e-3, pool_size=4, sample_every=12, **domains, **TINY
    )
    rows = metrics(run)

    def mean(key, part):
        return sum(r[key] for r in part) / len(part)

    for key in ("g_loss", "d_loss", "cycle"):
        assert mean(key, rows[-4:]) < 0.8 * mean(key, rows[:4]), key
    assert sorted(p.name for p in (run / "samples").iterdir()) == ["step-00000012.png", "step-00000024.png"]
    assert Image.open(run / "samples" / "step-00000024.png").size == (3 * 34 + 2, 2 * 34 + 2)


def test_resume_is_exact_pool_included(domains, tmp_path):
    # the pools are full from step 2 on, so the resumed run must restore them too
    check_resume_is_exact("style", "cyclegan", tmp_path / "run", steps=6, pool_size=2, **domains, **TINY)


def test_weights_round_trip_through_exported_checkpoints(domains, tmp_path, capsys):
    run = tmp_path / "run"
    flags = ["--steps", "2", "--generator", "resnet-6", "--generator-options", "filters=8", "--crop-size", "32"]
    flags += ["--load-size", "36", "--discriminator-options", "filters=8,layers=2", "--out", str(run)]
    code, _, err = cli(capsys, "train", "style", "cyclegan", "--domain-a", str(domains["domain_a"]),
                       "--domain-b", str(domains["domain_b"]), *flags)  # fmt: skip
    assert code == 0, err
    trained = stylecap.Pipeline.load(run / "final").style
    assert trained.config.weights is None and trained.config.generator == "resnet-6"
    checkpoint = CheckpointFolder(run).latest() / "weights.safetensors"
    picture = torch.rand(1, 3, 37, 30)
    for weights in (checkpoint, run / "final" / "style.safetensors"):
        for direction in ("a2b", "b2a"):
            backend = stylecap.create("style", "cyclegan", weights=str(weights), direction=direction)
            assert backend.state_dict().keys() == trained.state_dict().keys()
            assert all(torch.equal(v, trained.state_dict()[k]) for k, v in backend.state_dict().items())
            out = backend.stylize(picture, [])
            assert out.shape == picture.shape and 0 <= out.min() and out.max() <= 1
    photo = tmp_path / "photo.png"
    Image.new("RGB", (30, 37), (90, 120, 200)).save(photo)
    code, out, err = cli(capsys, "run", str(photo), "--style-backend", "cyclegan", "-s", f"weights={checkpoint}",
                         "-s", "direction=b2a", "-o", str(tmp_path / "out"), "--json")  # fmt: skip
    assert code == 0, err
    assert Image.open(json.loads(out)["output"]).size == (30, 37)


# -- inference at any size --------------------------------------------------------------------


class Local(nn.Module):
    """A fully convolutional net that sees 2 pixels around each pixel; optionally instance-normalised."""

    multiple = 4

    def __init__(self, norm: bool):
        super().__init__()
        torch.manual_seed(0)
        self.body = nn.Sequential(
            nn.Conv2d(3, 8, 3, padding=1, padding_mode="reflect"),
            nn.InstanceNorm2d(8, affine=True) if norm else nn.Identity(),
            nn.ReLU(),
            nn.Conv2d(8, 3, 3, padding=1, padding_mode="reflect"),
        )
        for p in self.body.parameters():
            nn.init.normal_(p, 0.0, 0.5)

    def forward(self, x):
        return self.body(x)


@pytest.mark.parametrize("size", [(70, 53), (64, 64), (33, 100)])
@torch.no_grad()
def test_tiles_blend_into_the_untiled_output_of_a_fully_convolutional_net(size):
    image = torch.rand(1, 3, *size)
    plain = Local(norm=False)
    assert (tiled(plain, image, tile=32, overlap=16) - plain(image)).abs().max() < 1e-5
    normed = Local(norm=True)
    with shared_statistics(normed, image):  # the statistics of the whole picture
        assert (tiled(normed, image, tile=32, overlap=16) - normed(image)).abs().max() < 1e-5
    out = translate(normed, image, tile=32, overlap=16)
    with shared_statistics(normed, shrink(image, 32)):  # translate's: the picture shrunk to one tile
        assert out.shape == image.shape and (out - normed(image)).abs().max() < 1e-5


def test_any_size_is_padded_to_the_generators_multiple_and_cropped_back():
    g = stylecap.create("generator", "unet-128", filters=4).eval()
    image = torch.rand(1, 3, 37, 150) * 2 - 1
    assert run_padded(g, image).shape == image.shape
    assert translate(g, image, tile=64, overlap=16).shape == image.shape


# -- the vintage weights ----------------------------------------------------------------------


def test_vintage_matches_the_packages_own_model_on_a_photo():
    pytest.importorskip("vintagify")
    from vintagify.generator import ResnetGenerator

    reference = ResnetGenerator()
    reference.load_state_dict(torch.load(vintage.weights_file(), map_location="cpu", weights_only=True))
    photo = chelsea((384, 256))
    with torch.no_grad():
        expected = (reference.eval()(photo * 2 - 1) + 1) / 2
        out = stylecap.create("style", "cyclegan", weights="vintage").stylize(photo, [])
    assert (out - expected).abs().max() <= 1e-4


def test_vintage_tiles_show_no_seams():
    pytest.importorskip("vintagify")
    net = stylecap.create("style", "cyclegan").a2b
    photo = chelsea((256, 256)) * 2 - 1  # 2 x 2 tiles, overlapping by exactly 128
    with torch.no_grad():
        whole = run_padded(net, photo)
        with shared_statistics(net, photo):  # same statistics: only the tile borders can differ
            assert (tiled(net, photo, tile=192, overlap=128) - whole).abs().max() < 0.01


def test_vintage_runs_from_the_command_line(tmp_path, capsys):
    pytest.importorskip("vintagify")
    photo = tmp_path / "photo.jpg"
    Image.new("RGB", (48, 36), (200, 180, 150)).save(photo)
    code, out, err = cli(capsys, "run", str(photo), "--style-backend", "cyclegan", "-s", "weights=vintage",
                         "-s", "direction=a2b", "-o", str(tmp_path / "out"), "--json")  # fmt: skip
    assert code == 0, err
    record = json.loads(out)
    assert Image.open(record["output"]).size == (48, 36)
    assert record["components"]["style"]["config"]["generator_options"] == {"norm": "instance-affine"}
    code, _, err = cli(capsys, "run", str(photo), "--style-backend", "cyclegan", "-s", "weights=vintage",
                       "-s", "direction=b2a")  # fmt: skip
    assert code == 2 and "translate a2b only" in err


def test_vintage_needs_its_package_and_the_published_file(monkeypatch):
    monkeypatch.setattr(vintage, "DISTRIBUTION", "no-such-distribution")
    with pytest.raises(UsageError, match=r"pip install vintagify==0\.1\.2.*stylecap\[vintage\]"):
        stylecap.create("style", "cyclegan", weights="vintage")
    monkeypatch.undo()
    pytest.importorskip("vintagify")
    monkeypatch.setattr(vintage, "SHA256", "0" * 64)
    with pytest.raises(CheckpointError, match="not the published"):
        stylecap.create("style", "cyclegan", weights="vintage")


# -- configuration ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "values", "field"),
    [
        ("trainer", {"crop_size": 300}, "crop_size"),
        ("trainer", {"gan_loss": "wgan"}, "gan_loss"),
        ("trainer", {"lambda_a": "-1"}, "lambda_a"),
        ("trainer", {"pool_size": -1}, "pool_size"),
        ("trainer", {"generator": "resnet-7"}, "generator 'resnet-7'"),
        ("trainer", {"generator_options": "filtres=8"}, "filtres"),
        ("trainer", {"discriminator_options": {"layers": "x"}}, "layers"),
        ("trainer", {"domain_a": None}, "domain_a"),
        ("style", {"direction": "sideways"}, "direction"),
        ("style", {"overlap": 1024}, "overlap"),
        ("style", {"tile": 8}, "tile"),
        ("style", {"max_size": 4}, "max_size"),
        ("style", {"weights": "missing.safetensors"}, "weights"),
    ],
)
def test_bad_values_are_config_errors_naming_the_field(kind, values, field, tmp_path):
    base = {"domain_a": tmp_path, "domain_b": tmp_path} if kind == "trainer" else {}
    with pytest.raises(ConfigError, match=field):
        stylecap.registry(kind).get("cyclegan").build_config(base | values)


def test_crop_size_must_suit_the_generator(domains, tmp_path):
    with pytest.raises(ConfigError, match="crop_size 32 does not divide by 256"):
        stylecap.train("style", "cyclegan", out=tmp_path / "run", **domains, **(TINY | {"generator": "unet-256"}))
