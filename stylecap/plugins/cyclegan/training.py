"""The ``cyclegan`` trainer: two generators and two discriminators on unpaired pictures (Zhu et al. 2017).

One step, as the reference does it: the generators are updated against frozen discriminators
(adversarial + cycle + identity losses), then the discriminators on real pictures and on fakes
drawn from a pool of past fakes. The engine does the rest (devices, AMP, schedules, checkpoints).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn
from torchvision.utils import make_grid

from stylecap.core.component import Trainer
from stylecap.core.config import field
from stylecap.core.errors import ConfigError
from stylecap.core.host import create
from stylecap.core.imageio import find_images, to_pil
from stylecap.core.training.config import Schedule, TrainConfig
from stylecap.core.training.data import seeded
from stylecap.core.training.images import UnpairedImages

from .backend import CycleGAN, CycleGANConfig, check_component, options

GanLoss = Literal["lsgan", "vanilla", "hinge"]


def push(kind: GanLoss, logits: torch.Tensor, real: bool) -> torch.Tensor:
    """The loss that moves a discriminator's ``logits`` towards "real" or "fake"."""
    logits = logits.float()
    if kind == "lsgan":
        return (logits - float(real)).pow(2).mean()
    if kind == "vanilla":  # binary cross-entropy on logits
        return F.softplus(-logits if real else logits).mean()
    return F.relu(1 - logits if real else 1 + logits).mean()  # hinge


