"""Training ``gumbel-transformer``: teacher forcing, then a GAN whose generator gradient flows through the
Gumbel-softmax (RelGAN, Nie et al. 2019) instead of policy gradients.

The schedule (teacher forcing, discriminator pretraining, adversarial steps with MLE interleaving) is the one
all caption GANs share (``..adversarial``); here the generator update goes through the relaxation at the
scheduled β. G and D are built by name from the component registry, with three engine optimisers (``lm``
teacher forcing, ``g`` adversarial, ``d``), so checkpoints, resume, precision and DDP work as for every trainer.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch
import torch.nn.functional as F

from stylecap.core.config import field, parse_assignments
from stylecap.core.errors import ConfigError, StylecapError
from stylecap.core.host import create, registry
from stylecap.plugins.captions.adversarial import AdversarialTrainConfig, AdversarialTrainer, load_generator
from stylecap.plugins.captions.tokens import ended, with_bos
from stylecap.plugins.captions.training import unwrap

from .backend import GumbelTransformer
from .discriminator import GAN_LOSSES, GanLoss, discriminator_loss, g_loss
from .generator import gumbel_noise, gumbel_tokens, relax
from .schedules import SCHEDULES, BetaSchedule, beta


def options(value: dict[str, Any] | str) -> dict[str, Any]:
    """Component options from Python (a dict) or the command line (``"width=64,layers=1"``)."""
    return parse_assignments([item for item in value.split(",") if item.strip()]) if isinstance(value, str) else value


@dataclass
class GumbelTrainConfig(AdversarialTrainConfig):
    out: Path = field(Path("runs/gumbel"), help="Run folder.")
    init: Path | None = field(
        None,
        help="Warm start: a gumbel-transformer run folder, its final/ folder, or a model .safetensors (e.g. an "
        "MLE-only run of this trainer). Vocabulary and generator come from it.",
    )
    generator: str = field("caption-transformer", help="Registered generator (stylecap list generator).")
    generator_options: dict[str, Any] = field({}, help="Its options, e.g. width=64,layers=1 (sizes, dropout).")
    discriminator: str = field(
        "caption-soft-transformer", help="Registered discriminator (stylecap list discriminator): or caption-soft-cnn."
    )
    discriminator_options: dict[str, Any] = field({}, help="Its options, e.g. embed=32,layers=1 (sizes, dropout).")
    mle_every: int = field(2, help="A teacher-forcing update every N adversarial steps, to keep fluency; 0 = never.")
    gan_loss: GanLoss = field("rsgan", help="standard (non-saturating), rsgan (relativistic, RelGAN's), hinge, lsgan.")
    relaxation: Literal["hard", "soft"] = field(
        "hard",
        help="What D sees of generated words: hard (one-hot forward, Gumbel-softmax gradient: straight-through) "
        "or soft (the Gumbel-softmax distributions themselves).",
    )
    feature_matching: float = field(
        0.0,
        help="Weight of feature matching (Salimans et al. 2016) in G's loss: the mean squared difference of the "
        "discriminator's mean features on real and generated sentences (needs a discriminator with features()).",
    )
    beta_max: float = field(100.0, help="Largest inverse temperature of the Gumbel-softmax.")
    beta_schedule: BetaSchedule = field(
        "exponential", help="How β rises from 1 to beta_max over the adversarial steps: " + ", ".join(SCHEDULES)
    )
    lr: float = field(1e-3, help="Adam learning rate of teacher forcing.")
    lr_g: float = field(3e-5, help="Adam learning rate of the adversarial generator updates (1e-4 collapsed).")
    lr_d: float = field(3e-4, help="Adam learning rate of the discriminator.")

    def __post_init__(self) -> None:
        self.generator_options = options(self.generator_options)
        self.discriminator_options = options(self.discriminator_options)

    def validate(self) -> None:
        super().validate()
        if self.feature_matching < 0:
            raise ValueError(f"feature_matching must not be negative, not {self.feature_matching}")
        if self.beta_max < 1:
            raise ValueError(f"beta_max must be at least 1 (β rises from 1), not {self.beta_max}")
        if self.gan_loss not in GAN_LOSSES:
            raise ValueError(f"gan_loss must be one of {', '.join(GAN_LOSSES)}, not {self.gan_loss!r}")
        for kind in ("generator", "discriminator"):
            name, values = getattr(self, kind), getattr(self, f"{kind}_options")
            try:
                registry(kind).get(name).build_config(values)
            except StylecapError as e:
                raise ValueError(f"{kind} {name!r} or {kind}_options: {e}") from None


def load_init(path: str | Path) -> GumbelTransformer:
    """The generator to start from: a run folder, a saved pipeline or a model file of gumbel-transformer."""
    return load_generator(path, GumbelTransformer)


class GumbelTrainer(AdversarialTrainer):
    """Trains a transformer caption generator by MLE, then as a GAN through the Gumbel-softmax relaxation."""

    name = "gumbel-transformer"
    Config = GumbelTrainConfig
    backend = GumbelTransformer

    def build(self, engine: Any) -> None:
        cfg = self.config
        self.load_sentences()
        if cfg.init is not None:
            start = load_init(cfg.init)
            self.vocab, self.concepts, self.tones, net = start.vocab, start.concepts, start.tones, start.net.train()
        else:
            cond_dim = len(self.concepts) + len(self.tones)
            sizes = dict(vocab_size=len(self.vocab), cond_dim=cond_dim, positions=cfg.max_len + 1)
            net = create("generator", cfg.generator, **(cfg.generator_options | sizes))
        self.dataset = self.adversarial_data()
        self.add_models(net)

    def add_models(self, net: torch.nn.Module) -> None:
        """The generator ``net`` (for ``self.vocab`` and ``self.concepts``), a new discriminator, the optimisers."""
        cfg = self.config
        cond_dim = len(self.concepts) + len(self.tones)
        judge_sizes = dict(vocab_size=len(self.vocab), cond_dim=cond_dim, length=cfg.max_len + 1)
        judge = create("discriminator", cfg.discriminator, **(cfg.discriminator_options | judge_sizes))
        if cfg.feature_matching and not callable(getattr(judge, "features", None)):
            raise ConfigError(
                f"trainer {self.name!r}: feature_matching needs a discriminator with features(); "
                f"{cfg.discriminator!r} has none",
                "set feature_matching=0 or use caption-soft-transformer or caption-soft-cnn",
            )
        self.models = {"lm": net, "d": judge}
        self.optimizers = {
            "lm": torch.optim.Adam(net.parameters(), lr=cfg.lr),
            "g": torch.optim.Adam(net.parameters(), lr=cfg.lr_g, betas=(0.9, 0.999)),
            "d": torch.optim.Adam(judge.parameters(), lr=cfg.lr_d),
        }

    def beta(self, adversarial: int) -> float:
        """β at an adversarial step (0-based); 1 before adversarial training starts."""
        cfg = self.config
        total = cfg.steps - cfg.mle_steps - cfg.d_pretrain_steps - 1
        return beta(cfg.beta_schedule, adversarial, total, cfg.beta_max) if adversarial >= 0 else 1.0

    def generate(self, cond: torch.Tensor, length: int, b: float, engine: Any) -> tuple[torch.Tensor, torch.Tensor]:
        """Sentences drawn by Gumbel-max and their relaxed view ``[B, length, V]`` at inverse temperature ``b``,
        differentiable with respect to the generator when gradients are on; also the tokens."""
        generator = self.models["lm"].eval()  # no dropout: the relaxed pass must see the sampled sentences' logits
        noise = gumbel_noise((cond.shape[0], length, len(self.vocab)), cond.device)
        tokens = gumbel_tokens(unwrap(generator), cond, noise)
        with engine.autocast():
            logits = generator(with_bos(tokens), cond)
        return relax(logits, noise, tokens, b, self.config.relaxation == "hard"), tokens

    def train_g(self, real: torch.Tensor, cond: torch.Tensor, adversarial: int, engine: Any) -> dict[str, torch.Tensor]:
        cfg, b = self.config, self.beta(adversarial)
        real = F.one_hot(real, len(self.vocab)).float()
        fake, _ = self.generate(cond, real.shape[1], b, engine)
        judge = self.models["d"].eval()
        unwrap(judge).requires_grad_(False)  # D is fixed during G's step
        try:
            with engine.autocast():
                on_fake = judge(fake, cond).float()
                with torch.no_grad():
                    on_real = judge(real, cond).float()
            loss = g_loss(cfg.gan_loss, on_real, on_fake)
            scalars = {"g_loss": loss.detach(), "d_on_fake": on_fake.detach().mean(), "beta": torch.tensor(b)}
            if cfg.feature_matching:
                with engine.autocast():
                    with torch.no_grad():
                        target = unwrap(judge).features(real).float().mean(0)
                    matched = (unwrap(judge).features(fake).float().mean(0) - target).pow(2).mean()
                loss = loss + cfg.feature_matching * matched
                scalars["feature_matching"] = matched.detach()
            engine.optimize("g", loss)
        finally:
            unwrap(judge).requires_grad_(True)
        return scalars

    def train_d(self, real: torch.Tensor, cond: torch.Tensor, adversarial: int, engine: Any) -> dict[str, torch.Tensor]:
        real = F.one_hot(real, len(self.vocab)).float()
        with torch.no_grad():
            fake, tokens = self.generate(cond, real.shape[1], self.beta(adversarial), engine)
        with engine.autocast():
            loss, accuracy = discriminator_loss(self.config.gan_loss, self.models["d"].train(), real, fake, cond)
        engine.optimize("d", loss)
        length = (~ended(tokens)).sum(1).float().mean()  # words and the <eos>
        return {"d_loss": loss.detach(), "fake_length": length, **accuracy}
