"""The unpaired caption corpus: real informal sentences, each conditioned on the concepts it mentions.

Conversations come from chitchat-dataset (PyPI, MIT) or from a text file (one utterance per line,
conversations separated by blank lines). Sentences are filtered (English, length, blocklist), split
by conversation so no conversation crosses train/val/test, and kept only when they mention a
concept. The result is cached under ``cache_dir`` keyed by everything that shapes it.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.resources
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

from .concepts import DATA, ConceptVocab
from .text import tokenize

VERSION = 1  # bump when the preprocessing changes: old caches are then ignored
SPLITS = ("train", "val", "test")
FUNCTION_WORDS = frozenset(
    "i you he she it we they me my your our this that the a an is are was were be am do does did have has had "
    "not and but or so to of in on at for with what how why when it's i'm don't can just like".split()
)
SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


def default_cache_dir() -> Path:
    return Path(os.environ.get("STYLECAP_CACHE", Path.home() / ".cache" / "stylecap"))


@dataclass(frozen=True)
class Sentence:
    text: str
    conversation: str
    concepts: tuple[str, ...]


@dataclass
class Corpus:
    """Sentences per split, and the counts each filter left (for docs and reports)."""

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


def conversations(source: str) -> Iterator[tuple[str, list[str]]]:
    """``(conversation id, utterances)`` from ``chitchat`` or from a text file."""
    if source == "chitchat":
        try:
            path = importlib.resources.files("chitchat_dataset") / "dataset.json"
        except ModuleNotFoundError:
            raise UsageError("the chitchat corpus is not installed", "pip install chitchat-dataset==0.9.0") from None
        for cid, conv in json.loads(path.read_text()).items():
            yield cid, [m["text"] for turn in conv["messages"] for m in turn]
        return
    path = Path(source)
    if not path.is_file():
        raise UsageError(f"corpus {source!r} is neither 'chitchat' nor a file", "give a text file or 'chitchat'")
    for n, block in enumerate(re.split(r"\n\s*\n", path.read_text(encoding="utf-8"))):
        lines = [line.strip() for line in block.splitlines() if line.strip()]
        if lines:
            yield f"{path.name}:{n}", lines


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


def build_corpus(options: CorpusOptions, vocab: ConceptVocab, blocklist: Blocklist) -> Corpus:
    counts: Counter[str] = Counter()
    parts: dict[str, list[Sentence]] = {s: [] for s in SPLITS}
    for cid, utterances in conversations(options.source):
        counts["conversations"] += 1
        where = split_of(cid, options.seed, options.val_fraction, options.test_fraction)
        for utterance in utterances:
            for text in SENTENCE_END.split(utterance.strip()):
                counts["sentences"] += 1
                tokens = tokenize(text)
                words = sum(t[0].isalnum() for t in tokens)
                if not is_english(text, tokens):
                    continue
                counts["english"] += 1
                if not options.min_words <= words <= options.max_words:
                    continue
                counts["length_ok"] += 1
                if blocklist.blocks(tokens):
                    continue
                counts["safe"] += 1
                concepts = vocab.find(tokens)
                if concepts:
                    parts[where].append(Sentence(" ".join(text.split()), cid, tuple(concepts)))
    counts |= {f"kept_{s}": len(parts[s]) for s in SPLITS}
    counts["concepts_used"] = len({c for s in parts["train"] for c in s.concepts})
    return Corpus(parts["train"], parts["val"], parts["test"], dict(counts))


def source_identity(source: str) -> str:
    if source == "chitchat":
        try:
            return f"chitchat-dataset=={importlib.metadata.version('chitchat-dataset')}"
        except importlib.metadata.PackageNotFoundError:
            return "chitchat-dataset"
    path = Path(source).resolve()
    return f"{path}:{path.stat().st_size}:{path.stat().st_mtime_ns}" if path.is_file() else str(path)


def load_corpus(options: CorpusOptions, cache_dir: Path | None = None) -> Corpus:
    """The preprocessed corpus, from the cache when one matches (source, options, concepts, blocklist)."""
    vocab, blocklist = ConceptVocab.default(), Blocklist.default()
    key_text = json.dumps(
        [VERSION, source_identity(options.source), asdict(options), vocab.fingerprint(), sorted(blocklist.words)]
        + [sorted(blocklist.prefixes)]
    )
    key = hashlib.sha256(key_text.encode()).hexdigest()[:16]
    name = re.sub(r"[^A-Za-z0-9]+", "-", Path(options.source).name)
    path = (cache_dir or default_cache_dir()) / "captions" / f"corpus-{name}-v{VERSION}-{key}.json"
    if path.is_file():
        doc = json.loads(path.read_text())
        splits = {s: [Sentence(t, c, tuple(k)) for t, c, k in doc[s]] for s in SPLITS}
        return Corpus(**splits, counts=doc["counts"])
    corpus = build_corpus(options, vocab, blocklist)
    doc = {s: [[x.text, x.conversation, list(x.concepts)] for x in corpus.split(s)] for s in SPLITS}
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(path, json.dumps(doc | {"counts": corpus.counts, "options": asdict(options)}))
    return corpus


class CaptionCorpus(Component):
    """Informal sentences conditioned on the concepts they mention (chitchat-dataset or a text file), split by
    conversation; preprocessed once and cached."""

    name = "caption-corpus"

    @dataclass
    class Config:
        source: str = option("chitchat", help="'chitchat' (PyPI chitchat-dataset) or a text file of conversations.")
        min_words: int = option(4, help="Shortest sentence kept, in words.")
        max_words: int = option(20, help="Longest sentence kept, in words.")
        val_fraction: float = option(0.05, help="Share of conversations held out for validation.")
        test_fraction: float = option(0.05, help="Share of conversations held out for testing.")
        seed: int = option(0, help="Seed of the conversation split.")
        cache_dir: Path | None = option(None, help="Cache folder (default $STYLECAP_CACHE or ~/.cache/stylecap).")

    def load(self) -> Corpus:
        values = asdict(self.config)
        cache_dir = values.pop("cache_dir")
        return load_corpus(CorpusOptions(**values), cache_dir)
