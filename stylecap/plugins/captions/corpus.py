"""The unpaired caption corpus: real informal sentences, each conditioned on the concepts it mentions.

Conversations come from chitchat-dataset (PyPI, MIT), the other informal corpora of ``SOURCES`` (joined by
``+``: ``chitchat+seinfeld``), or a text file (one utterance per line, conversations separated by blank lines).
Sentences are filtered (English, length, blocklist, machine-made text: see ``find_machine_text``), split by
conversation so no conversation crosses train/val/test, given a tone (``tones.tone_of``) and, with
``mentions_only``, kept only when they mention a concept. The result is cached under ``cache_dir`` keyed by
everything that shapes it.
"""

from __future__ import annotations

import gzip
import hashlib
import importlib.metadata
import importlib.util
import json
import os
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

from stylecap.core.atomic import write_text_atomic
from stylecap.core.component import Component
from stylecap.core.config import field as option
from stylecap.core.errors import UsageError

from . import tones
from .concepts import DATA, ConceptVocab
from .text import tokenize
from .tones import TONES, tone_of

VERSION = 2  # bump when the preprocessing changes: old caches are then ignored
SPLITS = ("train", "val", "test")
FUNCTION_WORDS = frozenset(
    "i you he she it we they me my your our this that the a an is are was were be am do does did have has had "
    "not and but or so to of in on at for with what how why when it's i'm don't can just like".split()
)
SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
CLOSED_CLASS = frozenset(
    "a an the this that these those some any no every each all both either neither my your his her its our their "
    "i you he she it we they me him us them myself yourself itself mine yours is are was were be been being am do "
    "does did have has had will would shall should can could may might must not and but or nor so yet if then than "
    "because as while though although to of in on at for with by from about into onto over under up down out off "
    "through after before between what who whom whose which where when why how there here i'm you're he's she's "
    "it's we're they're that's what's there's don't doesn't didn't can't won't isn't aren't wasn't i've i'll i'd "
    "you've you'll".split()
)
"""Words a sentence's shape keeps; every other word becomes a slot (``_``, or ``0`` for a number)."""
TEST_WORDS = frozenset("test testing tests asdf asdfgh asdfghjkl qwerty".split())
TEST_FILLERS = frozenset("this is a just only".split())
"""A sentence made of ``TEST_WORDS`` ("this is a test", "testing 1 2 3") is someone checking that the chat works."""


def default_cache_dir() -> Path:
    return Path(os.environ.get("STYLECAP_CACHE", Path.home() / ".cache" / "stylecap"))


@dataclass(frozen=True)
class Sentence:
    text: str
    conversation: str
    concepts: tuple[str, ...]
    tone: str = "plain"
    """One of ``tones.TONES``."""


@dataclass
class Corpus:
    """Sentences per split, and counts for docs and reports: what each filter left (``sentences``, ``english``,
    ``length_ok``, ``safe``, ``human``, ``kept_*``), what the machine-text rules found (``machine_conversations``,
    ``machine_sentences`` and ``templated`` over all sentences, ``templated_*`` per rule, ``test_strings``) and
    dropped of the otherwise kept sentences (``machine_dropped``), and the kept sentences per tone (``tone_*``)."""

    train: list[Sentence]
    val: list[Sentence]
    test: list[Sentence]
    counts: dict[str, int] = field(default_factory=dict)

    def split(self, name: str) -> list[Sentence]:
        if name not in SPLITS:
            raise UsageError(f"unknown split {name!r}", f"use one of {', '.join(SPLITS)}")
        return getattr(self, name)


class Blocklist:
    """Unsafe words; an entry ending in ``*`` blocks every word starting with it."""

    def __init__(self, lines: list[str]):
        entries = [w.strip().lower() for w in lines if w.strip() and not w.startswith("#")]
        self.words = frozenset(w for w in entries if not w.endswith("*"))
        self.prefixes = tuple(w[:-1] for w in entries if w.endswith("*"))

    @classmethod
    def default(cls) -> Blocklist:
        return cls((DATA / "blocklist.txt").read_text().splitlines())

    def blocks(self, tokens: list[str]) -> bool:
        return any(t in self.words or t.startswith(self.prefixes) for t in tokens)


