"""Captions: concept map, condition encoders, corpus, paired loaders, the MLE LSTM, decoding."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import skimage
import torch
from PIL import Image

import stylecap
from stylecap.core import host as plugins
from stylecap.core.component import Condition, ConditionEncoder
from stylecap.core.imageio import read_image, to_tensor
from stylecap.plugins.captions import build_concepts, corpus, paired
from stylecap.plugins.captions.backend import MLELSTM
from stylecap.plugins.captions.concepts import ConceptVocab
from stylecap.plugins.captions.decoding import beam_search, filter_logits, repeats, sample, sequence_logprob
from stylecap.plugins.captions.model import ConditionalLSTM
from stylecap.plugins.captions.text import Vocab, detokenize, tidy, tokenize
from stylecap.plugins.conditions.imagenet import views

PHOTOS = Path(skimage.__file__).parent / "data"


@pytest.fixture
def plugin():
    """The captions plugin, registered through its entry point like any other."""
    host = plugins.host()
    assert host.pm.has_plugin("captions"), [r.error for r in host.plugins() if r.info.name == "captions"]
    return host


SUBJECTS = ["cat", "dog", "coffee", "pizza"]
TEMPLATES = [
    "i love my {} so much",
    "my {} is the best thing ever",
    "have you ever seen a {} like that?",
    "omg that {} is so cute haha",
]


def write_corpus(path: Path, conversations: int = 24) -> Path:
    """Conversations of templated sentences about four subjects, plus lines every filter must drop."""
    blocks = []
    for c in range(conversations):
        subject = SUBJECTS[c % len(SUBJECTS)]
        lines = [TEMPLATES[(c + k) % len(TEMPLATES)].format(subject) for k in range(3)]
        lines += [
            "yes i do",
            "ich liebe meine katze sehr",
            "what a shitty cat day",
            "i went to work today and it was fine",
        ]
        blocks.append("\n".join(lines))
    path.write_text("\n\n".join(blocks) + "\n")
    return path


# -- concepts -------------------------------------------------------------------------------


def test_committed_concept_map_is_what_the_script_builds():
    classes, synonyms = build_concepts.build()
    assert build_concepts.CLASS_MAP.read_text() == classes
    assert (build_concepts.DATA / "synonyms.tsv").read_text() == synonyms
    rows = {r.split("\t")[1]: r.split("\t")[2] for r in classes.splitlines()[1:]}
    assert rows["Egyptian cat"] == rows["tabby"] == rows["Persian cat"] == "cat"
    assert rows["golden retriever"] == rows["Chihuahua"] == rows["pug"] == "dog"
    assert rows["espresso"] == "coffee" and rows["sports car"] == "car" and rows["iron"] == ""
    vocab = ConceptVocab.default()
    assert len(vocab.class_concepts) == 1000 and sum(map(bool, vocab.class_concepts)) == 950 and len(vocab) == 524


def test_concepts_are_found_with_synonyms_and_plurals_longest_phrase_first():
    vocab = ConceptVocab.default()
    assert vocab.find(tokenize("My kitty hates the puppies, but loves hot dogs and espresso!")) == [
        "cat",
        "dog",
        "hot dog",
        "coffee",
    ]
    assert vocab.find(tokenize("nothing to see here")) == []


def test_vocab_min_count_and_unk():
    vocab = Vocab.build([["a", "b", "a"], ["a", "c", "b"]], min_count=2)
    assert vocab.words[4:] == ["a", "b"]
    assert vocab.decode(vocab.encode(["a", "zzz", "b"])) == ["a", "<unk>", "b"]
    rare = Vocab.build([["a", "b", "a"], ["a", "c", "b"]], min_count=2, keep=["c", "zzz"])
    assert rare.words[4:] == ["a", "b", "c"]  # a concept's word stays however rare; one never seen is not added
    assert detokenize(tokenize("Wow, it's a cat!")) == "wow, it's a cat!"
    with pytest.raises(ValueError, match="starts with"):
        Vocab(["a", "b"])


# -- condition encoders ---------------------------------------------------------------------


def photo(name: str) -> torch.Tensor:
    return torch.from_numpy(np.asarray(Image.open(PHOTOS / name).convert("RGB")).copy()).permute(2, 0, 1)[None] / 255


def test_views_are_the_picture_a_grid_and_the_centre():
    image = torch.arange(16.0).view(1, 1, 4, 4).expand(1, 3, 4, 4)
    out = views(image, "grid+centre", 2)
    assert out.shape == (6, 3, 2, 2)
    assert torch.equal(out[1, 0], image[0, 0, :2, :2]) and torch.equal(out[5, 0], image[0, 0, 1:3, 1:3])


def test_condition_top_keeps_the_best_concept_even_below_threshold():
    condition = Condition([("cat", 0.05), ("dog", 0.01)])
    assert condition.top(3, 0.1) == ["cat"]
    assert Condition([("cat", 0.9), ("cup", 0.2), ("dog", 0.05)]).top(3, 0.1) == ["cat", "cup"]


def test_imagenet_concepts_on_real_photos(plugin):
    encoder = stylecap.create("condition", "imagenet-concepts")
    cat = encoder.encode(photo("chelsea.png")).concepts
    coffee = [c for c, _ in encoder.encode(photo("coffee.png")).concepts[:5]]
    assert cat[0][0] == "cat" and cat[0][1] > 0.9
    assert coffee[0] == "coffee" and "cup" in coffee


@pytest.mark.slow
def test_imagenet_concepts_on_more_photos(plugin):
    encoder = stylecap.create("condition", "imagenet-concepts")
    top = {name: [c for c, _ in encoder.encode(photo(name)).concepts[:5]] for name in PHOTOS_EXPECTED}
    for name, expected in PHOTOS_EXPECTED.items():
        assert expected in top[name], (name, top[name])


PHOTOS_EXPECTED = {"motorcycle_left.png": "motorcycle", "camera.png": "camera", "rocket.jpg": "rocket"}


# -- corpus ---------------------------------------------------------------------------------


def test_corpus_filters_splits_by_conversation_and_caches(tmp_path, monkeypatch):
    source = write_corpus(tmp_path / "chat.txt")
    options = corpus.CorpusOptions(str(source), val_fraction=0.25, test_fraction=0.25)
    data = corpus.load_corpus(options, tmp_path / "cache")
    sentences = data.train + data.val + data.test
    assert len(sentences) == 24 * 3 and all(s.concepts and s.concepts[0] in SUBJECTS for s in sentences)
    assert not any("shitty" in s.text or "katze" in s.text for s in sentences)
    assert data.counts["conversations"] == 24 and data.counts["sentences"] == 24 * 7
    assert data.counts["english"] == 24 * 6 and data.counts["length_ok"] == 24 * 5 and data.counts["safe"] == 24 * 4
    owners = {}
    for split in corpus.SPLITS:
        for s in data.split(split):
            assert owners.setdefault(s.conversation, split) == split  # no conversation crosses splits
    assert all(data.split(s) for s in corpus.SPLITS)
    [cached] = (tmp_path / "cache" / "captions").glob(f"corpus-chat-txt-v{corpus.VERSION}-*.json")
    monkeypatch.setattr(corpus, "build_corpus", lambda *a: pytest.fail("the cache was not used"))
    assert corpus.load_corpus(options, tmp_path / "cache").test == data.test


def test_corpus_errors_name_the_input(tmp_path):
    with pytest.raises(stylecap.StylecapError, match="nope.txt"):
        corpus.load_corpus(corpus.CorpusOptions(str(tmp_path / "nope.txt")), tmp_path)
    with pytest.raises(stylecap.StylecapError, match="unknown split 'dev'"):
        corpus.Corpus([], [], []).split("dev")


def test_named_corpora_are_parsed_and_joined(tmp_path, monkeypatch):
    episodes = tmp_path / "the_corpus"
    episodes.mkdir()
    (episodes / "S01E01.merged").write_text(
        "# JERRY\n1.1\nWhat is the deal\nwith airline food?\n3.0\n3.1\n**LOL**\n3.5\n# GEORGE\n4.0\nI love it.\n5.0\n"
    )
    (tmp_path / "cookie").write_text("A quip on\ntwo lines.\n\t\t-- Someone\n%\nAnother one.\n")
    monkeypatch.setattr(corpus, "package_data", lambda name: tmp_path)
    monkeypatch.setattr(corpus, "FORTUNES", tmp_path)
    monkeypatch.setattr(corpus, "FORTUNE_FILES", ("cookie",))
    assert list(corpus.conversations("seinfeld+fortunes")) == [
        ("seinfeld:S01E01.merged", ["What is the deal with airline food?", "I love it."]),
        ("fortunes:cookie:0", ["A quip on two lines."]),
        ("fortunes:cookie:1", ["Another one."]),
    ]
    with pytest.raises(stylecap.StylecapError, match="'chitchat\\+nope'.*chatterbot"):
        list(corpus.conversations("chitchat+nope"))


def test_a_missing_corpus_package_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(corpus.PACKAGES, "seinfeld", ("no_such_corpus_module", "seinfeld-laugh-corpus==1.0.13"))
    with pytest.raises(stylecap.StylecapError, match="seinfeld corpus is not installed") as error:
        list(corpus.conversations("seinfeld"))
    assert "pip install seinfeld-laugh-corpus==1.0.13" in str(error.value)


def test_blocklist_prefixes():
    block = corpus.Blocklist(["# comment", "fuck*", "sex"])
    assert block.blocks(["fucking", "hell"]) and block.blocks(["sex"]) and not block.blocks(["sexton"])


# -- paired data ----------------------------------------------------------------------------


@pytest.fixture
def pictures(tmp_path):
    folder = tmp_path / "images"
    folder.mkdir()
    for name, colour in (("a.jpg", (200, 30, 30)), ("b.jpg", (30, 30, 200))):
        Image.new("RGB", (16, 16), colour).save(folder / name)
    return folder


def test_paired_loaders_read_each_format(tmp_path, pictures):
    coco = tmp_path / "captions.json"
    coco.write_text(
        json.dumps(
            {
                "images": [{"id": 1, "file_name": "a.jpg"}, {"id": 2, "file_name": "b.jpg"}],
                "annotations": [{"image_id": 1, "caption": "A red square."}, {"image_id": 2, "caption": "Blue!"}],
            },
            indent=1,
        )
    )
    flickr = tmp_path / "Flickr8k.token.txt"
    flickr.write_text("a.jpg#0\tA red square .\na.jpg#1\tRed again\nb.jpg#0\tBlue\n")
    styled = tmp_path / "style.tsv"
    styled.write_text("image\tcaption\tstyle\na.jpg\tred like a summer sunset\tromantic\n")
    assert [(p.image.name, p.caption) for p in paired.load_pairs("coco", coco, pictures)] == [
        ("a.jpg", "A red square."),
        ("b.jpg", "Blue!"),
    ]
    assert len(paired.load_pairs("flickr", flickr, pictures)) == 3
    assert paired.load_pairs("styled", styled, pictures)[0].style == "romantic"


@pytest.mark.parametrize(
    ("fmt", "text", "message"),
    [
        ("coco", '{"images": [{"id": 1, "file_name": "a.jpg"}],\n "annotations": [\n', r"x:3: not valid JSON"),
        (
            "coco",
            '{"images": [{"id": 1, "file_name": "a.jpg"}],\n"annotations": [\n{"image_id": 1, "caption": "ok"},\n'
            '{"image_id": 7, "caption": "who"}]}',
            r"x:4: annotation 1 names unknown image id 7",
        ),
        ("flickr", "a.jpg#0\tfine\nb.jpg#0\t  \n", r"x:2: empty caption for b.jpg"),
        ("flickr", "a.jpg#0\tfine\nmissing.jpg#0\tgone\n", r"x:2: image .*missing.jpg does not exist"),
        ("flickr", "no tab here\n", r"x:1: expected 'IMAGE#N<TAB>caption'"),
        ("styled", "a.jpg\tfine\tfunny\na.jpg\tno style\n", r"x:2: expected 3 tab-separated fields, got 2"),
        ("styled", "a.jpg\tfine\t \n", r"x:1: empty style label"),
    ],
)
def test_malformed_paired_files_name_file_and_line(tmp_path, pictures, fmt, text, message):
    bad = tmp_path / "x"
    bad.write_text(text)
    with pytest.raises(paired.DataError, match=message):
        paired.load_pairs(fmt, bad, pictures)


class MeanColour(ConditionEncoder):
    """Counts its calls: the feature cache must make the second pass free."""

    name = "mean-colour"
    calls = 0

    def encode(self, image):
        MeanColour.calls += 1
        return Condition(features=image.mean((0, 2, 3)))


def test_features_are_computed_once_and_cached(tmp_path, pictures):
    images = [pictures / "a.jpg", pictures / "b.jpg", pictures / "a.jpg"]
    first = paired.cached_features(images, MeanColour(), tmp_path / "cache")
    again = paired.cached_features(images, MeanColour(), tmp_path / "cache")
    assert MeanColour.calls == 2 and set(first) == set(again) == {pictures / "a.jpg", pictures / "b.jpg"}
    assert first[pictures / "a.jpg"][0] > 0.7 and torch.equal(first[pictures / "b.jpg"], again[pictures / "b.jpg"])


# -- model and decoding ---------------------------------------------------------------------


def test_filter_logits_top_k_and_top_p():
    logits = torch.tensor([[0.0, 1.0, 2.0, 3.0]])
    assert torch.isinf(filter_logits(logits, top_k=2)).tolist() == [[True, True, False, False]]
    probs = logits.softmax(-1)[0]  # 0.032, 0.087, 0.237, 0.644: the top two reach 0.8
    assert probs[2:].sum() > 0.8 > probs[3]
    assert torch.isinf(filter_logits(logits, top_p=0.8)).tolist() == [[True, True, False, False]]


def test_beam_search_finds_likelier_sentences_than_greedy():
    torch.manual_seed(0)
    model = ConditionalLSTM(vocab_size=12, cond_dim=3, embed=8, hidden=16).eval()
    with torch.no_grad():
        model.out.weight.mul_(4)  # a peaky model, where greedy choices go wrong
    wins = 0
    for row in torch.eye(3):
        cond = row[None]
        greedy, greedy_lp = sample(model, cond, bos=1, eos=2, greedy=True, max_len=8)
        words = [w for w in greedy[0].tolist() if w != 2]
        beam, beam_lp = beam_search(model, cond, bos=1, eos=2, max_len=8, beam_size=8)
        assert beam_lp >= float(greedy_lp) - 1e-4
        assert abs(beam_lp - sequence_logprob(model, cond, beam, bos=1, eos=2)) < 1e-4
        wins += beam_lp > float(greedy_lp) + 1e-4 and beam != words
    assert wins >= 1


def test_constrained_beam_search_says_a_required_word_at_the_least_cost():
    torch.manual_seed(0)
    model = ConditionalLSTM(vocab_size=12, cond_dim=3, embed=8, hidden=16).eval()
    with torch.no_grad():
        model.out.weight.mul_(4)
    cond = torch.eye(3)[:1]
    free, free_lp = beam_search(model, cond, bos=1, eos=2, max_len=8, beam_size=4)
    assert beam_search(model, cond, bos=1, eos=2, max_len=8, beam_size=4, require=[]) == (free, free_lp)
    absent = [w for w in range(3, 12) if w not in free]
    for word in absent[:3]:
        words, lp = beam_search(model, cond, bos=1, eos=2, max_len=8, beam_size=4, require=[word])
        assert word in words and lp <= free_lp
        assert abs(lp - sequence_logprob(model, cond, words, bos=1, eos=2)) < 1e-4
    either = beam_search(model, cond, bos=1, eos=2, max_len=8, beam_size=4, require=absent[:2])[0]
    assert set(either) & set(absent[:2])
    banned = beam_search(model, cond, bos=1, eos=2, max_len=8, beam_size=4, banned=[absent[0]], require=[absent[0]])
    assert absent[0] not in banned[0]  # a constraint that cannot be met gives the best sentence without it


def test_no_repeat_ngram_blocks_loops():
    assert repeats([5, 6, 7, 5, 6], 3) == [7] and repeats([1, 1], 2) == [1] and repeats([4, 9], 1) == [4, 9]
    model = ConditionalLSTM(vocab_size=6, cond_dim=1, embed=4, hidden=8).eval()
    with torch.no_grad():
        model.out.bias.copy_(torch.tensor([0, 0, -3, 5, 0, 0.0]))  # word 3, forever; <eos> unlikely
    options = dict(bos=1, eos=2, max_len=10, beam_size=3, length_penalty=1.0)  # longer sentences rank higher
    loop = beam_search(model, torch.ones(1, 1), **options)[0]
    assert loop.count(3) > 5
    for n in (1, 2, 3):
        words = beam_search(model, torch.ones(1, 1), **options, no_repeat_ngram=n)[0]
        grams = [tuple(words[i : i + n]) for i in range(len(words) - n + 1)]
        assert len(grams) == len(set(grams)), (n, words)


def test_sampling_is_seeded_and_temperature_spreads_choices():
    torch.manual_seed(0)
    model = ConditionalLSTM(vocab_size=30, cond_dim=2, embed=8, hidden=16).eval()
    cond = torch.ones(64, 2)

    def run(t, seed):
        return sample(model, cond, bos=1, eos=2, temperature=t, generator=torch.Generator().manual_seed(seed))[0]

    assert torch.equal(run(1.0, 3), run(1.0, 3))
    assert len({tuple(r) for r in run(0.05, 0).tolist()}) < len({tuple(r) for r in run(2.0, 0).tolist()})


# -- training, saving, captioning -----------------------------------------------------------

TINY = dict(steps=60, batch_size=16, embed=16, hidden=32, min_count=1, lr=0.02, log_every=10, checkpoint_every=60)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One small mle-lstm run that the tests below read (none of them changes it)."""
    folder = tmp_path_factory.mktemp("mle")
    source = write_corpus(folder / "chat.txt", conversations=40)
    backend = stylecap.train("caption", "mle-lstm", out=folder / "run", corpus=str(source),
                             cache_dir=folder / "cache", **TINY)  # fmt: skip
    return folder / "run", backend


