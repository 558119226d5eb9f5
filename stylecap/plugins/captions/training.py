"""Teacher forcing through the shared engine: the corpus, the data sets and the MLE step that every caption
trainer shares (``CaptionTrainer``), and ``mle-lstm``'s trainer, on the concept-conditioned corpus or, with
``paired``, on pictures and their captions conditioned on pooled picture features."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch
import torch.nn.functional as F

from stylecap.core.atomic import write_text_atomic
from stylecap.core.component import Trainer
from stylecap.core.config import field, to_dict
from stylecap.core.errors import UsageError
from stylecap.core.host import create
from stylecap.core.training.config import TrainConfig

from .backend import MLELSTM
from .captioner import Captioner
from .concepts import ConceptVocab
from .corpus import CorpusOptions, Sentence, default_cache_dir, load_corpus
from .model import ConditionalLSTM
from .paired import Pair, cached_features, load_pairs, split_by_image
from .text import BOS, EOS, PAD, Vocab, tokenize
from .tones import TONES


def unwrap(model: torch.nn.Module) -> torch.nn.Module:
    """The model inside a DDP wrapper, or the model itself."""
    return getattr(model, "module", model)


def sentence_tokens(text: str, vocab: Vocab, max_len: int) -> torch.Tensor:
    """``<bos> words <eos>`` as ids, padded to ``max_len + 2``."""
    ids = [vocab.index[BOS], *vocab.encode(tokenize(text)), vocab.index[EOS]]
    tokens = torch.full((max_len + 2,), vocab.index[PAD], dtype=torch.long)
    tokens[: len(ids)] = torch.tensor(ids)
    return tokens


class SentenceData(torch.utils.data.Dataset):
    """``(tokens [max_len + 2], condition [concepts + tones])`` per sentence: <bos> words <eos>, padded; the
    condition marks the sentence's concepts and, when ``tones`` are given, its tone.

    With ``concept_dropout`` each concept but one is left out of the condition at that rate, so the
    model learns to talk about a concept set without needing every word of the sentence named in it.
    """

    def __init__(self, sentences: list[Sentence], vocab: Vocab, concepts: list[str], max_len: int,
                 concept_dropout: float = 0.0, tones: Sequence[str] = ()):  # fmt: skip
        self.vocab, self.max_len, self.concept_dropout = vocab, max_len, concept_dropout
        self.where = {c: i for i, c in enumerate(concepts)}
        self.tone_index = {t: len(concepts) + i for i, t in enumerate(tones)}
        self.sentences = [s for s in sentences if len(tokenize(s.text)) <= max_len]
        self.size = len(concepts) + len(tones)

    def __len__(self) -> int:
        return len(self.sentences)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        sentence = self.sentences[index]
        tokens = sentence_tokens(sentence.text, self.vocab, self.max_len)
        cond = torch.zeros(self.size)
        concepts = list(sentence.concepts)
        if concepts:
            keep = torch.rand(len(concepts)) >= self.concept_dropout  # the engine seeds this per item
            keep[torch.randint(len(concepts), ())] = True
            for concept, kept in zip(concepts, keep.tolist()):
                if kept:
                    cond[self.where[concept]] = 1.0
        if self.tone_index:
            cond[self.tone_index[sentence.tone]] = 1.0
        return tokens, cond


class PairData(torch.utils.data.Dataset):
    """``(tokens [max_len + 2], features [dim])`` per caption: the picture's pooled features are its condition."""

    def __init__(self, pairs: list[Pair], features: dict[Path, torch.Tensor], vocab: Vocab, max_len: int):
        self.vocab, self.max_len, self.features = vocab, max_len, features
        self.pairs = [p for p in pairs if len(tokenize(p.caption)) <= max_len]

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        pair = self.pairs[index]
        return sentence_tokens(pair.caption, self.vocab, self.max_len), self.features[pair.image].float()