PACKAGES = {
    "chitchat": ("chitchat_dataset", "chitchat-dataset==0.9.0"),
    "chatterbot": ("chatterbot_corpus", "chatterbot-corpus==1.3.3"),
    "seinfeld": ("seinfeld_laugh_corpus", "seinfeld-laugh-corpus==1.0.13"),
    "oneliners": ("oneliners", "oneliners==1.0"),
}
"""Each corpus package: its module and the requirement that installs it."""


def package_data(name: str) -> Path:
    """The folder of a corpus package, found without importing it (oneliners' code imports the removed
    ``pkg_resources``)."""
    module, requirement = PACKAGES[name]
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise UsageError(f"the {name} corpus is not installed", f"pip install {requirement}")
    return Path(spec.submodule_search_locations[0])


def chitchat() -> Iterator[tuple[str, list[str]]]:
    path = package_data("chitchat") / "dataset.json"
    for cid, conv in json.loads(path.read_text()).items():
        yield cid, [m["text"] for turn in conv["messages"] for m in turn]


def chatterbot() -> Iterator[tuple[str, list[str]]]:
    """chatterbot-corpus's English dialogues (YAML, 21 topics): each a conversation."""
    try:
        import yaml
    except ModuleNotFoundError:
        raise UsageError("reading chatterbot-corpus needs PyYAML", "pip install pyyaml") from None
    folder = package_data("chatterbot") / "data" / "english"
    for path in sorted(folder.iterdir(), key=lambda f: f.name):
        if path.name.endswith(".yml"):
            for n, talk in enumerate(yaml.safe_load(path.read_text(encoding="utf-8")).get("conversations", [])):
                yield f"chatterbot:{path.name}:{n}", [str(line) for line in talk]


def seinfeld() -> Iterator[tuple[str, list[str]]]:
    """seinfeld-laugh-corpus's 96 episodes: each a conversation, one utterance per subtitle (a subtitle's lines
    lie between its start and end times; ``# NAME`` marks the speaker and ``**LOL**`` the laughs)."""
    folder = package_data("seinfeld") / "the_corpus"
    for path in sorted(folder.iterdir(), key=lambda f: f.name):
        utterances, lines = [], []
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines() + ["0"]:
            line = line.strip()
            if re.fullmatch(r"[\d.]+", line) or line.startswith("#"):
                if lines:
                    utterances.append(" ".join(lines))
                lines = []
            elif line and line != "**LOL**":
                lines.append(line)
        yield f"seinfeld:{path.name}", utterances


def oneliners() -> Iterator[tuple[str, list[str]]]:
    """The oneliners package's ~4.7k jokes (some not safe for work: the blocklist drops those), each on its own."""
    for path in sorted((package_data("oneliners") / "data").glob("*.txt.gz")):
        for n, joke in enumerate(gzip.decompress(path.read_bytes()).decode("utf-8").splitlines()):
            if joke.strip():
                yield f"oneliners:{path.name}:{n}", [joke]


FORTUNES = Path("/usr/share/games/fortunes")
FORTUNE_FILES = ("cookie", "food", "fortunes", "humorists", "kids", "love", "people", "pets", "platitudes", "wisdom",
                 "work")  # fmt: skip
"""Debian ``fortunes`` files read: quips and sayings, not the ones on drugs, ethnic groups, politics or religion."""