def test_training_lowers_the_loss_and_the_pipeline_round_trips(trained, tmp_path):
    run, backend = trained
    losses = [json.loads(line)["loss"] for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert losses[-1] < 0.5 * losses[0]
    again = stylecap.Pipeline.load(run / "final").caption
    assert again.vocab.words == backend.vocab.words and again.concepts == backend.concepts
    sets = [["cat"], ["coffee"], ["pizza"]]
    assert again.generate(sets) == backend.generate(sets)
    for concepts, text in zip(sets, backend.generate(sets)):
        assert concepts[0] in text  # the condition decides what the sentence is about
    half = MLELSTM(MLELSTM.Config(weights=str(backend.save(tmp_path / "m.safetensors", half=True))))
    assert half.generate(sets) == backend.generate(sets)


def test_grounding_makes_captions_name_their_concepts_and_strict_bans_others(trained):
    _, backend = trained
    sets = [["cat", "pizza"], ["coffee"], ["dog"], ["cat"]]
    free = MLELSTM.from_parts(backend.net, backend.vocab, backend.concepts, backend.tones, grounding="none")
    mention = MLELSTM.from_parts(backend.net, backend.vocab, backend.concepts, backend.tones, grounding="mention")
    strict = MLELSTM.from_parts(backend.net, backend.vocab, backend.concepts, backend.tones, grounding="strict")
    finder = ConceptVocab.default()
    for concepts, text in zip(sets, mention.generate(sets)):
        assert set(finder.find(tokenize(text))) & set(concepts), text
    for concepts, text in zip(sets, strict.generate(sets)):
        named = set(finder.find(tokenize(text)))
        assert named & set(concepts) and named <= set(concepts), text
    require, ban = strict.grounding_words(["cat"])
    assert backend.vocab.index["cat"] in require and backend.vocab.index["pizza"] in ban
    assert free.grounding_words(["cat"]) == ([], [])


def test_caption_from_a_picture_mentions_what_is_in_it(trained):
    run, _ = trained
    pipe = stylecap.Pipeline.load(run / "final")
    assert "cat" in pipe(PHOTOS / "chelsea.png", seed=0).caption


def test_backend_without_weights_says_how_to_get_them(plugin):
    backend = stylecap.create("caption", "mle-lstm", weights="none")
    with pytest.raises(stylecap.StylecapError, match="no trained weights.*stylecap train caption mle-lstm"):
        backend.caption(torch.zeros(1, 3, 32, 32))


# -- what a caption is made from, and how it is said -------------------------------------------


def test_sampled_captions_follow_the_seed_and_num_captions_gives_different_ones(trained):
    run, _ = trained
    photo = to_tensor(read_image(PHOTOS / "chelsea.png").rgb)
    backend = stylecap.create("caption", "mle-lstm", weights=str(run / "final" / "caption.safetensors"),
                              decode="rerank", num_captions=3, temperature=1.5)  # fmt: skip
    first, again, other = (backend.captions(photo, seed=s).texts for s in (0, 0, 1))
    assert first == again and first != other
    assert len(first) == 3 and len(set(first)) == 3
    for text in first:
        assert text[0].isupper() and text[-1] in ".!?" and " i " not in f" {text} "


def test_sentences_are_written_as_a_person_writes_them():
    assert tidy("i think i'm in love with this cat") == "I think I'm in love with this cat."
    assert tidy("is it raining,") == "Is it raining?"
    assert tidy("whoa, that dog!") == "Whoa, that dog!"


def test_concepts_come_from_the_photo_and_colours_from_the_picture_shown(trained):
    run, _ = trained
    photo = to_tensor(read_image(PHOTOS / "chelsea.png").rgb)
    painted = torch.zeros_like(photo)
    painted[:, 2] = 0.8  # the "stylised" picture: all blue, no cat in it
    backend = stylecap.create("caption", "mle-lstm", weights=str(run / "final" / "caption.safetensors"))
    condition, _ = backend.condition(painted, content=photo)
    assert condition.concepts[0][0] == "cat"
    assert condition.sources["cat"] == "imagenet-concepts on the original"
    assert [c.term for c in condition.colours] == ["blue"]
    shown = stylecap.create("caption", "mle-lstm", weights=str(run / "final" / "caption.safetensors"),
                            condition_on="image").condition(painted, content=photo)[0]  # fmt: skip
    assert "cat" not in dict(shown.concepts)


def test_a_plugin_condition_encoder_replaces_a_builtin(trained):
    class AlwaysPurple(stylecap.ConditionEncoder):
        name = "always-purple"

        def encode(self, image):
            return stylecap.Condition(colours=[stylecap.Colour("purple", 1.0)], feeling="spooked")

    plugins.host().register(
        SimpleNamespace(register_condition_encoders=stylecap.hookimpl(lambda register: register(AlwaysPurple))),
        "purple-plugin",
    )
    run, _ = trained
    pipe = stylecap.Pipeline.load(run / "final")
    pipe.caption.config.pixel_facts = "always-purple"
    result = pipe(PHOTOS / "chelsea.png", seed=0)
    assert result.condition.to_json()["colours"] == [{"term": "purple", "share": 1.0, "where": "all over"}]
    assert result.condition.feeling == "spooked" and result.captions == [result.caption]


def test_retrieval_says_a_real_sentence_about_the_picture(tmp_path):
    from stylecap.plugins.captions.corpus import CorpusOptions
    from stylecap.plugins.retrieval.backend import save_index

    source = write_corpus(tmp_path / "chat.txt", conversations=40)
    index = save_index(tmp_path / "index.json.gz", CorpusOptions(str(source)), tmp_path / "cache")
    backend = stylecap.create("caption", "retrieval", weights=str(index), num_captions=2)
    said = backend.captions(to_tensor(read_image(PHOTOS / "chelsea.png").rgb), seed=0)
    sentences = {line.strip().lower() for line in source.read_text().splitlines()}
    assert len(said.texts) == 2 and all("cat" in t.lower() for t in said.texts)
    assert all(t.lower().rstrip(".!?") in {s.rstrip(".!?") for s in sentences} for t in said.texts)
    with pytest.raises(stylecap.StylecapError, match="does not exist"):
        stylecap.create("caption", "retrieval", weights=str(tmp_path / "missing.json.gz"))
