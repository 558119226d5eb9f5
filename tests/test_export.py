"""ONNX export and runtime=onnx: onnxruntime gives torch's pictures at any size, the supported options
work, the others are refused by name, and a failed export leaves nothing behind."""

from __future__ import annotations

import json
import sys

import pytest
import torch
from PIL import Image
from torch import nn

import stylecap
from stylecap.core.errors import CheckpointError, ConfigError, ImageError, UsageError
from stylecap.core.export import export_onnx, load_onnx
from stylecap.core.imageio import to_tensor
from stylecap.core.pipeline import Pipeline
from stylecap.plugins.adain.decoder import upsampled_conv

from .conftest import run_cli

onnx = pytest.importorskip("onnx", reason="ONNX export needs pip install 'stylecap[onnx]'")
pytest.importorskip("onnxruntime", reason="runtime=onnx needs pip install 'stylecap[onnx]'")

SIZES = [(32, 48), (64, 64), (40, 56)]
TOLERANCE = 1e-3


def picture(seed: int, h: int, w: int) -> torch.Tensor:
    """Smooth random colours, like a photo at a small size."""
    coarse = torch.rand(1, 3, 4, 5, generator=torch.Generator().manual_seed(seed))
    return nn.functional.interpolate(coarse, size=(h, w), mode="bilinear")


@pytest.fixture(scope="module")
def adain_model(tmp_path_factory):
    """The shipped decoder, exported once for the module."""
    return export_onnx(stylecap.create("style", "adain"), tmp_path_factory.mktemp("onnx") / "adain.onnx")


def exported(model, **options) -> stylecap.StyleBackend:
    return stylecap.create("style", "adain", runtime="onnx", weights=str(model), **options)


def test_adain_file_has_dynamic_sides_and_says_what_it_holds(adain_model):
    model = onnx.load(adain_model)
    dims = {i.name: [d.dim_param or d.dim_value for d in i.type.tensor_type.shape.dim] for i in model.graph.input}
    assert dims["content"] == ["content_batch", 3, "content_height", "content_width"]
    assert dims["style"] == ["style_batch", 3, "style_height", "style_width"]
    _, config = load_onnx(adain_model, "adain")
    assert config["weights"] == "lite0" and config["levels"] == ["stage3", "stage2", "stage1"]


@pytest.mark.parametrize("size", SIZES)
def test_onnxruntime_gives_torchs_adain_picture_at_any_size(adain_model, size):
    torch_backend, onnx_backend = stylecap.create("style", "adain"), exported(adain_model)
    content, style = picture(1, *size), picture(2, 50, 38)
    want = torch_backend.stylize(content, [style])
    got = onnx_backend.stylize(content, [style])
    assert got.shape == want.shape == (1, 3, *size)
    assert (got - want).abs().max() <= TOLERANCE
    assert (got - content).abs().mean() > 0.02  # it did restyle


def test_blends_colour_preservation_and_batches_match_torch(adain_model):
    options = {"preserve_color": "luminance", "style_size": 32}
    torch_backend, onnx_backend = stylecap.create("style", "adain", **options), exported(adain_model, **options)
    content = torch.cat([picture(3, 40, 56), picture(4, 40, 56)])
    styles, weights = [picture(5, 30, 30), picture(6, 44, 36) * 0.5], [3.0, 1.0]
    want = torch_backend.stylize(content, styles, style_weights=weights)
    got = onnx_backend.stylize(content, styles, style_weights=weights)
    assert (got - want).abs().max() <= TOLERANCE
    assert (got - onnx_backend.stylize(content, styles[:1])).abs().max() > 0.01  # the second style counts


def test_a_repeated_style_is_encoded_once(adain_model, monkeypatch):
    backend = exported(adain_model)
    calls = []
    code = backend.exported.code
    monkeypatch.setattr(backend.exported, "code", lambda style: calls.append(1) or code(style))
    content, style = picture(7, 32, 32), picture(8, 30, 30)
    first = backend.stylize(content, [style])
    again = backend.stylize(content, [style.clone()])  # equal pixels, another tensor: as a folder of photos gives
    assert len(calls) == 1 and torch.equal(first, again)
    backend.stylize(content, [picture(9, 30, 30)])
    assert len(calls) == 2


def test_runtime_onnx_from_the_command_line_matches_torch(adain_model, tmp_path, capsys):
    photo, art = tmp_path / "photo.png", tmp_path / "art.png"
    for path, seed, size in ((photo, 10, (40, 56)), (art, 11, (48, 48))):
        Image.fromarray(picture(seed, *size)[0].permute(1, 2, 0).mul(255).byte().numpy()).save(path)
    pictures = {}
    for runtime in ("torch", "onnx"):
        options = ["-s", f"runtime={runtime}"] + (["-s", f"weights={adain_model}"] if runtime == "onnx" else [])
        code, out, err = run_cli(capsys, "run", str(photo), "--style", str(art), "--style-backend", "adain", *options,
                                 "--caption-backend", "none", "-o", str(tmp_path / runtime), "--json")  # fmt: skip
        assert code == 0, err
        pictures[runtime] = to_tensor(Image.open(json.loads(out)["output"]))
    assert (pictures["onnx"] - pictures["torch"]).abs().max() <= 1 / 255  # one step of 8-bit rounding at most


def test_a_saved_pipeline_carries_the_exported_model(adain_model, tmp_path):
    pipeline = Pipeline.from_names("adain", None, style_config={"runtime": "onnx", "weights": str(adain_model)})
    content, style = picture(12, 40, 40), picture(13, 32, 32)
    saved = pipeline.save(tmp_path / "saved")
    assert (saved / "style-files" / "adain.onnx").is_file()
    loaded = Pipeline.load(saved)
    assert torch.equal(loaded.style.stylize(content, [style]), pipeline.style.stylize(content, [style]))