def fortunes() -> Iterator[tuple[str, list[str]]]:
    """Debian ``fortunes`` (``%``-separated quips), each on its own, without attribution lines."""
    if not FORTUNES.is_dir():
        raise UsageError(f"the fortunes corpus is not in {FORTUNES}", "apt-get install fortunes")
    for name in FORTUNE_FILES:
        for n, quip in enumerate((FORTUNES / name).read_text(encoding="utf-8", errors="replace").split("\n%\n")):
            lines = [line.strip() for line in quip.splitlines() if line.strip() and not line.strip().startswith("--")]
            if lines:
                yield f"fortunes:{name}:{n}", [" ".join(lines)]


SOURCES = {"chitchat": chitchat, "chatterbot": chatterbot, "seinfeld": seinfeld, "oneliners": oneliners,
           "fortunes": fortunes}  # fmt: skip
"""The informal corpora that can be had offline (all MIT but Debian's fortunes, free), by name."""


def named_sources(source: str) -> list[str] | None:
    """The corpora ``source`` names (``chitchat+seinfeld``), or None when it is not such a name (a file)."""
    names = source.split("+")
    return names if all(name in SOURCES for name in names) else None


def conversations(source: str) -> Iterator[tuple[str, list[str]]]:
    """``(conversation id, utterances)`` from named corpora joined by ``+`` (``chitchat+seinfeld``) or a text file
    (one utterance a line, conversations apart by blank lines)."""
    names = named_sources(source)
    if names:
        for name in names:
            yield from SOURCES[name]()
        return
    path = Path(source)
    if not path.is_file():
        raise UsageError(
            f"corpus {source!r} is neither a file nor corpora from {', '.join(SOURCES)} joined by '+'",
            "give a text file of conversations, or e.g. 'chitchat' or 'chitchat+seinfeld'",
        )
    for n, block in enumerate(re.split(r"\n\s*\n", path.read_text(encoding="utf-8"))):
        lines = [line.strip() for line in block.splitlines() if line.strip()]
        if lines:
            yield f"{path.name}:{n}", lines


def shape(tokens: list[str]) -> str:
    """A sentence's shape: closed-class words and punctuation stay, other words become ``_`` (``0`` for numbers),
    and a token repeated in a run gets a ``+`` ("a a a a" -> "a+"). "The purple pasta talked softly." and "The
    white dog cried gingerly." share the shape "the _ _ _ _ ."."""
    out: list[str] = []
    previous = None
    for token in tokens:
        if token == previous:
            out[-1] = out[-1].rstrip("+") + "+"
        elif token in CLOSED_CLASS or not token[0].isalnum():
            out.append(token)
        else:
            out.append("0" if token[0].isdigit() else "_")
        previous = token
    return " ".join(out)


def word_count(tokens: list[str]) -> int:
    return sum(t[0].isalnum() for t in tokens)


def is_test_string(tokens: list[str]) -> bool:
    """'test', 'asdf', 'testing 1 2 3', lorem ipsum: text typed to check the chat, not to say anything."""
    words = [t for t in tokens if t[0].isalnum()]
    if any(a == "lorem" and b == "ipsum" for a, b in zip(words, words[1:])):
        return True
    allowed = TEST_WORDS | TEST_FILLERS
    return any(w in TEST_WORDS for w in words) and all(w in allowed or w.isdigit() for w in words)


@dataclass(frozen=True)
class MachineRules:
    """When text counts as machine-made or templated (``find_machine_text``); part of the cache key."""

    min_words: int = 3
    """Shorter sentences are no evidence of a template: natural chat repeats "oh ok" and "yeah!!" a lot."""
    shape_repeats: int = 10
    """A shape used this often in one conversation..."""
    copy_words: int = 6
    copy_repeats: int = 5
    """...or a sentence of ``copy_words`` or more words pasted this often in one conversation..."""
    lift: float = 20.0
    """...at this many times the rate at which the other conversations use it, is templated there."""
    machine_share: float = 0.5
    """A conversation with this share of templated sentences is machine-made: all of it is dropped."""
    spread_words: int = 5
    spread_conversations: int = 3
    """A sentence of a machine-made conversation (``spread_words`` or more words) is dropped where it turns up in
    at most ``spread_conversations`` other conversations (pasted there; common phrases turn up in many)."""


