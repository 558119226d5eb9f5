"""The caption corpus on small chat files: machine-made text dropped, natural repetition kept, tones, options."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from stylecap.plugins.captions import corpus
from stylecap.plugins.captions.corpus import CorpusOptions, MachineRules, find_machine_text, load_corpus, shape
from stylecap.plugins.captions.text import tokenize

pytest.importorskip("vaderSentiment")

OPENERS = ["hey there", "hi, how are you?", "hello!", "yo", "how are you?"]
REPLIES = [
    "lol",
    "lol i know right",
    "i am good, just got back from work",
    "my sister took the dog for a long walk today",
    "we had pizza for dinner and watched a movie",
    "how are you?",
    "i think the weather is getting better this week",
    "did you finish the homework for tomorrow?",
    "haha that is so true",
    "I love it so much!",
    "the bus was late again this morning",
    "lol",
]
ADJECTIVES = "purple white loud quiet odd green creaky bald checkered wooden".split()
NOUNS = "pasta dog cat teacher parrot kettle sheep carrot letter plant".split()
VERBS = "talked cried jumped slept whined coughed waved ran laughed blinked".split()
ADVERBS = "softly gingerly hourly quickly loudly briskly calmly slowly lightly yearly".split()


def natural(n: int) -> list[list[str]]:
    """Human-looking conversations: greetings and short replies that many conversations share."""
    return [[OPENERS[c % len(OPENERS)], *(REPLIES[(c * 3 + k) % len(REPLIES)] for k in range(5))] for c in range(n)]


def bot(n: int, start: int = 0) -> list[str]:
    """Sentences of one template ("The purple pasta talked softly.")."""
    words = itertools.product(ADJECTIVES, NOUNS, VERBS, ADVERBS)
    chosen = list(itertools.islice(words, start * 997 % 9000, None, 97))[:n]
    return [f"The {a} {b} {c} {d}." for a, b, c, d in chosen]


def write(path: Path, conversations: list[list[str]]) -> Path:
    path.write_text("\n\n".join("\n".join(lines) for lines in conversations) + "\n")
    return path


def everything(data: corpus.Corpus) -> list[corpus.Sentence]:
    return data.train + data.val + data.test


def test_shape_keeps_closed_class_words_and_marks_repeats():
    assert shape(tokenize("The purple pasta talked softly.")) == "the _ _ _ _ ."
    assert shape(tokenize("The white dog cried gingerly.")) == shape(tokenize("The purple pasta talked softly."))
    assert shape(tokenize("how are you?")) == "how are you ?"
    assert shape(tokenize("a a a a a")) == "a+"
    assert shape(tokenize("I have 2 cats")) == "i have 0 _"


def test_a_bot_conversation_is_dropped_and_natural_repetition_kept(tmp_path):
    chats = natural(60)
    chats.insert(17, ["hi how are you", *bot(40), "ok i have to go"])  # a bot, with two human-looking lines
    options = CorpusOptions(str(write(tmp_path / "chat.txt", chats)), min_words=1, mentions_only=False)
    data = load_corpus(options, tmp_path / "cache")
    texts = [s.text for s in everything(data)]
    assert not any(t.startswith("The ") and t.endswith("ly.") for t in texts)
    assert not any(s.conversation == "chat.txt:17" for s in everything(data))  # the whole conversation went
    assert data.counts["machine_conversations"] == 1 and data.counts["machine_sentences"] == 42
    assert data.counts["machine_dropped"] == 42 and data.counts["templated"] == 0
    # "how are you?" and "lol" are in most conversations, twice in some: every one stays
    assert texts.count("how are you?") == sum(c.count("how are you?") for c in natural(60)) > 20
    assert texts.count("lol i know right") == sum(c.count("lol i know right") for c in natural(60)) > 20
    found = find_machine_text([[tokenize(t) for t in c] for c in natural(60)], MachineRules())
    assert not found.conversations and not found.templated  # "lol" (not English) included
    human = load_corpus(CorpusOptions(str(write(tmp_path / "human.txt", natural(60))), min_words=1), tmp_path)
    assert data.counts["human"] == human.counts["human"] == human.counts["safe"]


def test_templated_lines_elsewhere_are_dropped_but_a_few_are_not_a_template():
    chats = natural(60)
    talk = chats[3] + REPLIES + OPENERS
    chats[3] = talk + bot(12, start=1)  # a human conversation with a pasted block of templated lines
    chats[5] = chats[5] + bot(3, start=2)  # three such lines are too few to tell
    chats[8] = chats[8] + ["i love my cat", "i love my dog", "i love my job"]  # a person's way of speaking
    found = find_machine_text([[tokenize(t) for t in c] for c in chats], MachineRules())
    assert not found.conversations
    assert found.templated == {(3, s) for s in range(len(talk), len(chats[3]))}
    assert found.rules_hit == {"templated_repeats": 12}


def test_lines_of_a_machine_conversation_pasted_elsewhere_are_dropped():
    lines = bot(40)
    slots = [line.rstrip(".").split()[1:] for line in lines]
    mixed = "The " + " ".join(slots[i + 1][i] for i in range(4)) + "."  # the template's words, a new sentence
    assert mixed not in lines
    pasted = "joe made the sugar cookies and susan decorated them"
    chats = natural(60)
    chats.insert(0, [*lines, pasted])
    chats[30] = chats[30] + [pasted, mixed, "The odd cat slept sometimes."]
    found = find_machine_text([[tokenize(t) for t in c] for c in chats], MachineRules())
    assert found.conversations == {0}
    n = len(chats[30])
    assert found.templated == {(30, n - 3), (30, n - 2)}  # not the last: "sometimes" is no filler of the template
    assert found.rules_hit == {"templated_pasted": 1, "templated_fillers": 1}


def test_test_strings_are_dropped(tmp_path):
    tests = ["test", "testing 1 2 3", "asdf asdf", "this is a test", "lorem ipsum dolor sit amet"]
    chats = [*natural(20), [*tests, "i have a test today"]]
    options = CorpusOptions(str(write(tmp_path / "t.txt", chats)), min_words=1, mentions_only=False)
    data = load_corpus(options, tmp_path / "cache")
    texts = {s.text for s in everything(data)}
    assert "i have a test today" in texts and not texts & set(tests)
    assert data.counts["test_strings"] == len(tests)


def test_tones_are_labelled_and_cached(tmp_path):
    source = write(tmp_path / "chat.txt", natural(30))
    options = CorpusOptions(str(source), min_words=1, mentions_only=False)
    data = load_corpus(options, tmp_path / "cache")
    tone = {s.text: s.tone for s in everything(data)}
    assert tone["haha that is so true"] == "funny" and tone["lol i know right"] == "funny"
    assert tone["I love it so much!"] == "cheerful"
    assert tone["the bus was late again this morning"] == "plain"
    assert set(tone.values()) <= set(corpus.TONES)
    assert sum(data.counts[f"tone_{t}"] for t in corpus.TONES) == len(everything(data))
    again = load_corpus(options, tmp_path / "cache")
    assert [s.tone for s in everything(again)] == [s.tone for s in everything(data)]
    assert corpus.Sentence("my cat", "c", ("cat",)).tone == "plain"  # positional construction still works


def test_mentions_only_false_keeps_sentences_without_concepts(tmp_path):
    source = write(tmp_path / "chat.txt", natural(40))
    mentions = load_corpus(CorpusOptions(str(source)), tmp_path / "cache")
    every = load_corpus(CorpusOptions(str(source), mentions_only=False), tmp_path / "cache")
    assert mentions.counts["kept_with_concepts"] == every.counts["kept_with_concepts"] == len(everything(mentions))
    assert all(s.concepts for s in everything(mentions))
    kept = {s.text for s in everything(every)}
    assert "the bus was late again this morning" in kept and "lol" not in kept  # min_words still applies
    assert any(not s.concepts for s in everything(every)) and len(kept) > len({s.text for s in everything(mentions)})
    assert sum(every.counts[f"kept_{s}"] for s in corpus.SPLITS) == every.counts["human"]


def test_cache_key_changes_with_the_options(tmp_path, monkeypatch):
    source = write(tmp_path / "chat.txt", natural(10))
    for options in (CorpusOptions(str(source)), CorpusOptions(str(source), mentions_only=False)):
        load_corpus(options, tmp_path / "cache")
    files = sorted((tmp_path / "cache" / "captions").glob(f"corpus-chat-txt-v{corpus.VERSION}-*.json"))
    assert len(files) == 2
    monkeypatch.setattr(corpus, "RULES", MachineRules(lift=5.0))
    load_corpus(CorpusOptions(str(source)), tmp_path / "cache")
    assert len(list((tmp_path / "cache" / "captions").glob("*.json"))) == 3


def test_the_component_passes_mentions_only(tmp_path):
    source = write(tmp_path / "chat.txt", natural(20))
    config = corpus.CaptionCorpus.Config(source=str(source), mentions_only=False, cache_dir=tmp_path)
    data = corpus.CaptionCorpus(config).load()
    assert any(not s.concepts for s in everything(data))
