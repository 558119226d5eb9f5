"""``retrieval``: the honest reference for the caption models. It says a real sentence from the corpus,
the one that best fits the picture: it names the picture's concepts, no others, no colour the picture
lacks, and carries the tone asked for. Every caption reads like a person wrote it (one did); what it
cannot do is say anything new."""

from __future__ import annotations

import gzip
import json
import random
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import torch

from stylecap.core.atomic import write_bytes_atomic
from stylecap.core.component import Captions
from stylecap.core.config import field
from stylecap.core.errors import UsageError
from stylecap.plugins.captions.conditioned import ConditionedCaptioner, ConditionedConfig
from stylecap.plugins.captions.corpus import CorpusOptions, Sentence, load_corpus
from stylecap.plugins.captions.rerank import Judge
from stylecap.plugins.captions.text import tidy, tokenize

SHIPPED = Path(__file__).with_name("weights") / "chitchat-index.json.gz"
FORMAT = "stylecap-retrieval-1"


@dataclass
class RetrievalConfig(ConditionedConfig):
    weights: str = field("default", help="The index: 'default' (the shipped one), a file from save_index, or 'none'.")


class Retrieval(ConditionedCaptioner):
    """Picks the real corpus sentence that best fits the picture: its concepts, colours and tone.

    The index (``weights``) holds the cleaned corpus's training sentences that mention a concept, with their
    concepts and tones: 'default' is the shipped one (chitchat-dataset, MIT), or a file from :func:`save_index`.
    """

    name = "retrieval"
    Config = RetrievalConfig

    def __init__(self, config=None):
        super().__init__(config)
        self.sentences: list[Sentence] = []
        self.by_concept: dict[str, list[int]] = defaultdict(list)
        spec = self.config.weights
        if spec != "none":
            self.load_index(SHIPPED if spec == "default" else Path(spec))

    @property
    def concepts(self) -> list[str]:
        return sorted(self.by_concept)

    def load_index(self, path: Path) -> None:
        if not path.is_file():
            raise UsageError(f"retrieval index {path} does not exist", "give a file from save_index, or 'default'")
        try:
            doc = json.loads(gzip.decompress(path.read_bytes()))
        except (OSError, ValueError) as e:
            raise UsageError(f"{path} is not a retrieval index ({e})", "rebuild it with save_index") from None
        if doc.get("format") != FORMAT:
            raise UsageError(f"{path} has format {doc.get('format')!r}, not {FORMAT!r}", "rebuild it with save_index")
        self.index([Sentence(t, "", tuple(c), tone) for t, c, tone in doc["sentences"]])

    def index(self, sentences: list[Sentence]) -> None:
        self.sentences = list(sentences)
        self.by_concept = defaultdict(list)
        for i, sentence in enumerate(self.sentences):
            for concept in sentence.concepts:
                self.by_concept[concept].append(i)

    def captions(self, image: torch.Tensor, *, content: torch.Tensor | None = None, seed: int = 0) -> Captions:
        if not self.sentences:
            raise UsageError("the retrieval backend has no index", "pass -c weights=default or an index file")
        condition, _ = self.condition(image, content=content)
        judge = self.judge(condition)
        return Captions([tidy(t) for t in self.choose(judge, seed)], condition)

    def choose(self, judge: Judge, seed: int) -> list[str]:
        """The ``num_captions`` best sentences for ``judge``; among equally good ones the seed chooses."""
        pool = sorted({i for c in judge.concepts for i in self.by_concept.get(c, ())})
        if not pool:
            pool = list(range(len(self.sentences)))
        rng = random.Random(seed)
        jitter = {i: rng.random() for i in pool}
        scores = {i: round(judge.score(tokenize(self.sentences[i].text), 0.0), 3) for i in pool}
        scored = sorted(pool, key=lambda i: (-scores[i], jitter[i]))
        seen, out = set(), []
        for i in scored:
            text = self.sentences[i].text
            if text.lower() not in seen:
                seen.add(text.lower())
                out.append(text)
            if len(out) == self.config.num_captions:
                break
        return out


def save_index(path: Path, options: CorpusOptions = CorpusOptions(), cache_dir: Path | None = None) -> Path:
    """Write the index of ``options``' corpus (training split, sentences that mention a concept), gzipped JSON."""
    corpus = load_corpus(options, cache_dir)
    rows = [[s.text, list(s.concepts), s.tone] for s in corpus.train if s.concepts]
    doc = {"format": FORMAT, "source": options.source, "sentences": rows}
    write_bytes_atomic(path, gzip.compress(json.dumps(doc).encode(), mtime=0))
    return path