@dataclass
class MachineText:
    conversations: set[int]
    """Indexes of machine-made conversations."""
    templated: set[tuple[int, int]]
    """(conversation, sentence) indexes of templated sentences outside them."""
    rules_hit: Counter[str]
    """How many sentences each rule flagged (outside machine-made conversations, ``templated_*``)."""


def find_machine_text(tokenized: list[list[list[str]]], rules: MachineRules) -> MachineText:
    """Machine-made conversations and templated sentences in conversations of tokenized sentences.

    Natural chat repeats short phrases ("how are you?") across many conversations; a bot or a pasted list repeats
    one shape or one sentence many times within a conversation, far more often than the rest of the corpus does.
    """
    total_sentences = sum(map(len, tokenized))
    keys: list[list[tuple[str, ...]]] = []
    everywhere: Counter[str] = Counter()
    for sentences in tokenized:
        conversation_keys = []
        for tokens in sentences:
            form = shape(tokens)
            words = word_count(tokens)
            k: tuple[str, ...] = ()
            if words >= rules.min_words:
                k = ("shape " + form,)
                if words >= rules.copy_words:
                    k += ("copy " + " ".join(tokens),)
            conversation_keys.append(k)
        keys.append(conversation_keys)
        everywhere.update(k for ks in conversation_keys for k in ks)

    flagged: list[list[bool]] = []
    flagged_shapes: list[set[str]] = []
    for sentences, conversation_keys in zip(tokenized, keys):
        here = Counter(k for ks in conversation_keys for k in ks)
        sentences_elsewhere = total_sentences - len(sentences) + 1
        bad = set()
        for k, n in here.items():
            repeats = rules.shape_repeats if k.startswith("shape ") else rules.copy_repeats
            # this conversation's rate against the others' (smoothed: a key nobody else uses has rate 1/N)
            if n >= repeats and n / len(sentences) >= rules.lift * (everywhere[k] - n + 1) / sentences_elsewhere:
                bad.add(k)
        flagged.append([any(k in bad for k in ks) for ks in conversation_keys])
        flagged_shapes.append({k[len("shape ") :] for k in bad if k.startswith("shape ")})

    machine = {c for c, f in enumerate(flagged) if f and sum(f) >= rules.machine_share * len(f)}
    hits: Counter[str] = Counter()
    templated = set()
    for c, f in enumerate(flagged):
        if c not in machine:
            for s in (i for i, x in enumerate(f) if x):
                templated.add((c, s))
                hits["templated_repeats"] += 1

    # What the machine-made conversations say, to find it where it was pasted into human ones.
    slots: dict[str, list[set[str]]] = {}
    pasted: dict[str, set[int]] = {}
    for c in machine:
        for tokens, bad in zip(tokenized[c], flagged[c]):
            form = shape(tokens)
            if bad and form in flagged_shapes[c] and "+" not in form:
                fillers = [t for t in tokens if t not in CLOSED_CLASS and t[0].isalnum()]
                for i, word in enumerate(fillers):
                    slots.setdefault(form, [set() for _ in fillers])[i].add(word)
            if word_count(tokens) >= rules.spread_words:
                pasted.setdefault(" ".join(tokens), set())
    for c, sentences in enumerate(tokenized):
        if c not in machine:
            for tokens in sentences:
                if (text := " ".join(tokens)) in pasted:
                    pasted[text].add(c)
    for c, sentences in enumerate(tokenized):
        if c in machine:
            continue
        for s, tokens in enumerate(sentences):
            if (c, s) in templated:
                continue
            form = shape(tokens)
            fillers = [t for t in tokens if t not in CLOSED_CLASS and t[0].isalnum()]
            if form in slots and len(fillers) >= 2 and all(w in slots[form][i] for i, w in enumerate(fillers)):
                templated.add((c, s))
                hits["templated_fillers"] += 1
            elif 0 < len(pasted.get(" ".join(tokens), ())) <= rules.spread_conversations:
                templated.add((c, s))
                hits["templated_pasted"] += 1
    return MachineText(machine, templated, hits)


