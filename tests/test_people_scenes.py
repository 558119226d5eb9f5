"""People (OpenCV Haar cascades) and scenes (ImageNet classes summed per scene) on real offline photos."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from stylecap.core.config import build
from stylecap.core.errors import ConfigError, UsageError

PANEL = Path(__file__).resolve().parents[1] / "benchmarks" / "panel"
PEOPLE_WORDS = {"person", "people", "crowd", "face"}
SCENE_WORDS = {"beach", "street", "field", "room", "snow", "sky", "mountains", "forest", "water", "garden"}


def photo(path: Path) -> torch.Tensor:
    """A picture file as ``[1, 3, H, W]`` in [0, 1]."""
    array = np.asarray(Image.open(path).convert("RGB"), dtype=np.float32) / 255
    return torch.from_numpy(array).permute(2, 0, 1)[None].contiguous()


def skimage_photo(name: str) -> torch.Tensor:
    skimage = pytest.importorskip("skimage")
    return photo(Path(skimage.__file__).parent / "data" / name)


def assert_well_formed(condition) -> None:
    scores = [s for _, s in condition.concepts]
    assert all(0.0 <= s <= 1.0 for s in scores)
    assert scores == sorted(scores, reverse=True)
    assert set(condition.sources) == {c for c, _ in condition.concepts}


# -- people -------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def detector():
    pytest.importorskip("cv2")
    from stylecap.plugins.conditions.people import PeopleDetector

    return PeopleDetector()


def test_astronaut_is_one_person_with_a_clear_face(detector):
    condition = detector.encode(skimage_photo("astronaut.png"))
    concepts = dict(condition.concepts)
    assert set(concepts) == {"person", "face"}
    assert concepts["person"] > 0.5
    assert "frontal face" in condition.sources["face"] and condition.sources["person"].startswith("people")
    assert_well_formed(condition)


def test_astronaut_face_box_is_where_her_face_is(detector):
    found, (h, w) = detector.find(skimage_photo("astronaut.png"))
    assert len(found) == 1 and found[0].face and max(h, w) == detector.config.side
    x, y, bw, bh = found[0].box  # her face is in the upper middle of the picture
    assert 0.3 < (x + bw / 2) / w < 0.6 and (y + bh / 2) / h < 0.4


def test_cat_photo_has_no_person_and_no_face(detector):
    condition = detector.encode(skimage_photo("chelsea.png"))
    assert not PEOPLE_WORDS & {c for c, _ in condition.concepts}


@pytest.mark.parametrize("texture", ["grey", "noise", "stripes"])
def test_flat_and_textured_pictures_say_nothing(detector, texture):
    generator = torch.Generator().manual_seed(0)
    if texture == "grey":
        image = torch.full((1, 3, 300, 400), 0.5)
    elif texture == "noise":
        image = torch.rand(1, 3, 300, 400, generator=generator)
    else:
        image = (torch.arange(400).float().div(12).sin().add(1).div(2)).expand(1, 3, 300, 400).clone()
    condition = detector.encode(image)
    assert condition.concepts == [] and condition.sources == {}


@pytest.mark.parametrize("side", [512, 300])
def test_people_works_on_a_grey_picture_of_any_size(detector, side):
    face = skimage_photo("astronaut.png")
    grey = face.mean(1, keepdim=True).expand(1, 3, *face.shape[-2:])
    image = torch.nn.functional.interpolate(grey, size=(side, side), mode="bilinear", antialias=True)
    assert "person" in dict(detector.encode(image).concepts)


def test_people_config_is_checked():
    pytest.importorskip("cv2")
    from stylecap.plugins.conditions.people import PeopleDetector

    assert build(PeopleDetector.Config, {"side": "512", "bodies": "false"}).side == 512
    with pytest.raises(ConfigError, match="side"):
        build(PeopleDetector.Config, {"side": "64"})
    with pytest.raises(ConfigError, match="scale_factor"):
        build(PeopleDetector.Config, {"scale_factor": "1.0"})


def test_people_without_opencv_says_how_to_install(monkeypatch):
    from stylecap.plugins.conditions.people import PeopleDetector

    monkeypatch.setitem(sys.modules, "cv2", None)  # import cv2 now raises ImportError
    with pytest.raises(UsageError, match="OpenCV") as error:
        PeopleDetector()
    assert "pip install" in error.value.fix and "opencv-python-headless" in error.value.fix


# -- scenes -------------------------------------------------------------------------------------------------


class PeakedClassifier(torch.nn.Module):
    """A stand-in encoder whose logits put almost all probability on given ImageNet classes."""

    def __init__(self, classes: dict[int, float], size: int = 1000):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.zeros(1))
        self.logits = torch.full((1, size), -20.0)
        for index, logit in classes.items():
            self.logits[0, index] = logit

    def features(self, image, layers):
        assert image.shape[-2:] == (224, 224) and 0 <= image.min() and image.max() <= 1
        return {"logits": self.logits.expand(image.shape[0], -1)}


def test_scene_table_is_well_formed():
    from stylecap.plugins.conditions.scenes import SCENE_CLASSES, scene_classes

    names, matrix = scene_classes()
    assert set(names) <= SCENE_WORDS and {"beach", "mountains", "room", "street", "snow"} <= set(names)
    assert matrix.shape == (1000, len(names)) and matrix.sum(1).max() == 1  # a class points to one scene at most
    rows = [line.split("\t") for line in SCENE_CLASSES.read_text().splitlines()[1:]]
    classes = {int(r[0]): r[1] for r in rows}
    assert classes[978] == "seashore" and classes[970] == "alp" and classes[829] == "streetcar"
    imagenet = SCENE_CLASSES.with_name("imagenet_concepts.tsv")
    if imagenet.exists():  # the class names were copied from the ImageNet class list
        names_by_index = {int(r.split("\t")[0]): r.split("\t")[1] for r in imagenet.read_text().splitlines()[1:]}
        assert all(names_by_index[i] == name for i, name in classes.items())


def test_scene_scores_sum_the_classes_of_a_scene():
    from stylecap.plugins.conditions.scenes import SceneConcepts

    # seashore + sandbar (beach) hold most of the mass; alp (mountains) a little; a dog class none
    scenes = SceneConcepts(encoder=PeakedClassifier({978: 5.0, 977: 4.0, 970: 3.0, 207: 2.0}))
    condition = scenes.encode(torch.rand(1, 3, 100, 150))
    assert [c for c, _ in condition.concepts] == ["beach"]
    assert condition.concepts[0][1] == pytest.approx((np.exp(5) + np.exp(4)) / sum(np.exp([5, 4, 3, 2])), abs=1e-3)
    assert condition.sources["beach"].startswith("scenes")
    two = SceneConcepts(SceneConcepts.Config(min_score=0.05), encoder=scenes.encoder).encode(torch.rand(1, 3, 64, 64))
    assert [c for c, _ in two.concepts] == ["beach", "mountains"]
    assert_well_formed(two)


def test_no_scene_when_no_scene_class_is_likely():
    from stylecap.plugins.conditions.scenes import SceneConcepts

    condition = SceneConcepts(encoder=PeakedClassifier({207: 9.0})).encode(torch.rand(1, 3, 64, 64))
    assert condition.concepts == [] and condition.sources == {}


def test_scenes_refuse_a_layer_that_is_not_imagenet():
    from stylecap.plugins.conditions.scenes import SceneConcepts

    with pytest.raises(UsageError, match="1000 ImageNet"):
        SceneConcepts(encoder=PeakedClassifier({0: 1.0}, size=320)).encode(torch.rand(1, 3, 64, 64))


@pytest.fixture(scope="module")
def scenes():
    from stylecap.plugins.conditions.scenes import SceneConcepts

    return SceneConcepts()  # the real EfficientNet-Lite0 (offline weights), made on first use


@pytest.mark.parametrize(("name", "scene"), [("34-rocky-peaks.jpg", "mountains"), ("25-ladybird.jpg", "garden")])
def test_scenes_of_obvious_panel_photos(scenes, name, scene):
    if not (PANEL / name).exists():
        pytest.skip(f"benchmarks/panel/{name} is not in this checkout")
    condition = scenes.encode(photo(PANEL / name))
    assert condition.concepts and condition.concepts[0][0] == scene and condition.concepts[0][1] > 0.5
    assert_well_formed(condition)


def test_scenes_of_bundled_photos(scenes):
    assert dict(scenes.encode(skimage_photo("coffee.png")).concepts).get("room", 0) > 0.5  # an espresso on a table
    assert scenes.encode(skimage_photo("chelsea.png")).concepts == []  # a cat close-up has no scene
