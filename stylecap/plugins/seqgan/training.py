"""Training ``seqgan``: the MLE generator becomes a policy, rewarded by a discriminator through rollouts.

The schedule (teacher forcing, discriminator pretraining, adversarial steps with MLE interleaving) is the one
all caption GANs share (``stylecap.plugins.captions.adversarial``); here the generator update is a policy
gradient with rollout rewards, and the rollout network, a lagging copy of the generator, is an engine model
beside G and D, so checkpoints and resume cover it.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from stylecap.core.config import field
from stylecap.plugins.captions.adversarial import AdversarialTrainConfig, AdversarialTrainer, load_generator
from stylecap.plugins.captions.backend import MLELSTM
from stylecap.plugins.captions.decoding import sample
from stylecap.plugins.captions.tokens import BANNED, BOS_ID, EOS_ID, ended, with_bos
from stylecap.plugins.captions.training import LSTMOptions, new_lstm, unwrap

from .backend import SeqGAN
from .discriminator import PairDiscriminator, discriminator_loss
from .rewards import coverage, for_judge, lag, rollout_rewards


@dataclass
class SeqGANTrainConfig(AdversarialTrainConfig, LSTMOptions):
    out: Path = field(Path("runs/seqgan"), help="Run folder.")
    init: Path | None = field(
        None,
        help="Warm start: an mle-lstm run folder, its final/ folder, or a model .safetensors. Vocabulary and sizes "
        "come from it (embed, hidden, layers and min_count are then unused).",
    )
    g_steps: int = field(1, help="Policy-gradient updates per adversarial step.")
    rollouts: int = field(8, help="Monte-Carlo completions per prefix that estimate each word's reward.")
    rollout_update_rate: float = field(
        0.8, help="The rollout network lags the generator: rollout = rate * rollout + (1 - rate) * generator."
    )
    coverage_weight: float = field(0.0, help="Weight of an extra reward: the share of the condition's concepts named.")
    lr: float = field(5e-4, help="Adam learning rate of the teacher-forcing updates.")
    lr_g: float = field(1e-4, help="Adam learning rate of the policy-gradient updates.")
    d_embed: int = field(64, help="Discriminator word embedding size.")
    d_widths: list[int] = field([2, 3, 4, 5], help="Discriminator filter widths, in words.")
    d_filters: int = field(64, help="Discriminator filters per width.")
    d_dropout: float = field(0.25, help="Dropout before the discriminator's output.")

    def validate(self) -> None:
        super().validate()
        for name in ("rollouts", "d_embed", "d_filters"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, not {getattr(self, name)}")
        if self.coverage_weight < 0:
            raise ValueError(f"coverage_weight must not be negative, not {self.coverage_weight}")
        if not 0 <= self.rollout_update_rate <= 1:
            raise ValueError(f"rollout_update_rate must be in [0, 1], not {self.rollout_update_rate}")
        if not 0 <= self.d_dropout < 1:
            raise ValueError(f"d_dropout must be in [0, 1), not {self.d_dropout}")
        if not self.d_widths or not 1 <= min(self.d_widths) <= max(self.d_widths) <= self.max_len + 1:
            raise ValueError(f"d_widths must be from 1 to max_len + 1 ({self.max_len + 1}), not {self.d_widths}")


def load_init(path: str | Path) -> MLELSTM:
    """The generator to start from: a run folder, a saved pipeline or a model file of mle-lstm (or seqgan)."""
    return load_generator(path, MLELSTM)


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


def policy_gradient_loss(logits: torch.Tensor, tokens: torch.Tensor, rewards: torch.Tensor) -> torch.Tensor:
    """REINFORCE with a baseline: minus the mean over the sentences' words of log pi(y_t | y_<t, c) * (Q_t - b_t),
    ``b_t`` being the batch's mean reward at step t (SeqGAN has none; it lowers the variance). ``logits``
    ``[B, T, V]`` come from teacher forcing on ``tokens`` ``[B, T]``; the policy never says the banned words."""
    banned = torch.tensor(BANNED, device=logits.device)
    logp = logits.float().index_fill(-1, banned, float("-inf")).log_softmax(-1).gather(-1, tokens[..., None])[..., 0]
    weight = (~ended(tokens)).float()
    baseline = (rewards * weight).sum(0) / weight.sum(0).clamp(min=1)
    return -(logp * ((rewards - baseline) * weight).detach()).sum() / weight.sum()


class SeqGANTrainer(AdversarialTrainer):
    """Fine-tunes the MLE conditional LSTM by policy gradient (SeqGAN) against a matching-aware discriminator."""

    name = "seqgan"
    Config = SeqGANTrainConfig
    backend = SeqGAN

    def build(self, engine: Any) -> None:
        cfg = self.config
        self.load_sentences()
        if cfg.init is not None:
            self.warm_start(load_init(cfg.init))
        else:
            net = new_lstm(cfg, len(self.vocab), len(self.concepts) + len(self.tones))
            self.models = {"lm": net}
            self.optimizers = {"lm": torch.optim.Adam(net.parameters(), lr=cfg.lr)}
        self.dataset = self.adversarial_data()
        self.add_adversaries()

    def warm_start(self, backend: MLELSTM) -> None:
        """Take the generator, its vocabulary and concept list from a trained caption model."""
        net, cfg = backend.net.train(), self.config
        net.drop.p = cfg.dropout
        net.lstm.dropout = cfg.dropout if net.layers > 1 else 0.0
        self.vocab, self.concepts, self.tones = backend.vocab, backend.concepts, backend.tones
        self.models = {"lm": net}
        self.optimizers = {"lm": torch.optim.Adam(net.parameters(), lr=cfg.lr)}

    def add_adversaries(self) -> None:
        """The discriminator, the rollout network and the adversarial optimisers, for the generator "lm"."""
        cfg, generator = self.config, self.models["lm"]
        cond_dim = len(self.concepts) + len(self.tones)
        judge = PairDiscriminator(len(self.vocab), cond_dim, cfg.max_len + 1, cfg.d_embed, cfg.d_widths,
                                  cfg.d_filters, cfg.d_dropout)  # fmt: skip
        self.models |= {"d": judge, "rollout": copy.deepcopy(generator).eval().requires_grad_(False)}
        self.optimizers |= {
            "pg": torch.optim.Adam(generator.parameters(), lr=cfg.lr_g),
            "d": torch.optim.Adam(judge.parameters(), lr=cfg.lr_d),
        }

    def start_adversarial(self) -> None:
        lag(self.models["rollout"], unwrap(self.models["lm"]), 0.0)  # the rollout network starts from G as it is

    def generate(self, cond: torch.Tensor) -> torch.Tensor:
        """Sentences sampled from the policy, ``<eos>``-padded ``[B, <= max_len + 1]``."""
        net = unwrap(self.models["lm"]).eval()
        return sample(net, cond, bos=BOS_ID, eos=EOS_ID, max_len=self.config.max_len + 1, banned=BANNED)[0]

    def train_g(self, real: torch.Tensor, cond: torch.Tensor, adversarial: int, engine: Any) -> dict[str, torch.Tensor]:
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

    def train_d(self, real: torch.Tensor, cond: torch.Tensor, adversarial: int, engine: Any) -> dict[str, torch.Tensor]:
        fake = for_judge(self.generate(cond), real.shape[1])
        with engine.autocast():
            loss, accuracy = discriminator_loss(self.models["d"].train(), real, fake, cond)
        engine.optimize("d", loss)
        return {"d_loss": loss.detach(), **accuracy}