def split_of(conversation: str, seed: int, val: float, test: float) -> str:
    """A conversation's split, from a hash of its id: stable when conversations are added or removed."""
    digest = hashlib.sha256(f"{seed}:{conversation}".encode()).digest()
    u = int.from_bytes(digest[:8], "big") / 2**64
    return "test" if u < test else "val" if u < test + val else "train"


def is_english(text: str, tokens: list[str]) -> bool:
    """Cheap and good enough for chat: ASCII letters, and at least one common English function word."""
    letters = [c for c in text if c.isalpha()]
    return (
        bool(letters)
        and sum(c.isascii() for c in letters) / len(letters) > 0.95
        and any(t in FUNCTION_WORDS for t in tokens)
    )


@dataclass(frozen=True)
class CorpusOptions:
    source: str = "chitchat"
    min_words: int = 4
    max_words: int = 20
    val_fraction: float = 0.05
    test_fraction: float = 0.05
    seed: int = 0
    mentions_only: bool = True
    """Keep only sentences that mention a concept; False keeps every sentence that passes the filters."""


RULES = MachineRules()


def build_corpus(
    options: CorpusOptions, vocab: ConceptVocab, blocklist: Blocklist, rules: MachineRules = RULES
) -> Corpus:
    counts: Counter[str] = Counter()
    parts: dict[str, list[Sentence]] = {s: [] for s in SPLITS}
    ids: list[str] = []
    texts: list[list[str]] = []
    tokenized: list[list[list[str]]] = []
    for cid, utterances in conversations(options.source):
        ids.append(cid)
        texts.append([t for u in utterances for t in SENTENCE_END.split(u.strip())])
        tokenized.append([tokenize(t) for t in texts[-1]])
    machine = find_machine_text(tokenized, rules)
    counts["conversations"] = len(ids)
    counts["machine_conversations"] = len(machine.conversations)
    counts["machine_sentences"] = sum(len(texts[c]) for c in machine.conversations)
    counts["templated"] = len(machine.templated)
    counts.update(machine.rules_hit)
    for c, cid in enumerate(ids):
        where = split_of(cid, options.seed, options.val_fraction, options.test_fraction)
        for s, (text, tokens) in enumerate(zip(texts[c], tokenized[c])):
            counts["sentences"] += 1
            if is_test_string(tokens):
                counts["test_strings"] += 1
                continue
            if not is_english(text, tokens):
                continue
            counts["english"] += 1
            if not options.min_words <= word_count(tokens) <= options.max_words:
                continue
            counts["length_ok"] += 1
            if blocklist.blocks(tokens):
                continue
            counts["safe"] += 1
            if c in machine.conversations or (c, s) in machine.templated:
                counts["machine_dropped"] += 1
                continue
            counts["human"] += 1
            concepts = vocab.find(tokens)
            if concepts:
                counts["kept_with_concepts"] += 1
            elif options.mentions_only:
                continue
            text = " ".join(text.split())
            parts[where].append(Sentence(text, cid, tuple(concepts), tone_of(text, tokens)))
    result = dict(counts)  # (a Counter's ``|=`` would drop the zeros)
    result |= {f"kept_{s}": len(parts[s]) for s in SPLITS}
    result["concepts_used"] = len({c for s in parts["train"] for c in s.concepts})
    tone_counts = Counter(s.tone for part in parts.values() for s in part)
    result |= {f"tone_{t}": tone_counts[t] for t in TONES}
    return Corpus(parts["train"], parts["val"], parts["test"], result)


