"""Paired captions end to end: train mle-lstm on COCO / Flickr / styled files, pooled features cached
once per picture, split by picture, export, reload, and caption through the pipeline and `stylecap run`."""

from __future__ import annotations

import json
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F
from PIL import Image

import stylecap
from stylecap.core import host as plugins
from stylecap.core.checkpoint import load_checkpoint, metadata_json
from stylecap.core.component import Condition, ConditionEncoder
from stylecap.core.imageio import read_image, to_tensor
from stylecap.plugins.captions.backend import MLELSTM
from stylecap.plugins.captions.paired import DataError

from .conftest import MeanShift, run_cli

COLOURS = {
    "red": (210, 30, 30),
    "green": (30, 190, 40),
    "blue": (30, 40, 210),
    "yellow": (220, 210, 30),
    "purple": (140, 30, 170),
    "white": (240, 240, 240),
}
SAYINGS = ["wow, so {} and bright", "omg that {} is everything"]


class TinyPooled(ConditionEncoder):
    """Mean colour over a grid of cells: a pooled feature vector that is fast and tells the pictures apart.
    ``calls`` counts pictures encoded, so a test can see the feature cache at work."""

    name = "tiny-pooled"
    calls = 0

    @dataclass
    class Config:
        grid: int = stylecap.field(2, help="Cells per side.")

    def __init__(self, config=None):
        super().__init__(config)
        self.dim = 3 * self.config.grid**2

    def encode(self, image):
        TinyPooled.calls += 1
        return Condition(features=F.adaptive_avg_pool2d(image.float(), self.config.grid).flatten())


@pytest.fixture
def tiny_encoder():
    plugin = SimpleNamespace(register_condition_encoders=stylecap.hookimpl(lambda register: register(TinyPooled)))
    plugins.host().register(plugin, "tiny-encoder")
    yield TinyPooled
    if plugins.host().pm.has_plugin("tiny-encoder"):
        plugins.host().unregister("tiny-encoder")


@pytest.fixture
def data(tmp_path):
    """Six flat 32-px pictures with two captions each naming their colour, in all three paired formats."""
    folder = tmp_path / "images"
    folder.mkdir()
    names = list(COLOURS)
    for name, rgb in COLOURS.items():
        Image.new("RGB", (32, 32), rgb).save(folder / f"{name}.png")
    captions = [(n, s.format(n)) for n in names for s in SAYINGS]
    coco = {
        "images": [{"id": i, "file_name": f"{n}.png"} for i, n in enumerate(names)],
        "annotations": [{"image_id": names.index(n), "caption": c} for n, c in captions],
    }
    files = SimpleNamespace(images=folder, coco=tmp_path / "captions.json", flickr=tmp_path / "token.txt")
    files.coco.write_text(json.dumps(coco, indent=1))
    files.flickr.write_text("".join(f"{n}.png#{k % 2}\t{c}\n" for k, (n, c) in enumerate(captions)))
    files.styled = tmp_path / "styled.tsv"
    files.styled.write_text("image\tcaption\tstyle\n" + "".join(f"{n}.png\t{c}\thumor\n" for n, c in captions))
    return files


TINY = dict(steps=40, batch_size=8, embed=16, hidden=32, min_count=1, lr=0.03, log_every=10, checkpoint_every=40,
            condition="tiny-pooled", val_fraction=0.34)  # fmt: skip


def train(data, fmt: str, out: Path, **options):
    annotations = {"coco": data.coco, "flickr": data.flickr, "styled": data.styled}[fmt]
    return stylecap.train("caption", "mle-lstm", out=out, paired=fmt, annotations=annotations, images=data.images,
                          cache_dir=out.parent / "cache", **TINY | options)  # fmt: skip


@pytest.fixture
def trained(tmp_path, data, tiny_encoder):
    return tmp_path / "run", train(data, "coco", tmp_path / "run")


def picture(data, name: str) -> torch.Tensor:
    return to_tensor(read_image(data.images / f"{name}.png").rgb)


