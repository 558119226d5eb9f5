"""What the two caption GANs (``seqgan``, ``gumbel-transformer``) share: the run schedule, its options and
the warm start from a trained generator. Each GAN says only how its generator and discriminator learn.

A run has up to three phases, by step: ``mle_steps`` of teacher forcing (a generator from scratch), then
``d_pretrain_steps`` that train only the discriminator, then adversarial steps: ``g_steps`` generator updates,
a teacher-forcing update every ``mle_every`` steps, and ``d_steps`` discriminator updates.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from stylecap.core.checkpoint import load_checkpoint
from stylecap.core.config import field
from stylecap.core.errors import UsageError
from stylecap.core.pipeline import Pipeline

from .captioner import Captioner
from .text import tokenize
from .tokens import PAD_ID, UNK_ID
from .training import CaptionTrainConfig, CaptionTrainer, SentenceData


@dataclass
class AdversarialTrainConfig(CaptionTrainConfig):
    init: Path | None = field(None, help="Warm start: a caption run folder, its final/ folder, or a model file.")
    mle_steps: int = field(0, help="Teacher-forcing steps first: a generator from scratch when there is no init.")
    d_pretrain_steps: int = field(100, help="Steps that train only the discriminator before the generator does.")
    g_steps: int = field(1, help="Generator updates per adversarial step.")
    d_steps: int = field(1, help="Discriminator updates per step, each against newly generated sentences.")
    mle_every: int = field(5, help="A teacher-forcing update every N adversarial steps, to keep fluency; 0 = never.")
    lr_g: float = field(1e-4, help="Adam learning rate of the adversarial generator updates.")
    lr_d: float = field(1e-4, help="Adam learning rate of the discriminator.")
    batch_size: int = field(32, help="Sentences per step.")

    def validate(self) -> None:
        super().validate()
        if self.init is None and self.mle_steps == 0:
            raise ValueError("init is required (a trained caption run, its final/ folder or model file) "
                             "unless mle_steps > 0")  # fmt: skip
        if self.init is not None and not Path(self.init).exists():
            raise ValueError(f"init {self.init} does not exist")
        for name in ("g_steps", "d_steps"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, not {getattr(self, name)}")
        for name in ("mle_steps", "d_pretrain_steps", "mle_every"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative, not {getattr(self, name)}")
        for name in ("lr", "lr_g", "lr_d"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive, not {getattr(self, name)}")


def load_generator(path: str | Path, kind: type[Captioner]) -> Captioner:
    """A trained caption model of backend class ``kind`` (with a ``kind.network``), from a run folder, a saved
    pipeline or a model file: the generator a GAN starts from."""
    path = Path(path)
    folder = next((p for p in (path, path / "final") if (p / "pipeline.json").is_file()), None)
    hint = f"give a run folder or model file of {kind.name} (stylecap train caption {kind.name})"
    state = None
    if folder is not None:
        backend = Pipeline.load(folder).caption
        if not isinstance(backend, kind) and isinstance(getattr(backend, "net", None), kind.network):
            state = backend.state_dict()  # a sibling of the same network: a seqgan run goes on as an mle-lstm one
    else:
        state = load_checkpoint(path)[0]
    if state is not None:
        backend = kind(kind.Config(weights="none"))
        try:
            backend.load_state_dict(state)
        except (KeyError, RuntimeError, ValueError) as e:
            raise UsageError(f"{path} holds no {kind.name} caption model ({e})", hint) from None
    if not isinstance(backend, kind) or not isinstance(backend.net, kind.network):
        raise UsageError(f"{path} holds no {kind.name} caption model", hint)
    return backend


def mean(records: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    return {key: torch.stack([r[key] for r in records]).mean() for key in records[0]}


class AdversarialTrainer(CaptionTrainer):
    """The schedule of a caption GAN over the engine's steps. Subclasses build the generator ``lm`` (with its
    teacher-forcing optimiser ``lm``) and their adversaries in ``build``, and define ``train_g`` and ``train_d``."""

    Config = AdversarialTrainConfig

    def adversarial_data(self) -> SentenceData:
        """Training sentences the generator could say: those whose concepts it knows and without ``<unk>``
        (the generator never says it, so real sentences with it would teach D that ``<unk>`` means real)."""
        cfg, names = self.config, set(self.concepts)
        usable = [s for s in self.corpus.train
                  if set(s.concepts) <= names and UNK_ID not in self.vocab.encode(tokenize(s.text))]  # fmt: skip
        return SentenceData(usable, self.vocab, self.concepts, cfg.max_len, cfg.concept_dropout, self.tones)

    def train_step(self, batch, engine) -> dict[str, torch.Tensor]:
        tokens, cond = batch
        cfg = self.config
        scalars = {"nll": self.nll(tokens, cond, engine)}
        phase = engine.step - cfg.mle_steps
        if phase < 0:
            self.teacher_force(batch, engine)
            return scalars
        adversarial = phase - cfg.d_pretrain_steps
        real = tokens[:, 1:]
        if adversarial >= 0:
            if adversarial == 0:
                self.start_adversarial()
            scalars |= mean([self.train_g(real, cond, adversarial, engine) for _ in range(cfg.g_steps)])
            if cfg.mle_every and adversarial % cfg.mle_every == 0:
                self.teacher_force(batch, engine)
        return scalars | mean([self.train_d(real, cond, adversarial, engine) for _ in range(cfg.d_steps)])

    def start_adversarial(self) -> None:
        """Called once, before the first generator update (seqgan: the rollout network starts from it)."""

    def train_g(self, real: torch.Tensor, cond: torch.Tensor, adversarial: int, engine: Any) -> dict[str, torch.Tensor]:
        """One generator update at adversarial step ``adversarial`` (from 0); ``real``: the batch's sentences."""
        raise NotImplementedError

    def train_d(self, real: torch.Tensor, cond: torch.Tensor, adversarial: int, engine: Any) -> dict[str, torch.Tensor]:
        """One discriminator update (``adversarial`` is negative while D is pretrained)."""
        raise NotImplementedError

    @torch.no_grad()
    def nll(self, tokens: torch.Tensor, cond: torch.Tensor, engine: Any) -> torch.Tensor:
        """Teacher-forced NLL per word of the real batch, without dropout and before this step's updates:
        the fluency the adversarial updates must not lose."""
        with engine.autocast():
            logits = self.models["lm"].eval()(tokens[:, :-1], cond)
        return F.cross_entropy(logits.float().flatten(0, 1), tokens[:, 1:].flatten(), ignore_index=PAD_ID)

    def teacher_force(self, batch, engine: Any) -> None:
        self.models["lm"].train()
        super().train_step(batch, engine)


def mismatched(cond: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Each row's condition replaced by the next row's (cyclically) that differs from it, and whether one did:
    a real sentence with another item's concepts. ``valid`` is False where the whole batch shares the row's."""
    size = cond.shape[0]
    same = (cond[:, None] == cond[None]).all(-1)
    rows = torch.arange(size, device=cond.device)
    candidates = (rows[:, None] + rows + 1) % size  # row b's: b + 1, b + 2, ..., b
    differs = ~same.gather(1, candidates)
    first = differs.long().argmax(1, keepdim=True)  # the first differing candidate (the row itself if none)
    return cond[candidates.gather(1, first)[:, 0]], differs.any(1)