def source_identity(source: str) -> str:
    """What the corpus was read from: package versions (a file's size and time), so a new version rebuilds it."""
    names = named_sources(source)
    if names:
        return "+".join(package_identity(name) for name in names)
    path = Path(source).resolve()
    return f"{path}:{path.stat().st_size}:{path.stat().st_mtime_ns}" if path.is_file() else str(path)


def package_identity(name: str) -> str:
    if name == "fortunes":
        return f"fortunes:{sum((FORTUNES / f).stat().st_size for f in FORTUNE_FILES if (FORTUNES / f).is_file())}"
    distribution = PACKAGES[name][1].split("==")[0]
    try:
        return f"{distribution}=={importlib.metadata.version(distribution)}"
    except importlib.metadata.PackageNotFoundError:
        return distribution


def tones_identity() -> list:
    """What the tone labels depend on: the tone rules and the VADER version."""
    try:
        vader = importlib.metadata.version("vaderSentiment")
    except importlib.metadata.PackageNotFoundError:
        vader = None
    return [TONES, sorted(tones.FUNNY), sorted(tones.SPOOKY), tones.CHEERFUL, tones.WISTFUL, vader]


def load_corpus(options: CorpusOptions, cache_dir: Path | None = None) -> Corpus:
    """The preprocessed corpus, from the cache when one matches (source, options, concepts, blocklist)."""
    vocab, blocklist = ConceptVocab.default(), Blocklist.default()
    machine = [asdict(RULES), sorted(CLOSED_CLASS), sorted(TEST_WORDS), sorted(TEST_FILLERS)]
    key_text = json.dumps(
        [VERSION, source_identity(options.source), asdict(options), vocab.fingerprint(), sorted(blocklist.words)]
        + [sorted(blocklist.prefixes), machine, tones_identity()]
    )
    key = hashlib.sha256(key_text.encode()).hexdigest()[:16]
    name = re.sub(r"[^A-Za-z0-9]+", "-", Path(options.source).name)
    path = (cache_dir or default_cache_dir()) / "captions" / f"corpus-{name}-v{VERSION}-{key}.json"
    if path.is_file():
        doc = json.loads(path.read_text())
        splits = {s: [Sentence(t, c, tuple(k), tone) for t, c, k, tone in doc[s]] for s in SPLITS}
        return Corpus(**splits, counts=doc["counts"])
    corpus = build_corpus(options, vocab, blocklist, RULES)
    doc = {s: [[x.text, x.conversation, list(x.concepts), x.tone] for x in corpus.split(s)] for s in SPLITS}
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(path, json.dumps(doc | {"counts": corpus.counts, "options": asdict(options)}))
    return corpus


class CaptionCorpus(Component):
    """Informal sentences with the concepts they mention and their tone (chitchat-dataset or a text file), split by
    conversation, machine-made text dropped; preprocessed once and cached."""

    name = "caption-corpus"

    @dataclass
    class Config:
        source: str = option(
            "chitchat",
            help="'chitchat' (PyPI chitchat-dataset), other offline corpora joined by '+' (chatterbot, seinfeld, "
            "oneliners, fortunes: docs/studies/corpus.md), or a text file of conversations.",
        )
        min_words: int = option(4, help="Shortest sentence kept, in words.")
        max_words: int = option(20, help="Longest sentence kept, in words.")
        val_fraction: float = option(0.05, help="Share of conversations held out for validation.")
        test_fraction: float = option(0.05, help="Share of conversations held out for testing.")
        seed: int = option(0, help="Seed of the conversation split.")
        mentions_only: bool = option(
            True, help="Keep only sentences that mention a concept (false: every sentence, for pre-training)."
        )
        cache_dir: Path | None = option(None, help="Cache folder (default $STYLECAP_CACHE or ~/.cache/stylecap).")

    def load(self) -> Corpus:
        values = asdict(self.config)
        cache_dir = values.pop("cache_dir")
        return load_corpus(CorpusOptions(**values), cache_dir)
