"""What every token-generating caption backend shares: weights with their vocabulary and concepts, a condition
encoder, grounding and decoding. ``mle-lstm``, ``seqgan`` and ``gumbel-transformer`` differ only in their network."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch

from stylecap.core.checkpoint import load_checkpoint, metadata_json, save_checkpoint
from stylecap.core.component import Captions, Condition
from stylecap.core.config import field, to_dict
from stylecap.core.errors import UsageError

from .concepts import ConceptVocab
from .conditioned import ConditionedCaptioner, ConditionedConfig
from .decoding import beam_search, sample
from .model import pack_words, unpack_words
from .rerank import Judge, best
from .text import BOS, EOS, PAD, UNK, Vocab, detokenize, tidy


@dataclass
class CaptionerConfig(ConditionedConfig):
    weights: str = field("default", help="The model file, 'default' (the shipped one), or 'none' (untrained).")
    decode: Literal["beam", "rerank", "greedy", "sample"] = field(
        "beam",
        help="How words are chosen: beam search, or 'rerank': sample `candidates` sentences and keep those that "
        "read best and fit the picture (its concepts, colours and tone; docs/captions.md).",
    )
    candidates: int = field(32, help="decode=rerank (and num_captions > 1): sentences sampled to choose from.")
    grounding: Literal["none", "mention", "strict"] = field(
        "strict",
        help="Beam decoding: 'mention' makes the caption name one of its concepts (constrained beam search); "
        "'strict' also bans words of concepts it was not given (measured best, docs/studies/captions.md); "
        "'none': free. Models trained on paired data have no concepts and always decode with 'none'.",
    )
    beam_size: int = field(5, help="Beam width (decode=beam).")
    no_repeat_ngram: int = field(3, help="Beam decoding never says the same n words twice; 0 allows it.")
    length_penalty: float = field(0.7, help="Beam ranking favours longer sentences as this grows (0: pure log-prob).")
    temperature: float = field(1.0, help="Sampling temperature (decode=sample).")
    top_k: int = field(0, help="Sample from the k most likely words only; 0 = all.")
    top_p: float = field(1.0, help="Sample from the smallest set of words with this much probability.")
    max_len: int = field(20, help="Longest caption, in tokens.")

    def validate(self) -> None:
        if self.temperature <= 0 or not 0 < self.top_p <= 1 or self.beam_size < 1:
            raise ValueError("temperature must be > 0, top_p in (0, 1] and beam_size >= 1")
        if self.no_repeat_ngram < 0:
            raise ValueError(f"no_repeat_ngram must not be negative, not {self.no_repeat_ngram}")
        if not 1 <= self.num_captions <= self.candidates:
            raise ValueError(f"num_captions must be from 1 to candidates ({self.candidates}), not {self.num_captions}")
        if self.max_len < 1:
            raise ValueError(f"max_len must be at least 1, not {self.max_len}")


class Captioner(ConditionedCaptioner):
    """A caption backend made of a word generator ``network`` conditioned on a picture's concepts (or, for models
    trained on paired data, on its pooled features). Subclasses set ``name``, ``network`` and ``default_weights``.
    The vocabulary and the concept list travel inside the weights file; the condition encoder in its metadata.
    """

    Config = CaptionerConfig
    default_weights: Path | None = None
    """The shipped model file that ``weights=default`` loads when it exists."""
    network: type[torch.nn.Module]
    """The generator network, rebuilt from a state dict by ``network.from_state``."""

    def __init__(self, config=None):
        super().__init__(config)
        self.net: torch.nn.Module | None = None
        self.vocab: Vocab | None = None
        self.concepts: list[str] = []
        self.tones: list[str] = []  # models trained with tones are told one after the concepts
        self._names: dict[int, str] | None = None  # word id -> the concept it names
        self._warned = False
        spec = self.config.weights
        if spec == "default" and self.default_weights is not None and self.default_weights.is_file():
            self.load_file(self.default_weights)
        elif spec not in ("default", "none"):
            self.load_file(spec)

    @classmethod
    def from_parts(cls, net: torch.nn.Module, vocab: Vocab, concepts: list[str], tones: Sequence[str] = (),
                   **options) -> Captioner:  # fmt: skip
        backend = cls(cls.Config(weights="none", **options))
        backend.net, backend.vocab, backend.concepts, backend.tones = net.eval(), vocab, list(concepts), list(tones)
        return backend

    # -- weights -------------------------------------------------------------------------

    def state_dict(self) -> dict[str, torch.Tensor]:
        self._require()
        state = {f"net.{k}": v for k, v in self.net.state_dict().items()}
        state |= {"vocab": pack_words(self.vocab.words), "concepts": pack_words(self.concepts)}
        return state | ({"tones": pack_words(self.tones)} if self.tones else {})

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        net_state = {k[4:]: v.float() if v.is_floating_point() else v for k, v in state.items() if k.startswith("net.")}
        self.net = self.network.from_state(net_state)
        self.net.load_state_dict(net_state)
        self.net.eval()
        self.vocab = Vocab(unpack_words(state["vocab"]))
        self.concepts = unpack_words(state["concepts"])
        self.tones = unpack_words(state["tones"]) if "tones" in state else []
        self._names = None

    def save(self, path: str | Path, *, half: bool = False) -> Path:
        """A standalone model file (``weights=FILE`` loads it); ``half`` stores fp16 weights (half the size).
        The metadata holds the config, as ``Pipeline.save`` writes it, so both kinds of file reload the same way."""
        state = {k: v.half() if half and v.is_floating_point() else v for k, v in self.state_dict().items()}
        meta = {"component": self.name, "words": len(self.vocab), "config": to_dict(self.config)}
        return save_checkpoint(path, state, meta)

    def load_file(self, path: str | Path) -> None:
        """Weights from a model file; a paired model also takes the condition encoder it was trained with
        (name and options) from the file's metadata, since its input is that encoder's feature vector."""
        tensors, meta = load_checkpoint(path)
        self.load_state_dict(tensors)
        stored = metadata_json(meta, "config", {})
        if self.paired and "condition" in stored:
            self.config.condition = stored["condition"]
            self.config.condition_options = dict(stored.get("condition_options", {}))
            self._encoders = None

    @property
    def paired(self) -> bool:
        """Trained on paired data: conditioned on pooled picture features, not on concepts."""
        return self.net is not None and not self.concepts

    def _require(self) -> None:
        if self.net is None:
            raise UsageError(
                f"caption backend {self.name!r} has no trained weights",
                f"train one (stylecap train caption {self.name}) and pass -c weights=RUN/final/caption.safetensors",
            )

    # -- captioning ----------------------------------------------------------------------

    def captions(self, image: torch.Tensor, *, content: torch.Tensor | None = None, seed: int = 0) -> Captions:
        self._require()
        condition, per_picture = self.condition(image, content=content)
        judge = self.judge(condition)
        if self.paired:
            cond, concept_sets = self.feature_vector(per_picture), None
        else:
            cond, concept_sets = self.condition_vector([judge.concepts], [judge.tone]), [list(judge.concepts)]
        return Captions([tidy(t) for t in self.say(cond, concept_sets, judge, seed)], condition)

    def say(self, cond: torch.Tensor, concept_sets: list[list[str]] | None, judge: Judge, seed: int) -> list[str]:
        """``num_captions`` sentences for one condition row: reranked samples, or the configured decoding's
        sentence followed by reranked samples."""
        n = self.config.num_captions
        if self.config.decode == "rerank":
            return self.rerank(cond, judge, n, seed)
        texts = self.decode(cond, concept_sets, seed=seed)
        if n > 1:
            texts += [t for t in self.rerank(cond, judge, n + 1, seed) if t not in texts][: n - 1]
        return texts

    def rerank(self, cond: torch.Tensor, judge: Judge, n: int, seed: int) -> list[str]:
        """The ``n`` best of ``candidates`` sentences sampled (seeded) for the condition row ``cond`` [1, dim]."""
        cfg, index = self.config, self.vocab.index
        rows = cond.to(next(self.net.parameters()).device).expand(max(cfg.candidates, n), -1)
        tokens, logprobs = sample(self.net, rows, bos=index[BOS], eos=index[EOS], max_len=cfg.max_len,
                                  banned=[index[PAD], index[BOS], index[UNK]], temperature=cfg.temperature,
                                  top_k=cfg.top_k, top_p=cfg.top_p,
                                  generator=torch.Generator(device=rows.device).manual_seed(seed))  # fmt: skip
        rows = zip(tokens.tolist(), logprobs.tolist())
        candidates = [(self.vocab.decode(row), logprob, index[EOS] in row) for row, logprob in rows]
        return [detokenize(candidates[i][0]) for i in best(candidates, judge, n)]

    def feature_vector(self, conditions: list[Condition]) -> torch.Tensor:
        """A paired model's condition ``[1, dim]``: the picture's pooled features, or with ``condition_on=both``
        the mean of the stylised and content pictures' (the model was trained on one picture's: a mean keeps
        the size and scale it knows)."""
        dim = self.net.cond[0].in_features
        for c in conditions:
            if c.features is None or c.features.numel() != dim:
                got = "none" if c.features is None else c.features.numel()
                raise UsageError(
                    f"this model was trained on {dim} pooled feature values, condition encoder "
                    f"{self.config.condition!r} gives {got}",
                    "load the model from its own file or pipeline folder (they name its encoder), "
                    "or pass the -c condition=... and condition_options=... it was trained with",
                )
        return torch.stack([c.features.float().flatten() for c in conditions]).mean(0, keepdim=True)

    def condition_vector(self, concept_sets: list[list[str]], tones: Sequence[str] | None = None) -> torch.Tensor:
        """``[B, concepts (+ tones)]``: each set's concepts marked, then (models trained with tones) its tone,
        plain unless ``tones`` says otherwise."""
        where = {c: i for i, c in enumerate(self.concepts)}
        where |= {t: len(self.concepts) + i for i, t in enumerate(self.tones)}
        cond = torch.zeros(len(concept_sets), len(self.concepts) + len(self.tones))
        tones = tones or ["plain"] * len(concept_sets)
        for row, (concepts, tone) in enumerate(zip(concept_sets, tones)):
            for c in [*concepts, *([tone] if self.tones else [])]:
                if c in where:
                    cond[row, where[c]] = 1.0
        return cond

    def grounding_words(self, concepts: list[str]) -> tuple[list[int], list[int]]:
        """Word ids that name one of ``concepts`` (a sentence must hold one) and, under ``grounding=strict``,
        the ids that name another concept (banned). One-word names only: the decoder picks words one at a time."""
        if self.config.grounding == "none":
            return [], []
        if self._names is None:
            index = self.vocab.index
            self._names = {
                index[p[0]]: c for p, c in ConceptVocab.default().phrases.items() if len(p) == 1 and p[0] in index
            }
        wanted = set(concepts)
        require = [i for i, c in self._names.items() if c in wanted]
        ban = [i for i, c in self._names.items() if c not in wanted] if self.config.grounding == "strict" else []
        return require, ban

    def generate(self, concept_sets: list[list[str]], *, temperature: float | None = None, seed: int = 0) -> list[str]:
        """One sentence per concept set. ``temperature`` overrides the config and samples (for sweeps)."""
        self._require()
        if self.paired:
            raise UsageError(
                f"this {self.name} model was trained on paired pictures: it captions pictures, not concept sets",
                "caption a picture (stylecap run, Pipeline) or use a model trained on the corpus",
            )
        return self.decode(self.condition_vector(concept_sets), concept_sets, temperature=temperature, seed=seed)

    def decode(self, cond: torch.Tensor, concept_sets: list[list[str]] | None = None, *,
               temperature: float | None = None, seed: int = 0) -> list[str]:  # fmt: skip
        """One sentence per condition row ``[B, dim]`` (concept multi-hot vectors, or a paired model's features).
        Grounding needs ``concept_sets``; without them (paired models) beam search is free."""
        self._require()
        cfg, index = self.config, self.vocab.index
        if concept_sets is None and cfg.grounding != "none" and not self._warned:
            self._warned = True
            warnings.warn(
                f"grounding={cfg.grounding!r} needs concepts, and this model was trained on paired picture "
                "features: it decodes with grounding='none' (pass -c grounding=none to silence this warning)",
                stacklevel=2,
            )
        cond = cond.to(next(self.net.parameters()).device)
        special = dict(bos=index[BOS], eos=index[EOS], max_len=cfg.max_len, banned=[index[PAD], index[BOS], index[UNK]])
        if temperature is None and cfg.decode == "beam":
            rows = []
            for i in range(len(cond)):
                require, ban = self.grounding_words(concept_sets[i]) if concept_sets is not None else ([], [])
                options = special | {"banned": special["banned"] + ban}
                rows.append(beam_search(self.net, cond[i : i + 1], beam_size=cfg.beam_size,
                                        length_penalty=cfg.length_penalty, require=require,
                                        no_repeat_ngram=cfg.no_repeat_ngram, **options)[0])  # fmt: skip
        else:
            tokens, _ = sample(
                self.net,
                cond,
                greedy=temperature is None and cfg.decode == "greedy",
                temperature=temperature or cfg.temperature,
                top_k=cfg.top_k,
                top_p=cfg.top_p,
                generator=torch.Generator(device=cond.device).manual_seed(seed),
                **special,
            )
            rows = tokens.tolist()
        return [detokenize(self.vocab.decode(row)) for row in rows]
