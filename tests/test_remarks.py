"""The ``remark`` captioner: sentences that read right for every subject, carry the tone asked for, and say only
what the condition saw."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import torch

import stylecap
from stylecap.core.component import Colour, Condition
from stylecap.core.imageio import read_image, to_tensor
from stylecap.plugins.captions.rerank import COLOUR_WORDS
from stylecap.plugins.captions.text import tokenize
from stylecap.plugins.captions.tones import TONES, tone_of
from stylecap.plugins.remarks.grammar import SOMEWHERE, TEMPLATES, Subject, fits, say
from stylecap.plugins.remarks.lexicon import noun

from .conftest import run_cli

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "images"
SUBJECTS = {
    "animal": ["cat", "dog"], "person": ["person", "people", "crowd"], "food": ["pizza", "potatoes"],
    "drink": ["coffee"], "place": ["beach", "mountains"], "plant": ["flowers", "mushroom"],
    "vehicle": ["car"], "thing": ["clock", "shoes"],
}  # fmt: skip
PLURAL_AGREEMENT = re.compile(r"\b(these \w+|they) (looks|is|has)\b")
SINGULAR_AGREEMENT = re.compile(r"\bthis \w+ (look|are|have)\b")


def filled(template):
    """``template`` said of every subject it fits (singular, plural, people), or of nothing."""
    if template.kinds == ("none",):
        return [say(template, None, ["blue", "grey"])]
    if template.kinds == ("somewhere",):
        return [say(template, SOMEWHERE, ["blue", "grey"])]
    kinds = template.kinds or tuple(SUBJECTS)
    return [say(template, Subject.of(noun(c)), ["blue", "grey"]) for k in kinds for c in SUBJECTS[k]]


@pytest.mark.parametrize("template", TEMPLATES, ids=lambda t: t.text[:40])
def test_every_template_reads_right_and_carries_its_tone(template):
    for text in filled(template):
        assert "{" not in text and text[0].isupper(), text
        assert not PLURAL_AGREEMENT.search(text) and not SINGULAR_AGREEMENT.search(text), text
        assert tone_of(text, tokenize(text)) == template.tone, text


def test_every_tone_can_speak_of_every_kind_painted_or_not():
    for tone in TONES:
        for painted in (True, False):
            for kind, concepts in SUBJECTS.items():
                for where in ("", "in the woods"):
                    subject = Subject.of(noun(concepts[0]), where)
                    assert any(t.tone == tone and fits(t, subject, painted) for t in TEMPLATES), (tone, kind, where)
            for unnamed in (None, SOMEWHERE):
                assert any(t.tone == tone and fits(t, unnamed, painted) for t in TEMPLATES), (tone, painted)
                assert not any(fits(t, unnamed, painted) and "{s}" in t.text for t in TEMPLATES)


def remark(monkeypatch, condition, **options):
    backend = stylecap.create("caption", "remark", **options)
    monkeypatch.setattr(backend, "condition", lambda image, content=None: (condition, []))
    return backend


PICTURE = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(0))
BLUE = [Colour("blue", 0.6), Colour("grey", 0.3), Colour("red", 0.05)]


def test_names_the_people_it_is_sure_of_in_their_scene_and_only_the_picture_colours(monkeypatch):
    condition = Condition([("football", 0.9), ("beach", 0.8), ("people", 0.7), ("dog", 0.2)], colours=BLUE)
    said = remark(monkeypatch, condition, num_captions=6, tone="plain").captions(PICTURE, content=PICTURE.flip(-1))
    assert len(set(said.texts)) == 6
    for text in said.texts:
        assert "these people on the beach" in text.lower() and "football" not in text and "dog" not in text
        assert "beach in" not in text, text
        colours = {COLOUR_WORDS[w] for w in tokenize(text) if w in COLOUR_WORDS}
        assert colours <= {"blue", "grey"}, text  # red covers too little to be said


def test_says_it_cannot_tell_when_unsure_and_speaks_of_paint_only_when_restyled(monkeypatch):
    unsure = remark(monkeypatch, Condition([("badger", 0.25), ("lemur", 0.2)], colours=BLUE), num_captions=3)
    for text in unsure.captions(PICTURE, content=PICTURE.flip(-1)).texts:
        assert "badger" not in text and "lemur" not in text
    unsure.config.num_captions = 20
    for text in unsure.captions(PICTURE).texts:  # every tone says that it cannot tell
        assert re.search(r"what (this is|i'm looking at)", text.lower()), text
    cat = remark(monkeypatch, Condition([("cat", 0.9)], colours=BLUE), num_captions=20, tone="plain")
    photo = " ".join(cat.captions(PICTURE, content=PICTURE).texts).lower()
    restyled = " ".join(cat.captions(PICTURE, content=PICTURE.flip(-1)).texts).lower()
    assert "paint" not in photo and "paint" in restyled


def test_the_tone_follows_the_mood_or_the_request_and_seeds_vary_the_words(monkeypatch):
    def tones(mood, **options):
        condition = Condition([("dog", 0.9)], colours=BLUE, mood=mood)
        said = remark(monkeypatch, condition, num_captions=2, **options).captions(PICTURE, seed=1).texts
        return {tone_of(t, tokenize(t)) for t in said}

    assert tones({"pleasure": 0.5}) == {"cheerful"} and tones({"pleasure": -0.6}) == {"wistful"}
    assert tones({"pleasure": 0.5}, tone="spooky") == {"spooky"}
    backend = remark(monkeypatch, Condition([("dog", 0.9)], colours=BLUE))
    by_seed = [backend.captions(PICTURE, seed=s).texts[0] for s in range(8)]
    assert by_seed[0] == backend.captions(PICTURE, seed=0).texts[0] and len(set(by_seed)) > 1


def test_options_are_checked():
    with pytest.raises(stylecap.StylecapError, match="sure"):
        stylecap.create("caption", "remark", sure=1.5)


def test_a_real_photo_gets_a_remark_about_its_subject():
    photo = to_tensor(read_image(EXAMPLES / "chelsea.jpg").rgb)
    said = stylecap.create("caption", "remark", num_captions=2).captions(photo, seed=0)
    assert said.condition.concepts[0][0] == "cat"
    assert len(said.texts) == 2 and all("this cat" in t.lower() for t in said.texts)


def test_several_captions_reach_the_text_file_and_the_caption_command(tmp_path, capsys):
    photo = str(EXAMPLES / "chelsea.jpg")
    args = ["--caption-backend", "remark", "-c", "num_captions=3", "--seed", "2"]
    code, out, err = run_cli(capsys, "run", photo, "--style-backend", "none", "-o", str(tmp_path), "--json", *args)
    said = json.loads(out)["captions"]
    assert code == 0 and len(set(said)) == 3, err
    assert (tmp_path / "chelsea.txt").read_text() == "".join(f"{c}\n" for c in said)
    code, out, err = run_cli(capsys, "caption", photo, *args)
    assert code == 0 and said[0] in out and all(f"or: {c}" in out for c in said[1:]), err


def test_a_near_tie_of_one_kind_is_said_as_the_kind_and_a_scene_beats_a_weaker_place(monkeypatch):
    def subject(concepts, **options):
        backend = remark(monkeypatch, Condition(concepts, colours=BLUE), tone="plain", **options)
        return backend.subject(Condition(concepts)).s

    backend = remark(monkeypatch, Condition([("church", 0.38), ("boathouse", 0.37)], colours=BLUE), tone="plain")
    said = "Hmm, hard to say where this is, mostly blue and grey."
    assert backend.captions(PICTURE).texts == [said]  # not "this place": it names nothing
    assert backend.subject(Condition([("mountains", 0.84), ("valley", 0.81)])) is SOMEWHERE
    assert subject([("bird", 0.39), ("squirrel", 0.36)]) == "this animal"
    assert subject([("bird", 0.39), ("squirrel", 0.36)], hedge=1.0) == "this bird"
    assert subject([("dog", 0.6), ("cat", 0.3), ("car", 0.59)]) == "this dog"  # a rival of another kind is no tie
    assert subject([("person", 0.5), ("face", 0.49)]) == "this person"  # people are never hedged
    assert subject([("mountains", 0.5), ("volcano", 0.3)]) == "these mountains"
    assert subject([("dog", 0.5), ("forest", 0.6)]) == "this dog in the woods"