@pytest.mark.parametrize("fmt", ["coco", "flickr", "styled"])
def test_training_lowers_the_loss_splits_by_picture_and_caches_features(tmp_path, data, tiny_encoder, fmt):
    before = TinyPooled.calls
    backend = train(data, fmt, tmp_path / "run")
    assert TinyPooled.calls - before == len(COLOURS)  # once per picture, not per caption
    losses = [json.loads(line)["loss"] for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert losses[-1] < 0.5 * losses[0], losses
    split = json.loads((tmp_path / "run" / "split.json").read_text())
    assert len(split["val"]) == 2 and not set(split["train"]) & set(split["val"])
    assert set(split["train"]) | set(split["val"]) == {f"{n}.png" for n in COLOURS}
    # the vocabulary comes from the training captions alone: a held-out picture's colour word is unknown
    held_out = {name.removesuffix(".png") for name in split["val"]}
    assert "omg" in backend.vocab.index and not held_out & set(backend.vocab.index)
    assert backend.paired and backend.concepts == [] and backend.config.grounding == "none"
    assert len(list((tmp_path / "cache" / "captions").glob("features-tiny-pooled-*.safetensors"))) == 1

    train(data, fmt, tmp_path / "again")
    assert TinyPooled.calls - before == len(COLOURS)  # the second run read every picture's features from disk


def test_the_exported_model_reloads_with_its_encoder_and_captions_pictures(trained, data, tmp_path):
    run, backend = trained
    trained_on = json.loads((run / "split.json").read_text())["train"]
    pipe = stylecap.Pipeline.load(run / "final")
    again = pipe.caption
    assert again.paired and again.config.condition == "tiny-pooled" and again.config.condition_options == {"grid": 2}
    for name in (n.removesuffix(".png") for n in trained_on):
        text = pipe(data.images / f"{name}.png", seed=0).caption
        assert text == backend.caption(picture(data, name)) and name in text, (name, text)

    # a model file alone is enough: the metadata names the encoder and its options
    for path in (run / "final" / "caption.safetensors", backend.save(tmp_path / "m.safetensors", half=True)):
        config = metadata_json(load_checkpoint(path)[1], "config")
        assert (config["condition"], config["condition_options"]) == ("tiny-pooled", {"grid": 2})
        loaded = stylecap.create("caption", "mle-lstm", weights=str(path), grounding="none")
        assert loaded.config.condition == "tiny-pooled"
        name = trained_on[0].removesuffix(".png")
        assert loaded.caption(picture(data, name)) == backend.caption(picture(data, name))


def test_stylecap_run_captions_with_a_paired_model(trained, data, tmp_path, capsys, toy_plugin):
    run, _ = trained
    out = tmp_path / "out"
    code, stdout, err = run_cli(capsys, "run", str(data.images / "red.png"), "--style", str(data.images / "blue.png"),
                                "--style-backend", "mean-shift", "--caption-backend", "mle-lstm", "-c",
                                f"weights={run / 'final' / 'caption.safetensors'}", "-c", "grounding=none",
                                "-c", "condition_on=content", "-o", str(out), "--json")  # fmt: skip
    assert code == 0, err
    caption = json.loads(stdout.splitlines()[-1])["caption"]
    assert caption and (out / "red.txt").read_text().strip() == caption


def test_condition_on_picks_what_the_captioner_sees(trained, data, monkeypatch):
    _, backend = trained
    content = picture(data, "red")
    stylised = MeanShift().stylize(content, [picture(data, "blue")])
    assert not torch.allclose(stylised, content)
    seen = {}

    def decode(cond, *args, **kwargs):
        seen[backend.config.condition_on] = cond
        return ["ok"]

    monkeypatch.setattr(backend, "decode", decode)
    for where in ("image", "content", "both"):
        backend.config.condition_on = where
        backend.caption(stylised, content=content)
    encoder = TinyPooled()
    on_image, on_content = encoder.encode(stylised).features, encoder.encode(content).features
    assert torch.allclose(seen["image"][0], on_image) and torch.allclose(seen["content"][0], on_content)
    assert not torch.allclose(seen["image"], seen["content"])
    assert torch.allclose(seen["both"][0], (on_image + on_content) / 2)  # docs: the mean of the two pictures


def test_grounding_on_a_paired_model_warns_and_concept_sets_are_refused(trained, data):
    run, backend = trained
    strict = stylecap.create("caption", "mle-lstm", weights=str(run / "final" / "caption.safetensors"))
    assert strict.config.grounding == "strict"
    with pytest.warns(UserWarning, match="grounding='strict' needs concepts.*paired"):
        text = strict.caption(picture(data, "red"))
    assert text == backend.caption(picture(data, "red"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        backend.caption(picture(data, "red"))  # exported with grounding=none: no warning
    with pytest.raises(stylecap.StylecapError, match="captions pictures, not concept sets"):
        backend.generate([["cat"]])


def test_a_model_given_the_wrong_encoder_says_so(trained, data):
    run, backend = trained
    config = MLELSTM.Config(weights="none", grounding="none", condition="tiny-pooled", condition_options={"grid": 3})
    wrong = MLELSTM(config)
    wrong.load_state_dict(backend.state_dict())
    with pytest.raises(stylecap.StylecapError, match="trained on 12 pooled feature values.*gives 27"):
        wrong.caption(picture(data, "red"))


def test_malformed_paired_input_through_the_trainer_names_file_and_line(tmp_path, data, tiny_encoder, capsys):
    bad = tmp_path / "bad.txt"
    bad.write_text("red.png#0\twow so red\nred.png#1\tso red again\nmissing.png#0\twhere is it\n")
    with pytest.raises(DataError, match=r"bad.txt:3: image .*missing.png does not exist"):
        stylecap.train("caption", "mle-lstm", out=tmp_path / "r1", paired="flickr", annotations=bad,
                       images=data.images, **TINY)  # fmt: skip
    code, _, err = run_cli(capsys, "train", "caption", "mle-lstm", "--paired", "flickr", "--annotations", str(bad),
                           "--images", str(data.images), "--condition", "tiny-pooled",
                           "--out", str(tmp_path / "r2"))  # fmt: skip
    assert code == 2 and "bad.txt:3" in err, err
    code, _, err = run_cli(capsys, "train", "caption", "mle-lstm", "--paired", "coco", "--out", str(tmp_path / "r3"))
    assert code == 2 and "needs annotations" in err, err


def test_cli_trains_on_the_real_pooled_features(tmp_path, data, capsys):
    out = tmp_path / "run"
    code, _, err = run_cli(capsys, "train", "caption", "mle-lstm", "--paired", "styled", "--annotations",
                           str(data.styled), "--images", str(data.images), "--condition-options", "size=32",
                           "--steps", "3", "--batch-size", "8", "--min-count", "1", "--embed", "8", "--hidden", "8",
                           "--cache-dir", str(tmp_path / "cache"), "--out", str(out))  # fmt: skip
    assert code == 0, err
    backend = stylecap.Pipeline.load(out / "final").caption
    assert backend.config.condition == "pooled-features" and backend.config.condition_options["size"] == 32
    assert backend.net.cond[0].in_features == 320  # EfficientNet-Lite0 stage7, averaged over space
    assert isinstance(backend.caption(picture(data, "green")), str)


# -- the evaluation harness in paired mode ----------------------------------------------------------------------


def _say_the_first_caption(data):
    """A stand-in ``decode`` that recognises each picture from its feature row and says its first caption word
    for word: every caption then equals a reference of its own picture, and of no other."""
    encoder = TinyPooled(TinyPooled.Config())
    rows = {name: encoder.encode(picture(data, name)).features for name in COLOURS}

    def decode(cond, concept_sets=None, *, temperature=None, seed=0):
        names = [next(n for n, f in rows.items() if torch.allclose(f, row)) for row in cond]
        return [SAYINGS[0].format(name) for name in names]

    return decode


def test_paired_eval_scores_held_out_pictures_against_their_own_captions(trained, data, tmp_path, monkeypatch):
    from stylecap.plugins.captions.eval import evaluate_paired

    run, backend = trained
    split = json.loads((run / "split.json").read_text())
    calls = TinyPooled.calls
    options = dict(split_file=run / "split.json", cache_dir=tmp_path / "cache", temperatures=(1.0,), meteor=False)
    report = evaluate_paired(backend, "coco", data.coco, data.images, tmp_path / "report", **options)
    assert TinyPooled.calls == calls  # the training run's feature cache covers the whole data set
    assert report["mode"] == "paired" and report["pictures"] == len(split["val"]) == 2
    assert sorted(s["picture"] for s in report["samples"]) == sorted(split["val"])
    assert report["references"] == 2 * len(SAYINGS) and "held out by the run" in report["evaluated_on"]
    m = report["metrics"]
    numbers = ("bleu1", "bleu4", "rouge_l", "cider", "lm_nll", "distinct1", "distinct2", "self_bleu4")
    assert all(isinstance(m[k], float) for k in numbers), m
    assert all(m[k].startswith("not applicable") for k in ("concept_hit_rate", "hallucination_rate", "chair_i"))
    assert m["spice"].startswith("unavailable") and m["colloquial_rate"].startswith("not available")
    assert isinstance(report["yardsticks"]["reference_lm_nll"], float)  # the LM learnt the training captions
    markdown = (tmp_path / "report" / "report.md").read_text()
    assert "| concept_hit_rate | not applicable" in markdown and "| 1.0 |" in markdown
    assert (tmp_path / "report" / "qd_curve.png").is_file()

    monkeypatch.setattr(backend, "decode", _say_the_first_caption(data))
    perfect = evaluate_paired(backend, "coco", data.coco, data.images, tmp_path / "perfect", **options)
    m = perfect["metrics"]
    assert m["bleu4"] == pytest.approx(1.0, rel=1e-3) and m["rouge_l"] == pytest.approx(1.0), m
    assert {s["caption"] for s in perfect["samples"]} <= {s["reference"] for s in perfect["samples"]}


def test_paired_eval_from_the_cli(trained, data, tmp_path, capsys):
    from .test_captions import write_corpus

    run, _ = trained
    chat = write_corpus(tmp_path / "chat.txt", conversations=40)
    formal = tmp_path / "formal.txt"
    formal.write_text("\n".join(f"a formal definition of the {w} in question" for w in "abcdefghijklmnopqrst"))
    common = ["--cache-dir", str(tmp_path / "cache"), "--no-meteor", "--temperatures", "0.8"]
    code, out, err = run_cli(capsys, "eval", "caption", str(run), "--paired", "coco", "--annotations", str(data.coco),
                             "--images", str(data.images), "--out", str(tmp_path / "r1"), "--corpus", str(chat),
                             "--formal", str(formal), *common)  # fmt: skip
    assert code == 0, err
    report = json.loads((tmp_path / "r1" / "report.json").read_text())
    assert report["pictures"] == len(json.loads((run / "split.json").read_text())["val"]) == 2
    assert isinstance(report["metrics"]["colloquial_rate"], float)  # --corpus gives the style classifier
    assert report["yardsticks"]["style_classifier_heldout_accuracy"] > 0.8
    assert "BLEU-4" in out and "hit" not in out

    # a model file has no split: every picture (here a sample of them), said so, and no captions left for the LM
    code, out, err = run_cli(capsys, "eval", "caption", str(run / "final" / "caption.safetensors"), "--paired",
                             "flickr", "--annotations", str(data.flickr), "--images", str(data.images),
                             "--out", str(tmp_path / "r2"), "--limit", "4", *common)  # fmt: skip
    assert code == 0, err
    report = json.loads((tmp_path / "r2" / "report.json").read_text())
    assert report["pictures"] == 4 and "every picture" in report["evaluated_on"]
    assert f"a seeded sample of 4 of {len(COLOURS)}" in report["evaluated_on"]
    assert report["metrics"]["lm_nll"].startswith("not available")
    assert not (tmp_path / "r2" / "qd_curve.png").exists()


def test_paired_eval_refuses_the_wrong_mode_and_missing_annotations(trained, data, tmp_path, capsys):
    from stylecap.plugins.captions.model import ConditionalLSTM
    from stylecap.plugins.captions.text import Vocab

    run, _ = trained
    paired = ["--paired", "coco", "--annotations", str(data.coco), "--images", str(data.images)]
    concept_model = MLELSTM.from_parts(ConditionalLSTM(6, 1, 4, 4), Vocab.build([["hi"]]), ["cat"])
    concept_file = concept_model.save(tmp_path / "concepts.safetensors")
    cases = [
        ([str(concept_file), *paired], "conditioned on concepts.*drop --paired"),
        ([str(run)], "trained on paired pictures.*--paired coco\\|flickr\\|styled --annotations"),
        ([str(run), "--paired", "coco"], "needs the captions file.*--annotations FILE and --images DIR"),
        ([str(run), "--annotations", str(data.coco)], "add --paired"),
        ([str(run), *paired[:2], "--annotations", str(tmp_path / "nope.json"), *paired[4:]], "nope.json does not"),
    ]
    for args, message in cases:
        code, _, err = run_cli(capsys, "eval", "caption", *args, "--out", str(tmp_path / "r"), "--no-meteor")
        assert code == 2 and re.search(message, err), (args, err)
    assert not (tmp_path / "r").exists()