@dataclass
class CaptionTrainConfig(TrainConfig):
    """The corpus and teacher-forcing options every caption trainer shares."""

    out: Path = field(Path("runs/mle-lstm"), help="Run folder.")
    corpus: str = field(
        "chitchat",
        help="'chitchat' (PyPI chitchat-dataset), corpora joined by '+' (chitchat+seinfeld), or a text file.",
    )
    cache_dir: Path | None = field(None, help="Corpus cache (default $STYLECAP_CACHE or ~/.cache/stylecap).")
    min_words: int = field(4, help="Shortest corpus sentence, in words.")
    max_words: int = field(20, help="Longest corpus sentence, in words.")
    max_len: int = field(24, help="Longest sentence in tokens (words and punctuation); longer ones are skipped.")
    min_count: int = field(3, help="Words seen fewer times in training sentences become <unk> (not a concept's).")
    concept_dropout: float = field(0.3, help="Rate at which extra concepts are hidden from the condition.")
    tones: bool = field(True, help="Condition on each sentence's tone (its feeling, captions/tones.py) too.")
    mentions_only: bool = field(
        True, help="Train on the sentences that mention a concept only; false: on every sentence (a wider prior)."
    )
    lr: float = field(2e-3, help="Adam learning rate.")
    batch_size: int = field(64, help="Sentences per step.")
    log_every: int = field(50, help="Log every N steps.")


@dataclass
class LSTMOptions:
    """The sizes of a new conditional LSTM generator."""

    embed: int = field(128, help="Word embedding size.")
    hidden: int = field(256, help="LSTM hidden size.")
    layers: int = field(1, help="LSTM layers.")
    dropout: float = field(0.2, help="Dropout on embeddings and LSTM outputs.")


def new_lstm(cfg: LSTMOptions, vocab_size: int, cond_dim: int) -> ConditionalLSTM:
    return ConditionalLSTM(vocab_size, cond_dim, cfg.embed, cfg.hidden, cfg.layers, cfg.dropout)


@dataclass
class MLELSTMTrainConfig(CaptionTrainConfig, LSTMOptions):
    """mle-lstm's options: the corpus ones and paired data."""

    paired: Literal["none", "coco", "flickr", "styled"] = field(
        "none", help="Train on pictures and captions in this format (with --annotations, --images), not the corpus."
    )
    annotations: Path | None = field(None, help="Paired: COCO captions JSON, Flickr token file or styled TSV.")
    images: Path | None = field(None, help="Paired: the folder holding the pictures the annotations name.")
    condition: str = field("pooled-features", help="Paired: condition encoder giving each picture's feature vector.")
    condition_options: dict = field({}, help="Paired: the condition encoder's options, e.g. size=160,layer=stage6.")
    val_fraction: float = field(0.1, help="Paired: share of pictures held out for validation (split by picture).")

    def validate(self) -> None:
        super().validate()
        if self.paired != "none" and (self.annotations is None or self.images is None):
            raise ValueError(f"paired={self.paired!r} needs annotations (the captions file) and images (a folder)")
        if not 0 <= self.val_fraction < 1:
            raise ValueError(f"val_fraction must be in [0, 1), not {self.val_fraction}")


