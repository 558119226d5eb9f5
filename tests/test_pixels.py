"""Pixel facts: colour names, where colours sit, look and mood, on pictures drawn here."""

from __future__ import annotations

import json
import time

import pytest
import torch

from stylecap.core.config import build
from stylecap.plugins.conditions.pixels import PixelFacts, mood, mood_word, name_colours, srgb_to_lab


def solid(rgb: tuple[int, int, int], h: int = 32, w: int = 32) -> torch.Tensor:
    """A one-colour picture ``[1, 3, h, w]`` in [0, 1]."""
    return torch.tensor(rgb, dtype=torch.float32).div(255).view(1, 3, 1, 1).expand(1, 3, h, w).clone()


def terms(image: torch.Tensor, **config) -> list[str]:
    return [c.term for c in PixelFacts(PixelFacts.Config(**config)).encode(image).colours]


BLUE, YELLOW = (30, 80, 220), (250, 220, 30)


def test_red_square_is_red_all_over():
    colours = PixelFacts().encode(solid((220, 20, 30))).colours
    assert [c.term for c in colours] == ["red"]
    assert colours[0].share == pytest.approx(1.0)
    assert colours[0].where == "all over"


@pytest.mark.parametrize("size", [(60, 60), (300, 200)])  # as is, and shrunk before measuring
@pytest.mark.parametrize("split", ["rows", "columns"])
def test_half_blue_half_yellow_names_both_and_where(split, size):
    h, w = size
    image = solid(BLUE, h, w)
    if split == "rows":
        image[:, :, h // 2 :] = solid(YELLOW, h - h // 2, w)
    else:
        image[:, :, :, w // 2 :] = solid(YELLOW, h, w - w // 2)
    colours = {c.term: c for c in PixelFacts().encode(image).colours}
    assert set(colours) == {"blue", "yellow"}
    assert colours["blue"].share == pytest.approx(0.5, abs=0.03)
    assert colours["yellow"].share == pytest.approx(0.5, abs=0.03)
    first, second = ("top", "bottom") if split == "rows" else ("left", "right")
    assert (colours["blue"].where, colours["yellow"].where) == (first, second)


@pytest.mark.parametrize(
    "rgb, term",
    [
        ((0, 0, 0), "black"),
        ((20, 20, 24), "black"),
        ((255, 255, 255), "white"),
        ((235, 235, 230), "white"),
        ((128, 128, 128), "grey"),
        ((180, 180, 185), "grey"),
        ((139, 69, 19), "brown"),  # saddle brown
        ((150, 100, 60), "brown"),  # wood
        ((255, 192, 203), "pink"),
        ((255, 105, 180), "pink"),  # hot pink
        ((255, 20, 147), "pink"),  # deep pink, darker but rose
        ((255, 140, 0), "orange"),
        ((255, 165, 0), "orange"),
        ((128, 0, 128), "purple"),
        ((102, 51, 153), "purple"),
        ((255, 0, 0), "red"),
        ((128, 0, 0), "red"),  # maroon
        ((255, 255, 0), "yellow"),
        ((255, 215, 0), "yellow"),  # gold
        ((0, 128, 0), "green"),
        ((154, 205, 50), "green"),  # yellow-green
        ((0, 0, 255), "blue"),
        ((135, 206, 235), "blue"),  # sky blue
        ((0, 0, 128), "blue"),  # navy, dark but clearly blue
    ],
)
def test_swatches_are_named(rgb, term):
    assert terms(solid(rgb)) == [term]


def test_centred_patch_is_centre_and_background_all_over():
    image = solid((250, 250, 250), 64, 64)
    image[:, :, 16:48, 16:48] = solid((0, 130, 0), 32, 32)
    colours = {c.term: c for c in PixelFacts().encode(image).colours}
    assert colours["green"].where == "centre"
    assert colours["green"].share == pytest.approx(0.25)
    assert colours["white"].where == "all over"


def test_colours_are_largest_first_and_limited():
    shares = {(255, 0, 0): 0.3, (0, 0, 255): 0.25, (0, 128, 0): 0.2, (255, 255, 0): 0.15, (0, 0, 0): 0.1}
    image = torch.cat([solid(rgb, 8, round(100 * s)) for rgb, s in shares.items()], dim=3)
    assert terms(image) == ["red", "blue", "green", "yellow"]  # max_colours 4 drops black
    assert terms(image, max_colours=2) == ["red", "blue"]
    assert terms(image, min_share=0.18) == ["red", "blue", "green"]
    assert terms(image, min_share=0.9) == ["red"]  # the largest is always kept


def test_lab_matches_reference_values():
    rgb = torch.tensor([[1.0, 1.0, 1.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.5, 0.5, 0.5]]).T[:, :, None]
    lab = srgb_to_lab(rgb)[:, :, 0].T
    expected = torch.tensor([[100.0, 0.0, 0.0], [53.24, 80.09, 67.20], [32.30, 79.19, -107.86], [53.39, 0.0, 0.0]])
    assert torch.allclose(lab, expected, atol=0.1)
    assert name_colours(srgb_to_lab(rgb)).flatten().tolist() == [1, 3, 7, 2]  # white, red, blue, grey


def test_brightness_follows_lightness():
    dark, light = PixelFacts().encode(solid((25, 20, 30))), PixelFacts().encode(solid((235, 240, 230)))
    assert dark.look["brightness"] < 0.15
    assert light.look["brightness"] > 0.85


def test_saturated_picture_is_more_saturated_than_grey():
    vivid, grey = PixelFacts().encode(solid((230, 40, 40))), PixelFacts().encode(solid((128, 128, 128)))
    assert grey.look["saturation"] == pytest.approx(0.0, abs=0.01)
    assert vivid.look["saturation"] > 0.8


def test_warm_is_warmer_than_cool():
    warm = PixelFacts().encode(solid((240, 140, 40))).look["warmth"]
    cool = PixelFacts().encode(solid((40, 90, 220))).look["warmth"]
    grey = PixelFacts().encode(solid((128, 128, 128))).look["warmth"]
    assert warm > 0.8 and cool < -0.8
    assert grey == pytest.approx(0.0, abs=0.01)
    tinted = PixelFacts().encode(solid((140, 128, 120))).look["warmth"]  # barely warm grey: barely warm
    assert 0 < tinted < 0.4


def test_contrast_is_rms_of_lightness():
    flat = PixelFacts().encode(solid((100, 150, 200))).look["contrast"]
    halves = torch.cat([solid((0, 0, 0), 32, 16), solid((255, 255, 255), 32, 16)], dim=3)
    assert flat == pytest.approx(0.0, abs=1e-4)
    assert PixelFacts().encode(halves).look["contrast"] == pytest.approx(0.5, abs=0.01)


def test_bright_saturated_is_more_pleasant_than_dark_dull():
    bright = PixelFacts().encode(solid((255, 220, 40))).mood
    dull = PixelFacts().encode(solid((45, 45, 50))).mood
    assert bright["pleasure"] > dull["pleasure"] + 0.5
    assert set(bright) == {"pleasure", "arousal", "dominance"}
    assert all(-1 <= v <= 1 for v in [*bright.values(), *dull.values()])
    assert mood_word(dull) == "gloomy"
    assert mood_word(PixelFacts().encode(solid((230, 20, 20))).mood) == "lively"


def test_mood_normalisation_spans_minus_one_to_one():
    black, white, vivid_dark, vivid_bright = mood(0, 0), mood(1, 0), mood(0, 1), mood(1, 1)
    assert black["pleasure"] == pytest.approx(-1) and vivid_bright["pleasure"] == pytest.approx(1)
    assert white["arousal"] == pytest.approx(-1) and vivid_dark["arousal"] == pytest.approx(1)
    assert white["dominance"] == pytest.approx(-1) and vivid_dark["dominance"] == pytest.approx(1)
    # Valdez & Mehrabian's weights, rescaled from their range over the unit square
    dim = mood(0.8, 0.2)
    assert dim["pleasure"] == pytest.approx(2 * (0.69 * 0.8 + 0.22 * 0.2) / 0.91 - 1)
    assert dim["arousal"] == pytest.approx(2 * (-0.31 * 0.8 + 0.60 * 0.2 + 0.31) / 0.91 - 1)
    assert dim["dominance"] == pytest.approx(2 * (-0.76 * 0.8 + 0.32 * 0.2 + 0.76) / 1.08 - 1)


@pytest.mark.parametrize(
    "pleasure, arousal, word",
    [
        (-0.8, -0.3, "gloomy"),
        (-0.5, 0.5, "tense"),
        (0.1, 0.6, "lively"),
        (0.4, -0.6, "calm"),
        (0.5, 0.0, "cheerful"),
        (-0.1, -0.2, "mellow"),
    ],
)
def test_mood_word_quadrants(pleasure, arousal, word):
    assert mood_word({"pleasure": pleasure, "arousal": arousal, "dominance": 0.0}) == word


def test_condition_json_shape():
    image = solid(BLUE, 40, 40)
    image[:, :, 25:] = solid(YELLOW, 15, 40)
    out = PixelFacts().encode(image).to_json()
    assert json.loads(json.dumps(out)) == out
    assert out["concepts"] == []
    assert [c["term"] for c in out["colours"]] == ["blue", "yellow"]
    assert all(set(c) == {"term", "share", "where"} for c in out["colours"])
    assert set(out["look"]) == {"brightness", "saturation", "warmth", "contrast"}
    assert set(out["mood"]) == {"pleasure", "arousal", "dominance"}
    assert all(isinstance(v, float) for v in [*out["look"].values(), *out["mood"].values()])


def test_inputs_of_other_shapes():
    facts = PixelFacts()
    assert [c.term for c in facts.encode(solid((0, 0, 255))[0]).colours] == ["blue"]  # [3, H, W]
    assert [c.term for c in facts.encode(torch.full((1, 1, 20, 30), 0.5)).colours] == ["grey"]  # greyscale
    assert [c.term for c in facts.encode(solid((255, 0, 0), 1, 500)).colours] == ["red"]  # a thin strip
    with pytest.raises(ValueError, match="one image"):
        facts.encode(torch.rand(2, 3, 8, 8))


def test_config_comes_from_strings_and_is_checked():
    assert build(PixelFacts.Config, {"size": "64", "max_colours": "2"}) == PixelFacts.Config(size=64, max_colours=2)
    for bad in ({"min_share": 2.0}, {"max_colours": 0}, {"size": 4}, {"grey_chroma": -1.0}):
        with pytest.raises(ValueError):
            PixelFacts.Config(**bad).validate()


def test_fast_on_a_large_picture():
    facts, image = PixelFacts(), torch.rand(1, 3, 1024, 1024)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # one thread is steadier than several on a machine busy with other tests
    try:
        facts.encode(image)
        best = min(_timed(facts.encode, image) for _ in range(5))
    finally:
        torch.set_num_threads(threads)
    assert best < 0.25  # about 10 ms on one CPU core; generous for busy CI machines


def _timed(fn, *args) -> float:
    start = time.perf_counter()
    fn(*args)
    return time.perf_counter() - start