def discriminator_loss(kind: GanLoss, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """Halved, as in the reference, so D learns at half G's pace."""
    return 0.5 * (push(kind, real, True) + push(kind, fake, False))


def generator_loss(kind: GanLoss, fake: torch.Tensor) -> torch.Tensor:
    return -fake.float().mean() if kind == "hinge" else push(kind, fake, True)


class ImagePool(nn.Module):
    """Past fakes shown to the discriminator, so it does not chase the generator's latest move.

    Until ``size`` images are stored each new one is stored and returned. After that, each new
    image is, with probability 1/2, swapped for a random stored one (which is returned), and
    otherwise returned as it is (Shrivastava et al. 2017; the reference's rule). The images are
    buffers, so checkpoints keep them and a resumed run draws the same fakes.
    """

    def __init__(self, size: int, shape: tuple[int, ...]):
        super().__init__()
        self.size = size
        self.register_buffer("images", torch.zeros(size, *shape))
        self.register_buffer("count", torch.zeros((), dtype=torch.long))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        images = images.detach()  # the discriminator's loss must not reach the generator
        if self.size == 0:
            return images
        out = []
        for image in images:
            if self.count < self.size:
                self.images[self.count] = image
                self.count += 1
                out.append(image)
            elif torch.rand(()) < 0.5:
                i = int(torch.randint(self.size, ()))
                out.append(self.images[i].clone())
                self.images[i] = image
            else:
                out.append(image)
        return torch.stack(out)


class Generators(nn.Module):
    """Both directions; one call makes every picture the losses need, so DDP sees one forward per step."""

    def __init__(self, a2b: nn.Module, b2a: nn.Module):
        super().__init__()
        self.a2b, self.b2a = a2b, b2a

    def forward(self, real_a: torch.Tensor, real_b: torch.Tensor, identity: bool = True) -> dict[str, torch.Tensor]:
        fake_b, fake_a = self.a2b(real_a), self.b2a(real_b)
        out = {"fake_a": fake_a, "fake_b": fake_b, "rec_a": self.b2a(fake_b), "rec_b": self.a2b(fake_a)}
        if identity:  # a generator fed its own target domain should leave the picture alone
            out |= {"idt_a": self.b2a(real_a), "idt_b": self.a2b(real_b)}
        return out


class Discriminators(nn.Module):
    """``a`` judges domain A pictures, ``b`` domain B pictures."""

    def __init__(self, a: nn.Module, b: nn.Module):
        super().__init__()
        self.a, self.b = a, b

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.a(a), self.b(b)


@dataclass
class CycleGANTrainConfig(TrainConfig):
    domain_a: Path | None = field(None, help="folder of domain A pictures (e.g. photos)")
    domain_b: Path | None = field(None, help="folder of domain B pictures (e.g. paintings); unpaired with A")
    load_size: int = field(286, help="pictures are resized so their shorter side is this, then cropped")
    crop_size: int = field(256, help="side of the random square crops trained on")
    flip: bool = field(True, help="flip crops left-right at random")
    generator: str = field("resnet-9", help="registered generator (stylecap list generator)")
    generator_options: dict[str, Any] = field({}, help="its options, e.g. filters=32,norm=instance-affine")
    discriminator: str = field("patchgan", help="registered discriminator (stylecap list discriminator)")
    discriminator_options: dict[str, Any] = field({}, help="its options, e.g. layers=3")
    gan_loss: GanLoss = field("lsgan", help="adversarial loss: lsgan (least squares, CycleGAN's), vanilla, hinge")
    lambda_a: float = field(10.0, help="weight of the cycle loss A -> B -> A")
    lambda_b: float = field(10.0, help="weight of the cycle loss B -> A -> B")
    lambda_identity: float = field(0.5, help="identity loss weight, relative to the cycle weights; 0 skips it")
    pool_size: int = field(50, help="past fakes kept per domain for the discriminators; 0 shows only new ones")
    lr: float = field(2e-4, help="Adam learning rate of generators and discriminators")
    beta1: float = field(0.5, help="Adam beta1")
    batch_size: int = field(1, help="global batch size (CycleGAN uses 1)")
    lr_schedule: Schedule = field(
        "constant-then-linear", help="learning-rate factor over the run: CycleGAN's is constant, then linear to 0"
    )

    def __post_init__(self) -> None:
        self.generator_options = options(self.generator_options)
        self.discriminator_options = options(self.discriminator_options)

    def validate(self) -> None:
        super().validate()
        for name in ("domain_a", "domain_b"):
            if getattr(self, name) is None:
                raise ValueError(f"{name} is required: a folder of pictures")
        if not 16 <= self.crop_size <= self.load_size:
            raise ValueError(f"crop_size must be from 16 to load_size ({self.load_size}), not {self.crop_size}")
        for name in ("lambda_a", "lambda_b", "lambda_identity", "pool_size"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative, not {getattr(self, name)}")
        if self.lr <= 0 or not 0 <= self.beta1 < 1:
            raise ValueError(f"lr must be positive and beta1 in [0, 1), not {self.lr} and {self.beta1}")
        check_component("generator", self.generator, self.generator_options, "generator")
        check_component("discriminator", self.discriminator, self.discriminator_options, "discriminator")


class CycleGANTrainer(Trainer):
    """Trains a CycleGAN on two folders of unpaired pictures; exports the cyclegan style backend."""

    name = "cyclegan"
    target = "style"
    Config = CycleGANTrainConfig

    def build(self, engine: Any) -> None:
        c = self.config
        a2b, b2a = (create("generator", c.generator, **c.generator_options) for _ in range(2))
        multiple = getattr(a2b, "multiple", 1)
        if c.crop_size % multiple:
            raise ConfigError(
                f"trainer 'cyclegan': crop_size {c.crop_size} does not divide by {multiple}, as {c.generator} needs",
                f"use a crop_size that is a multiple of {multiple}",
            )
        d_a, d_b = (create("discriminator", c.discriminator, **c.discriminator_options) for _ in range(2))
        shape = (3, c.crop_size, c.crop_size)
        self.models = {
            "g": Generators(a2b, b2a),
            "d": Discriminators(d_a, d_b),
            "pool": nn.ModuleDict({"a": ImagePool(c.pool_size, shape), "b": ImagePool(c.pool_size, shape)}),
        }
        self.optimizers = {
            name: torch.optim.Adam(self.models[name].parameters(), lr=c.lr, betas=(c.beta1, 0.999)) for name in "gd"
        }
        a, b = find_images([c.domain_a]), find_images([c.domain_b])
        self.dataset = UnpairedImages(a, b, c.load_size, c.crop_size, c.flip)

    def train_step(self, batch: Any, engine: Any) -> dict[str, torch.Tensor]:
        c, gan = self.config, self.config.gan_loss
        real_a, real_b = (x * 2 - 1 for x in batch)  # the generators work in [-1, 1]
        d = self.models["d"]
        critics = getattr(d, "module", d)  # frozen for G's step; through DDP's wrapper it would wait for gradients
        critics.requires_grad_(False)
        with engine.autocast():
            out = self.models["g"](real_a, real_b, identity=c.lambda_identity > 0)
            adversarial = generator_loss(gan, critics.a(out["fake_a"])) + generator_loss(gan, critics.b(out["fake_b"]))
            cycle_a = F.l1_loss(out["rec_a"].float(), real_a)
            cycle_b = F.l1_loss(out["rec_b"].float(), real_b)
            g_loss = adversarial + c.lambda_a * cycle_a + c.lambda_b * cycle_b
            scalars = {"adversarial": adversarial, "cycle": cycle_a + cycle_b}
            if c.lambda_identity > 0:
                idt_a = F.l1_loss(out["idt_a"].float(), real_a)
                idt_b = F.l1_loss(out["idt_b"].float(), real_b)
                g_loss = g_loss + c.lambda_identity * (c.lambda_a * idt_a + c.lambda_b * idt_b)
                scalars["identity"] = idt_a + idt_b
        engine.optimize("g", g_loss)
        critics.requires_grad_(True)

        pool = self.models["pool"]
        fake_a, fake_b = pool["a"](out["fake_a"].float()), pool["b"](out["fake_b"].float())
        with engine.autocast():
            pred_a, pred_b = d(torch.cat([real_a, fake_a]), torch.cat([real_b, fake_b]))
            d_loss = discriminator_loss(gan, *pred_a.chunk(2)) + discriminator_loss(gan, *pred_b.chunk(2))
        engine.optimize("d", d_loss)
        return {"g_loss": g_loss, "d_loss": d_loss, **scalars}

    def sample(self, engine: Any) -> Image.Image:
        """Rows A -> B -> A and B -> A -> B on the first pair of pictures."""
        with seeded(0):
            a, b = self.dataset[0]
        real_a, real_b = engine.to_device([a[None] * 2 - 1, b[None] * 2 - 1])
        g = self.models["g"]
        out = getattr(g, "module", g)(real_a, real_b, identity=False)
        grid = torch.cat([real_a, out["fake_b"], out["rec_a"], real_b, out["fake_a"], out["rec_b"]])
        return to_pil(make_grid(grid.float().add(1).div(2), nrow=3, padding=2, pad_value=1))

    def export(self) -> CycleGAN:
        c = self.config
        backend = CycleGAN(CycleGANConfig(weights=None, generator=c.generator, generator_options=c.generator_options))
        backend.load_state_dict(self.models["g"].state_dict())
        return backend