class CaptionTrainer(Trainer):
    """Teacher forcing of a generator ``lm`` on the concept-conditioned corpus. Subclasses set ``backend`` (the
    caption backend that ``export`` makes) and build the generator in ``build`` (``load_sentences`` first)."""

    target = "caption"
    backend: type[Captioner]
    paired = False

    def load_sentences(self) -> None:
        """The corpus, a vocabulary of its training sentences, the concept list and the tones."""
        cfg = self.config
        options = CorpusOptions(cfg.corpus, cfg.min_words, cfg.max_words, seed=0, mentions_only=cfg.mentions_only)
        self.corpus = load_corpus(options, cfg.cache_dir)
        self.concepts = ConceptVocab.default().names
        concept_words = {w for c in self.concepts for w in tokenize(c)}
        self.vocab = Vocab.build((tokenize(s.text) for s in self.corpus.train), cfg.min_count, concept_words)
        self.tones = list(TONES) if cfg.tones else []

    def train_step(self, batch, engine) -> dict[str, torch.Tensor]:
        tokens, cond = batch
        with engine.autocast():
            logits = self.models["lm"](tokens[:, :-1], cond)
        loss = F.cross_entropy(logits.float().flatten(0, 1), tokens[:, 1:].flatten(), ignore_index=0)
        engine.optimize("lm", loss)
        return {"loss": loss}

    def sample(self, engine) -> str:
        backend = self.export()
        if self.paired:
            shown = list({p.image: p for p in self.val_pairs or self.train_pairs}.values())[:8]
            cond = torch.stack([self.features[p.image].float() for p in shown])
            lines = [f"{p.image.name}: {text}  (said: {p.caption})" for p, text in zip(shown, backend.decode(cond))]
            unwrap(self.models["lm"]).train()
            return "\n".join(lines)
        sets = [list(s.concepts) for s in self.corpus.val[:8]]
        lines = [f"{', '.join(c)}: {text}" for c, text in zip(sets, backend.generate(sets))]
        unwrap(self.models["lm"]).train()
        return "\n".join(lines)

    def export(self) -> Captioner:
        return self.backend.from_parts(unwrap(self.models["lm"]), self.vocab, self.concepts, self.tones)


class MLELSTMTrainer(CaptionTrainer):
    """Trains the conditional LSTM by maximum likelihood (teacher forcing) on the concept-conditioned corpus,
    or on paired pictures and captions (``paired``) conditioned on pooled picture features."""

    name = "mle-lstm"
    Config = MLELSTMTrainConfig
    backend = MLELSTM

    @property
    def paired(self) -> bool:
        return self.config.paired != "none"

    def build(self, engine) -> None:
        if self.paired:
            return self.build_paired(engine)
        cfg = self.config
        self.load_sentences()
        self.dataset = SentenceData(self.corpus.train, self.vocab, self.concepts, cfg.max_len, cfg.concept_dropout,
                                    self.tones)  # fmt: skip
        net = new_lstm(cfg, len(self.vocab), len(self.concepts) + len(self.tones))
        self.models = {"lm": net}
        self.optimizers = {"lm": torch.optim.Adam(net.parameters(), lr=cfg.lr)}

    def build_paired(self, engine) -> None:
        """Pairs split by picture, each picture's features computed once (cached), vocabulary from the captions."""
        cfg = self.config
        pairs = load_pairs(cfg.paired, cfg.annotations, cfg.images)
        self.train_pairs, self.val_pairs = split_by_image(pairs, cfg.val_fraction, cfg.seed)
        self.encoder = create("condition", cfg.condition, **cfg.condition_options)
        self.features = cached_features([p.image for p in pairs], self.encoder, cfg.cache_dir or default_cache_dir())
        self.vocab = Vocab.build((tokenize(p.caption) for p in self.train_pairs), cfg.min_count)
        self.concepts, self.tones = [], []
        self.dataset = PairData(self.train_pairs, self.features, self.vocab, cfg.max_len)
        if not len(self.dataset):
            raise UsageError(
                f"no training caption of {cfg.annotations} is at most {cfg.max_len} tokens long",
                "raise --max-len or lower --val-fraction",
            )
        if engine.is_main:
            split = {k: sorted({str(p.image.relative_to(cfg.images)) for p in v})
                     for k, v in (("train", self.train_pairs), ("val", self.val_pairs))}  # fmt: skip
            write_text_atomic(Path(engine.out) / "split.json", json.dumps(split, indent=1) + "\n")
        dim = next(iter(self.features.values())).numel()
        net = new_lstm(cfg, len(self.vocab), dim)
        self.models = {"lm": net}
        self.optimizers = {"lm": torch.optim.Adam(net.parameters(), lr=cfg.lr)}

    def export(self) -> MLELSTM:
        if self.paired:  # the backend computes the same features at run time; grounding needs concepts
            return MLELSTM.from_parts(unwrap(self.models["lm"]), self.vocab, [], condition=self.config.condition,
                                      condition_options=to_dict(self.encoder.config), grounding="none")  # fmt: skip
        return super().export()