@pytest.mark.parametrize(
    ("options", "named"),
    [
        ({"weights": "lite0"}, "runtime=onnx runs a model written by `stylecap export adain`, and weights 'lite0'"),
        ({"alpha": 0.5}, "alpha=0.5 needs runtime=torch"),
        ({"masks": ["sky.png"]}, "masks=.* needs runtime=torch"),
        ({"precision": "bf16"}, "precision=bf16 needs runtime=torch"),
    ],
)
def test_unsupported_options_are_refused_by_name(adain_model, options, named):
    with pytest.raises(ConfigError, match=named):
        stylecap.create("style", "adain", **({"runtime": "onnx", "weights": str(adain_model)} | options))


def test_wrong_models_and_pictures_are_refused(adain_model, tmp_path):
    with pytest.raises(ConfigError, match="is an exported model: add runtime=onnx"):
        stylecap.create("style", "adain", weights=str(adain_model))
    with pytest.raises(ConfigError, match="option width=8 differs from 16"):
        exported(adain_model, width=8)
    (tmp_path / "junk.onnx").write_bytes(b"not a model")
    with pytest.raises(CheckpointError, match="junk.onnx is not an ONNX model"):
        exported(tmp_path / "junk.onnx")
    cyclegan = export_onnx(stylecap.create("style", "cyclegan", weights=None, generator_options="filters=2"),
                           tmp_path / "cyclegan.onnx")  # fmt: skip
    with pytest.raises(CheckpointError, match="exported from cyclegan, not adain"):
        exported(cyclegan)
    backend = exported(adain_model)
    with pytest.raises(ImageError, match="at least 17 px a side, not 80 x 10"):
        backend.stylize(picture(14, 10, 80), [picture(15, 20, 20)])
    with pytest.raises(UsageError, match="masks need runtime=torch"):
        backend.stylize(picture(14, 32, 32), [picture(15, 20, 20)], masks=torch.ones(1, 1, 32, 32))
    with pytest.raises(UsageError, match="runs the exported model"):
        export_onnx(backend, tmp_path / "again.onnx")


@pytest.mark.parametrize("size", SIZES)
def test_onnxruntime_gives_torchs_cyclegan_picture_at_any_size(tmp_path, size):
    backend = stylecap.create("style", "cyclegan", weights=None, generator_options="filters=4")
    session, config = load_onnx(export_onnx(backend, tmp_path / "cyclegan.onnx"), "cyclegan")
    content = picture(16, *size)
    got = torch.from_numpy(session.run(["image"], {"content": content.numpy()})[0])
    assert config["generator"] == "resnet-9" and config["direction"] == "a2b"
    assert (got - backend.stylize(content, [])).abs().max() <= TOLERANCE


def test_command_line_export_and_its_errors(tmp_path, capsys):
    out = tmp_path / "models" / "tiny.onnx"
    code, said, err = run_cli(capsys, "export", "cyclegan", "--out", str(out), "-s", "weights=none",
                              "-s", "generator_options=filters=2")  # fmt: skip
    assert code == 0 and out.is_file() and str(out) in said, err
    (tmp_path / "file").write_text("")
    for args, message in (
        (["gatys", "--out", str(out)], "style backend 'gatys' cannot be exported to ONNX (export one of adain, "),
        (["adian", "--out", str(out)], "unknown style backend 'adian' (did you mean 'adain'?"),
        (["cyclegan", "--out", str(tmp_path / "model.txt")], "model.txt (give a file name ending in .onnx)"),
        (["cyclegan", "--out", str(tmp_path / "file" / "m.onnx")], "file is not a folder you can write to"),
        (["cyclegan", "--out", str(out), "-s", "tile=512"], "option tile applies when pictures are stylised"),
    ):
        code, _, err = run_cli(capsys, "export", *args)
        assert code == 2 and message in err, err


def test_without_the_onnx_extra_both_say_what_to_install(adain_model, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import onnxruntime raises ImportError
    with pytest.raises(UsageError, match=r"need the package onnxruntime \(pip install 'stylecap\[onnx\]'\)"):
        exported(adain_model)
    with pytest.raises(UsageError, match="need the package onnxruntime"):
        export_onnx(stylecap.create("style", "cyclegan", weights=None), tmp_path / "m.onnx")
    assert list(tmp_path.iterdir()) == []


class Baked(stylecap.StyleBackend):
    """A backend whose graph computes with a size the trace turns into a constant."""

    name = "baked"

    def onnx_module(self) -> nn.Module:
        class Graph(nn.Module):
            outputs, optional = ("image",), ()

            def example_inputs(self):
                return {"content": torch.rand(1, 3, 37, 53)}

            def forward(self, content):
                return content * (int(content.shape[-1]) / 53)

        return Graph()


def test_a_graph_that_fixes_a_size_is_refused_and_leaves_nothing(tmp_path):
    with pytest.raises(CheckpointError, match="differs from torch's"):
        export_onnx(Baked(), tmp_path / "baked.onnx")
    assert list(tmp_path.iterdir()) == []


def test_the_decoders_last_step_at_half_resolution_is_upsample_pad_conv():
    conv = nn.Conv2d(5, 3, 3).requires_grad_(False)
    x = torch.randn(2, 5, 7, 10)
    want = conv(nn.ReflectionPad2d(1)(nn.Upsample(scale_factor=2)(x)))
    assert (upsampled_conv(x, conv) - want).abs().max() <= 1e-5
