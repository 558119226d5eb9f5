"""Pipeline: composition, metadata, alpha, save/load."""

from __future__ import annotations

import json

import pytest
import torch
from PIL import Image

from stylecap.core.errors import CheckpointError, UsageError
from stylecap.core.imageio import read_image, to_tensor
from stylecap.core.pipeline import Pipeline

from .conftest import Brightness, MeanShift


def channel_means(img):
    return to_tensor(img).mean((2, 3)).squeeze(0)


def test_from_names_runs_style_then_caption(toy_plugin, images):
    pipe = Pipeline.from_names("mean-shift", "brightness", style_config={"amount": "1"}, device="cpu")
    result = pipe(images.content, [images.red], seed=4)
    red = channel_means(read_image(images.red).rgb)
    assert torch.allclose(channel_means(result.image), red, atol=0.03)
    assert result.caption == "ooh, moody and dark"
    meta = result.metadata
    assert meta["seed"] == 4 and meta["size"] == [48, 40]
    assert meta["components"]["style"] == {
        "kind": "style",
        "name": "mean-shift",
        "plugin": "toy",
        "distribution": None,
        "version": None,
        "config": {"amount": 1.0},
    }
    assert set(meta["timings"]) == {"load_s", "style_s", "caption_s", "total_s"}
    json.dumps(meta)


def test_style_weights_blend(toy_plugin, images):
    pipe = Pipeline(MeanShift(), None, device="cpu")
    out = channel_means(pipe(images.content, [images.red, images.blue], style_weights=[3, 1]).image)
    red, blue = channel_means(read_image(images.red).rgb), channel_means(read_image(images.blue).rgb)
    assert torch.allclose(out, 0.75 * red + 0.25 * blue, atol=0.03)


def test_caption_source_content(toy_plugin, images):
    white = Image.new("RGB", (32, 32), "white")
    assert (
        Pipeline(MeanShift(), Brightness(), caption_source="content")(white, [images.blue]).caption == "wow, so bright"
    )
    assert Pipeline(MeanShift(), Brightness())(white, [images.blue]).caption == "ooh, moody and dark"


def test_missing_style_and_weight_mismatch_are_usage_errors(toy_plugin, images):
    pipe = Pipeline(MeanShift())
    with pytest.raises(UsageError, match="needs a style image"):
        pipe(images.content)
    with pytest.raises(UsageError, match="2 style weights for 1 style images"):
        pipe(images.content, [images.red], style_weights=[1, 2])


def test_alpha_of_the_content_is_kept(toy_plugin, images, tmp_path):
    rgba = Image.new("RGBA", (32, 32), (200, 100, 50, 255))
    rgba.putpixel((0, 0), (0, 0, 0, 0))
    result = Pipeline(MeanShift())(rgba, [images.blue])
    saved = Image.open(result.save(tmp_path / "o.png"))
    assert saved.mode == "RGBA" and saved.getpixel((0, 0))[3] == 0 and saved.getpixel((5, 5))[3] == 255


def test_max_size_downscales(toy_plugin, images):
    assert Pipeline(MeanShift(), max_size=24)(images.content, [images.red]).image.size == (24, 20)


def test_same_seed_same_metadata_seed_and_random_seed_recorded(toy_plugin, images):
    pipe = Pipeline(MeanShift())
    assert isinstance(pipe(images.content, [images.red]).metadata["seed"], int)


def test_save_load_round_trips_config_and_weights(toy_plugin, tmp_path, images):
    pipe = Pipeline.from_names("weighted", "brightness", style_config={"amount": 0.5}, max_size=30)
    with torch.no_grad():
        pipe.style.gain.weight.copy_(torch.tensor([0.5, 1.0, 2.0]))
    pipe.save(tmp_path / "p")
    doc = json.loads((tmp_path / "p" / "pipeline.json").read_text())
    assert doc["components"]["style"]["weights"] == "style.safetensors"
    assert "weights" not in doc["components"]["caption"]
    again = Pipeline.load(tmp_path / "p")
    assert again.style.config.amount == 0.5 and again.max_size == 30
    assert torch.equal(again.style.gain.weight, pipe.style.gain.weight)
    assert (
        again(images.content, [images.red], seed=1).image.tobytes()
        == pipe(images.content, [images.red], seed=1).image.tobytes()
    )


def test_loading_a_pipeline_whose_plugin_is_missing_names_the_package(toy_plugin, tmp_path):
    Pipeline.from_names("mean-shift").save(tmp_path / "p")
    doc_path = tmp_path / "p" / "pipeline.json"
    doc = json.loads(doc_path.read_text())
    doc["components"]["style"] |= {"name": "painterly", "distribution": "stylecap-plugin-painterly", "version": "2.0"}
    doc_path.write_text(json.dumps(doc))
    with pytest.raises(
        CheckpointError, match="'painterly' from stylecap-plugin-painterly 2.0.*pip install stylecap-plugin-painterly"
    ):
        Pipeline.load(tmp_path / "p")


def test_load_errors(tmp_path):
    with pytest.raises(UsageError, match="holds no pipeline.json"):
        Pipeline.load(tmp_path)
    (tmp_path / "pipeline.json").write_text("{")
    with pytest.raises(CheckpointError, match="not valid JSON"):
        Pipeline.load(tmp_path)
