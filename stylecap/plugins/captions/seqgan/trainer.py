"""Training ``seqgan``: the MLE generator becomes a policy, rewarded by a discriminator through rollouts.

A run has up to three phases, by step: ``mle_steps`` of teacher forcing (a generator from scratch), then
``d_pretrain_steps`` that train only the discriminator, then adversarial steps: ``g_steps`` policy-gradient
updates with rollout rewards, a teacher-forcing update every ``mle_every`` steps, and ``d_steps``
discriminator updates. G, D and the rollout network are all engine models, so checkpoints and resume cover them.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from stylecap.core.checkpoint import load_checkpoint
from stylecap.core.config import field
from stylecap.core.errors import UsageError
from stylecap.core.pipeline import Pipeline

from ..backend import MLELSTM
from ..decoding import sample
from ..text import tokenize
from ..trainer import MLELSTMTrainConfig, MLELSTMTrainer, SentenceData
from .backend import SeqGAN
from .discriminator import PairDiscriminator, discriminator_loss
from .rewards import BANNED, BOS_ID, EOS_ID, PAD_ID, UNK_ID, coverage, ended, for_judge, lag, rollout_rewards, with_bos


@dataclass
class SeqGANTrainConfig(MLELSTMTrainConfig):
    out: Path = field(Path("runs/seqgan"), help="Run folder.")
    init: Path | None = field(
        None,
        help="Warm start: an mle-lstm run folder, its final/ folder, or a model .safetensors. Vocabulary and sizes "
        "come from it (embed, hidden, layers and min_count are then unused).",
    )
    mle_steps: int = field(0, help="Teacher-forcing steps first: a generator from scratch when there is no init.")
    d_pretrain_steps: int = field(100, help="Steps that train only the discriminator before the generator does.")
    g_steps: int = field(1, help="Policy-gradient updates per adversarial step.")
    d_steps: int = field(1, help="Discriminator updates per step, each against newly generated sentences.")
    rollouts: int = field(8, help="Monte-Carlo completions per prefix that estimate each word's reward.")
    rollout_update_rate: float = field(
        0.8, help="The rollout network lags the generator: rollout = rate * rollout + (1 - rate) * generator."
    )
    mle_every: int = field(5, help="A teacher-forcing update every N adversarial steps, to keep fluency; 0 = never.")
    coverage_weight: float = field(0.0, help="Weight of an extra reward: the share of the condition's concepts named.")
    lr: float = field(5e-4, help="Adam learning rate of the teacher-forcing updates.")
    lr_g: float = field(1e-4, help="Adam learning rate of the policy-gradient updates.")
    lr_d: float = field(1e-4, help="Adam learning rate of the discriminator.")
    d_embed: int = field(64, help="Discriminator word embedding size.")
    d_widths: list[int] = field([2, 3, 4, 5], help="Discriminator filter widths, in words.")
    d_filters: int = field(64, help="Discriminator filters per width.")
    d_dropout: float = field(0.25, help="Dropout before the discriminator's output.")
    batch_size: int = field(32, help="Sentences per step.")

    def validate(self) -> None:
        super().validate()
        if self.init is None and self.mle_steps == 0:
            raise ValueError("init is required (an mle-lstm run, its final/ folder or model file) unless mle_steps > 0")
        if self.init is not None and not Path(self.init).exists():
            raise ValueError(f"init {self.init} does not exist")
        for name in ("g_steps", "d_steps", "rollouts", "d_embed", "d_filters"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, not {getattr(self, name)}")
        for name in ("mle_steps", "d_pretrain_steps", "mle_every", "coverage_weight"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative, not {getattr(self, name)}")
        for name in ("lr", "lr_g", "lr_d"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive, not {getattr(self, name)}")
        if not 0 <= self.rollout_update_rate <= 1:
            raise ValueError(f"rollout_update_rate must be in [0, 1], not {self.rollout_update_rate}")
        if not 0 <= self.d_dropout < 1:
            raise ValueError(f"d_dropout must be in [0, 1), not {self.d_dropout}")
        if not self.d_widths or not 1 <= min(self.d_widths) <= max(self.d_widths) <= self.max_len + 1:
            raise ValueError(f"d_widths must be from 1 to max_len + 1 ({self.max_len + 1}), not {self.d_widths}")


def load_init(path: str | Path) -> MLELSTM:
    """The generator to start from: a run folder, a saved pipeline or a model file of mle-lstm (or seqgan)."""
    path = Path(path)
    folder = next((p for p in (path, path / "final") if (p / "pipeline.json").is_file()), None)
    if folder is not None:
        backend = Pipeline.load(folder).caption
    else:
        state = load_checkpoint(path)[0]
        if "vocab" not in state:
            raise UsageError(f"{path} holds no vocabulary", "give RUN/final/caption.safetensors or a saved model file")
        backend = MLELSTM(MLELSTM.Config(weights="none"))
        backend.load_state_dict(state)
    if not isinstance(backend, MLELSTM) or backend.net is None:
        raise UsageError(f"{path} holds no mle-lstm caption model", "train one: stylecap train caption mle-lstm")
    return backend


def unwrap(model: torch.nn.Module) -> torch.nn.Module:
    return getattr(model, "module", model)


@contextmanager
def without_dropout(net: torch.nn.Module) -> Iterator[None]:
    """Every dropout rate 0 meanwhile: the policy gradient must score the policy that sampled. (Eval
    mode would do it too, but cuDNN runs an LSTM's backward in training mode only.)"""
    modules = [m for m in net.modules() if isinstance(m, (torch.nn.Dropout, torch.nn.RNNBase))]
    rates = [(m, "p" if isinstance(m, torch.nn.Dropout) else "dropout") for m in modules]
    saved = [getattr(m, name) for m, name in rates]
    for m, name in rates:
        setattr(m, name, 0.0)
    try:
        yield
    finally:
        for (m, name), rate in zip(rates, saved):
            setattr(m, name, rate)


def mean(records: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    return {key: torch.stack([r[key] for r in records]).mean() for key in records[0]}


def policy_gradient_loss(logits: torch.Tensor, tokens: torch.Tensor, rewards: torch.Tensor) -> torch.Tensor:
    """REINFORCE with a baseline: minus the mean over the sentences' words of log pi(y_t | y_<t, c) * (Q_t - b_t),
    ``b_t`` being the batch's mean reward at step t (SeqGAN has none; it lowers the variance). ``logits``
    ``[B, T, V]`` come from teacher forcing on ``tokens`` ``[B, T]``; the policy never says the banned words."""
    banned = torch.tensor(BANNED, device=logits.device)
    logp = logits.float().index_fill(-1, banned, float("-inf")).log_softmax(-1).gather(-1, tokens[..., None])[..., 0]
    weight = (~ended(tokens)).float()
    baseline = (rewards * weight).sum(0) / weight.sum(0).clamp(min=1)
    return -(logp * ((rewards - baseline) * weight).detach()).sum() / weight.sum()


class SeqGANTrainer(MLELSTMTrainer):
    """Fine-tunes the MLE conditional LSTM by policy gradient (SeqGAN) against a matching-aware discriminator."""

    name = "seqgan"
    target = "caption"
    Config = SeqGANTrainConfig

    def build(self, engine: Any) -> None:
        super().build(engine)  # corpus, vocabulary, a fresh generator "lm" and its teacher-forcing optimiser
        cfg = self.config
        if cfg.init is not None:
            self.warm_start(load_init(cfg.init))
        names = set(self.concepts)
        # the generator never says <unk>: real sentences with it would teach D that <unk> means real
        usable = [s for s in self.corpus.train
                  if set(s.concepts) <= names and UNK_ID not in self.vocab.encode(tokenize(s.text))]  # fmt: skip
        self.dataset = SentenceData(usable, self.vocab, self.concepts, cfg.max_len, cfg.concept_dropout)
        self.add_adversaries()

    def warm_start(self, backend: MLELSTM) -> None:
        """Take the generator, its vocabulary and concept list from a trained caption model."""
        net, cfg = backend.net.train(), self.config
        net.drop.p = cfg.dropout
        net.lstm.dropout = cfg.dropout if net.layers > 1 else 0.0
        self.vocab, self.concepts = backend.vocab, backend.concepts
        self.models = {"lm": net}
        self.optimizers = {"lm": torch.optim.Adam(net.parameters(), lr=cfg.lr)}

    def add_adversaries(self) -> None:
        """The discriminator, the rollout network and the adversarial optimisers, for the generator "lm"."""
        cfg, generator = self.config, self.models["lm"]
        judge = PairDiscriminator(len(self.vocab), len(self.concepts), cfg.max_len + 1, cfg.d_embed, cfg.d_widths,
                                  cfg.d_filters, cfg.d_dropout)  # fmt: skip
        self.models |= {"d": judge, "rollout": copy.deepcopy(generator).eval().requires_grad_(False)}
        self.optimizers |= {
            "pg": torch.optim.Adam(generator.parameters(), lr=cfg.lr_g),
            "d": torch.optim.Adam(judge.parameters(), lr=cfg.lr_d),
        }

    def train_step(self, batch, engine) -> dict[str, torch.Tensor]:
        tokens, cond = batch
        cfg = self.config
        scalars = {"nll": self.nll(tokens, cond, engine)}
        phase = engine.step - cfg.mle_steps
        if phase < 0:
            self.teacher_force(batch, engine)
            return scalars
        adversarial = phase - cfg.d_pretrain_steps
        if adversarial >= 0:
            if adversarial == 0:  # the rollout network starts from the generator as it is now
                lag(self.models["rollout"], unwrap(self.models["lm"]), 0.0)
            scalars |= mean([self.train_g(cond, engine) for _ in range(cfg.g_steps)])
            if cfg.mle_every and adversarial % cfg.mle_every == 0:
                self.teacher_force(batch, engine)
        return scalars | mean([self.train_d(tokens[:, 1:], cond, engine) for _ in range(cfg.d_steps)])

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

    def generate(self, cond: torch.Tensor) -> torch.Tensor:
        """Sentences sampled from the policy, ``<eos>``-padded ``[B, <= max_len + 1]``."""
        net = unwrap(self.models["lm"]).eval()
        return sample(net, cond, bos=BOS_ID, eos=EOS_ID, max_len=self.config.max_len + 1, banned=BANNED)[0]

    def train_g(self, cond: torch.Tensor, engine: Any) -> dict[str, torch.Tensor]:
        cfg = self.config
        fake = self.generate(cond)
        with engine.autocast():
            rewards = rollout_rewards(self.models["rollout"], unwrap(self.models["d"]).eval(), fake, cond,
                                      rollouts=cfg.rollouts, max_len=cfg.max_len + 1)  # fmt: skip
        named = coverage(fake, cond, self.vocab, self.concepts)
        generator = self.models["lm"].train()
        with engine.autocast(), without_dropout(generator):
            logits = generator(with_bos(fake), cond)
        loss = policy_gradient_loss(logits, fake, rewards + cfg.coverage_weight * named[:, None])
        engine.optimize("pg", loss)
        lag(self.models["rollout"], unwrap(generator), cfg.rollout_update_rate)
        return {"pg_loss": loss.detach(), "reward": rewards[~ended(fake)].mean(), "coverage": named.mean()}

    def train_d(self, real: torch.Tensor, cond: torch.Tensor, engine: Any) -> dict[str, torch.Tensor]:
        fake = for_judge(self.generate(cond), real.shape[1])
        with engine.autocast():
            loss, accuracy = discriminator_loss(self.models["d"].train(), real, fake, cond)
        engine.optimize("d", loss)
        return {"d_loss": loss.detach(), **accuracy}

    def export(self) -> SeqGAN:
        return SeqGAN.from_parts(unwrap(self.models["lm"]), self.vocab, self.concepts)
