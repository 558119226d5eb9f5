"""The caption evaluation harness: metrics against hand-computed values, and a whole run on a tiny corpus."""

from __future__ import annotations

import json
import math

import pytest

import stylecap
from stylecap.plugins.captions.concepts import ConceptVocab
from stylecap.plugins.captions.corpus import Corpus, Sentence
from stylecap.plugins.captions.metrics import (
    BigramLM,
    StyleClassifier,
    distinct,
    grounding,
    reference_metrics,
    self_bleu,
)
from stylecap.plugins.captions.text import tokenize
from stylecap_cli.main import main

from .test_captions import TINY, plugin, write_corpus  # noqa: F401 (plugin is a fixture)


def test_distinct_counts_unique_ngrams():
    sentences = [["a", "b", "a"], ["a", "b"]]
    assert distinct(sentences, 1) == 2 / 5 and distinct(sentences, 2) == 2 / 3


def test_grounding_hit_and_chair_rates():
    vocab = ConceptVocab.default()
    captions = [tokenize(t) for t in ("my kitty is cute", "a dog and a cat", "nothing here", "pizza!")]
    conditions = [["cat"], ["cat"], ["cat"], ["coffee"]]
    g = grounding(captions, conditions, vocab)
    assert g["concept_hit_rate"] == 2 / 4  # kitty (synonym) and cat hit; "nothing" and pizza miss
    assert g["hallucination_rate"] == 2 / 4  # dog, pizza
    assert g["chair_i"] == 2 / 4  # 4 concepts named: cat, dog, cat, pizza


def test_bleu_matches_the_hand_computed_value():
    scores = reference_metrics([["the", "cat", "sat"]], [[["the", "cat", "sat", "on", "the", "mat"]]], meteor=False)
    assert scores["bleu1"] == pytest.approx(math.exp(1 - 6 / 3), rel=1e-3)  # precision 1, brevity penalty e^(1-r/c)
    assert scores["spice"].startswith("unavailable")
    perfect = reference_metrics([["a", "cat", "on", "a", "mat"]], [[["a", "cat", "on", "a", "mat"]]], meteor=False)
    assert perfect["bleu4"] == pytest.approx(1.0, rel=1e-3) and perfect["rouge_l"] == pytest.approx(1.0)


@pytest.mark.slow
def test_meteor_runs_through_java():
    same = [["a", "cat", "on", "a", "mat"]]
    assert reference_metrics([same[0]], [same])["meteor"] == pytest.approx(1.0, abs=0.01)


def test_self_bleu_is_one_for_copies_and_low_for_different_sentences():
    same = [["i", "love", "my", "cat", "so", "much"]] * 3
    assert self_bleu(same) == pytest.approx(1.0, rel=1e-3)
    assert self_bleu([["i", "love", "my", "cat"], ["pizza", "is", "great", "today"], ["what", "a", "dog", "lol"]]) < 0.1


def test_bigram_lm_probability_by_hand():
    lm = BigramLM([["a", "b"], ["a", "c"]], weight=0.5)
    # unigrams a2 b1 c1 </s>2 -> total 6, types 4 (+1 unknown); P(a|<s>) = .5*1 + .5*3/11, P(</s>|a) = .5*0 + .5*3/11
    expected = -(math.log(0.5 + 0.5 * 3 / 11) + math.log(0.5 * 3 / 11)) / 2
    assert lm.nll(["a"]) == pytest.approx(expected)


def test_style_classifier_separates_and_round_trips(tmp_path):
    colloquial = [tokenize(t) for t in ["omg lol my cat is sooo cute", "haha yeah i love pizza", "lol ikr"] * 5]
    formal = [tokenize(t) for t in ["a domesticated carnivorous mammal", "a dish of baked dough", "the act of"] * 5]
    classifier = StyleClassifier(dim=512)
    classifier.fit(colloquial, formal, steps=50)
    assert classifier.accuracy(colloquial, formal) == 1.0
    again = StyleClassifier.load(classifier.save(tmp_path / "style.safetensors"))
    assert again.colloquial(formal[:2]).max() < 0.5 < again.colloquial(colloquial[:2]).min()


def test_harness_writes_the_full_report_from_the_cli(tmp_path, plugin, capsys):  # noqa: F811
    source = write_corpus(tmp_path / "chat.txt", conversations=40)
    cache = tmp_path / "cache"
    run = tmp_path / "run"
    stylecap.train("caption", "mle-lstm", out=run, corpus=str(source), cache_dir=cache, **TINY)
    formal = tmp_path / "formal.txt"
    formal.write_text("\n".join(f"a formal definition of the {w} in question" for w in "abcdefghijklmnopqrst"))
    args = ["eval", "caption", str(run), "--corpus", str(source), "--cache-dir", str(cache), "--no-meteor",
            "--out", str(tmp_path / "report"), "--temperatures", "0.7,1.2", "--formal", str(formal),
            "--split", "val", "-c", "grounding=strict"]  # fmt: skip
    with pytest.raises(SystemExit) as exit_:
        main(args)
    assert not exit_.value.code
    report = json.loads((tmp_path / "report" / "report.json").read_text())
    m = report["metrics"]
    assert {"bleu4", "rouge_l", "cider", "lm_nll", "colloquial_rate", "self_bleu4", "distinct2"} <= set(m)
    assert m["concept_hit_rate"] == 1.0 and m["hallucination_rate"] == 0.0  # strict grounding, passed by -c
    assert [p["temperature"] for p in report["quality_diversity"]] == [0.7, 1.2]
    assert report["yardsticks"]["style_classifier_heldout_accuracy"] > 0.8
    for name in ("report.md", "qd_curve.png", "style_classifier.safetensors"):
        assert (tmp_path / "report" / name).is_file()
    assert "BLEU-4" in capsys.readouterr().out


def test_an_empty_split_is_a_clear_error(tmp_path):
    from stylecap.plugins.captions.eval import evaluate

    corpus = Corpus([Sentence("my cat", "c", ("cat",))], [], [])
    with pytest.raises(stylecap.StylecapError, match="test split has no sentences"):
        evaluate(object(), corpus, tmp_path, formal=[])
