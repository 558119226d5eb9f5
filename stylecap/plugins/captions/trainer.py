"""Training ``mle-lstm`` on the corpus through the shared engine: teacher forcing, cross-entropy."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from stylecap.core.component import Trainer
from stylecap.core.config import field
from stylecap.core.training.config import TrainConfig

from .backend import MLELSTM
from .concepts import ConceptVocab
from .corpus import CorpusOptions, Sentence, load_corpus
from .model import ConditionalLSTM
from .text import BOS, EOS, PAD, Vocab, tokenize


class SentenceData(torch.utils.data.Dataset):
    """``(tokens [max_len + 2], condition [concepts])`` per sentence: <bos> words <eos>, padded.

    With ``concept_dropout`` each concept but one is left out of the condition at that rate, so the
    model learns to talk about a concept set without needing every word of the sentence named in it.
    """

    def __init__(self, sentences: list[Sentence], vocab: Vocab, concepts: list[str], max_len: int,
                 concept_dropout: float = 0.0):  # fmt: skip
        self.vocab, self.max_len, self.concept_dropout = vocab, max_len, concept_dropout
        self.where = {c: i for i, c in enumerate(concepts)}
        self.sentences = [s for s in sentences if len(tokenize(s.text)) <= max_len]
        self.size = len(concepts)

    def __len__(self) -> int:
        return len(self.sentences)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        sentence = self.sentences[index]
        ids = [self.vocab.index[BOS], *self.vocab.encode(tokenize(sentence.text)), self.vocab.index[EOS]]
        tokens = torch.full((self.max_len + 2,), self.vocab.index[PAD], dtype=torch.long)
        tokens[: len(ids)] = torch.tensor(ids)
        cond = torch.zeros(self.size)
        concepts = list(sentence.concepts)
        keep = torch.rand(len(concepts)) >= self.concept_dropout  # the engine seeds this per item
        keep[torch.randint(len(concepts), ())] = True
        for concept, kept in zip(concepts, keep.tolist()):
            if kept:
                cond[self.where[concept]] = 1.0
        return tokens, cond


@dataclass
class MLELSTMTrainConfig(TrainConfig):
    out: Path = field(Path("runs/mle-lstm"), help="Run folder.")
    corpus: str = field("chitchat", help="'chitchat' (PyPI chitchat-dataset) or a text file of conversations.")
    cache_dir: Path | None = field(None, help="Corpus cache (default $STYLECAP_CACHE or ~/.cache/stylecap).")
    min_words: int = field(4, help="Shortest corpus sentence, in words.")
    max_words: int = field(20, help="Longest corpus sentence, in words.")
    max_len: int = field(24, help="Longest sentence in tokens (words and punctuation); longer ones are skipped.")
    min_count: int = field(3, help="Words seen fewer times in training sentences become <unk>.")
    embed: int = field(128, help="Word embedding size.")
    hidden: int = field(256, help="LSTM hidden size.")
    layers: int = field(1, help="LSTM layers.")
    dropout: float = field(0.2, help="Dropout on embeddings and LSTM outputs.")
    concept_dropout: float = field(0.3, help="Rate at which extra concepts are hidden from the condition.")
    lr: float = field(2e-3, help="Adam learning rate.")
    batch_size: int = field(64, help="Sentences per step.")
    log_every: int = field(50, help="Log every N steps.")


class MLELSTMTrainer(Trainer):
    """Trains the conditional LSTM by maximum likelihood (teacher forcing) on the concept-conditioned corpus."""

    name = "mle-lstm"
    target = "caption"
    Config = MLELSTMTrainConfig

    def build(self, engine) -> None:
        cfg = self.config
        options = CorpusOptions(cfg.corpus, cfg.min_words, cfg.max_words, seed=0)
        self.corpus = load_corpus(options, cfg.cache_dir)
        self.vocab = Vocab.build((tokenize(s.text) for s in self.corpus.train), cfg.min_count)
        self.concepts = ConceptVocab.default().names
        self.dataset = SentenceData(self.corpus.train, self.vocab, self.concepts, cfg.max_len, cfg.concept_dropout)
        net = ConditionalLSTM(len(self.vocab), len(self.concepts), cfg.embed, cfg.hidden, cfg.layers, cfg.dropout)
        self.models = {"lm": net}
        self.optimizers = {"lm": torch.optim.Adam(net.parameters(), lr=cfg.lr)}

    def train_step(self, batch, engine) -> dict[str, torch.Tensor]:
        tokens, cond = batch
        with engine.autocast():
            logits = self.models["lm"](tokens[:, :-1], cond)
        loss = F.cross_entropy(logits.float().flatten(0, 1), tokens[:, 1:].flatten(), ignore_index=0)
        engine.optimize("lm", loss)
        return {"loss": loss}

    def sample(self, engine) -> str:
        backend = self.export()
        sets = [list(s.concepts) for s in self.corpus.val[:8]]
        lines = [f"{', '.join(c)}: {text}" for c, text in zip(sets, backend.generate(sets))]
        getattr(self.models["lm"], "module", self.models["lm"]).train()
        return "\n".join(lines)

    def export(self) -> MLELSTM:
        net = getattr(self.models["lm"], "module", self.models["lm"])
        return MLELSTM.from_parts(net, self.vocab, self.concepts)
