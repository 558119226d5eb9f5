"""CycleGAN's networks: ResNet and U-Net generators and the PatchGAN discriminator.

Module and key names follow the reference implementation (junyanz/pytorch-CycleGAN-and-pix2pix:
``model.N.*``, ``model.N.conv_block.M.*``), so its checkpoints load without a key map.
Generators map ``[N, 3, H, W]`` in ``[-1, 1]`` to the same shape and range; ``multiple`` is
the factor H and W must divide by (inference pads to it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

import torch
from torch import nn

from stylecap.core.component import Component
from stylecap.core.config import field

Norm = Literal["instance", "instance-affine", "none"]


def norm_layer(kind: Norm, channels: int) -> nn.Module:
    """Instance norm without running statistics, as CycleGAN uses: train and eval behave alike."""
    if kind == "none":
        return nn.Identity()
    return nn.InstanceNorm2d(channels, affine=kind == "instance-affine")


def init_weights(module: nn.Module) -> None:
    """Normal(0, 0.02) convolution weights and zero biases, the reference's initialisation."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)


@dataclass
class GeneratorConfig:
    filters: int = field(64, help="channels of the first layer (ngf); deeper layers use multiples of it")
    norm: Norm = field("instance", help="instance (CycleGAN), instance-affine (with a learnt scale and shift), none")
    dropout: bool = field(False, help="dropout 0.5 inside the residual / inner U-Net blocks (pix2pix uses it)")

    def validate(self) -> None:
        if self.filters < 1:
            raise ValueError(f"filters must be at least 1, not {self.filters}")


class ResnetBlock(nn.Module):
    """Two reflection-padded 3x3 convolutions added to their input."""

    def __init__(self, channels: int, norm: Norm, dropout: bool):
        super().__init__()
        first = [nn.ReflectionPad2d(1), nn.Conv2d(channels, channels, 3), norm_layer(norm, channels), nn.ReLU(True)]
        second = [nn.ReflectionPad2d(1), nn.Conv2d(channels, channels, 3), norm_layer(norm, channels)]
        self.conv_block = nn.Sequential(*first, *([nn.Dropout(0.5)] if dropout else []), *second)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv_block(x)


class ResnetGenerator(Component, nn.Module):
    """ResNet generator with 9 residual blocks at 1/4 resolution: CycleGAN's choice for 256 px and up.

    Two stride-2 convolutions down, the blocks, two transposed convolutions up; fully
    convolutional, so it runs at any size that divides by 4.
    """

    name = "resnet-9"
    Config = GeneratorConfig
    blocks: ClassVar[int] = 9
    multiple: ClassVar[int] = 4

    def __init__(self, config: GeneratorConfig | None = None):
        super().__init__(config)
        f, norm = self.config.filters, self.config.norm
        layers = [nn.ReflectionPad2d(3), nn.Conv2d(3, f, 7), norm_layer(norm, f), nn.ReLU(True)]
        for m in (1, 2):
            layers += [nn.Conv2d(f * m, f * m * 2, 3, stride=2, padding=1), norm_layer(norm, f * m * 2), nn.ReLU(True)]
        layers += [ResnetBlock(f * 4, norm, self.config.dropout) for _ in range(self.blocks)]
        for m in (4, 2):
            up = nn.ConvTranspose2d(f * m, f * m // 2, 3, stride=2, padding=1, output_padding=1)
            layers += [up, norm_layer(norm, f * m // 2), nn.ReLU(True)]
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(f, 3, 7), nn.Tanh()]
        self.model = nn.Sequential(*layers)
        init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


class Resnet6Generator(ResnetGenerator):
    """ResNet generator with 6 residual blocks: CycleGAN's choice for 128 px training crops."""

    name = "resnet-6"
    blocks = 6


class UnetBlock(nn.Module):
    """One U-Net level: down, the inner levels, up, with the level's input concatenated to its output.

    The LeakyReLU that opens an inner level works in place, as in the reference, so the skip
    connection carries the activated input; reference checkpoints expect that.
    """

    def __init__(
        self, outer: int, inner: int, norm: Norm, sub: UnetBlock | None = None, *, outermost=False, dropout=False
    ):
        super().__init__()
        self.outermost = outermost
        down = nn.Conv2d(3 if outermost else outer, inner, 4, stride=2, padding=1)
        up = nn.ConvTranspose2d(inner if sub is None else inner * 2, outer, 4, stride=2, padding=1)
        if outermost:
            layers = [down, sub, nn.ReLU(True), up, nn.Tanh()]
        elif sub is None:  # innermost: no norm at 1/2**downs resolution
            layers = [nn.LeakyReLU(0.2, True), down, nn.ReLU(True), up, norm_layer(norm, outer)]
        else:
            layers = [nn.LeakyReLU(0.2, True), down, norm_layer(norm, inner), sub]
            layers += [nn.ReLU(True), up, norm_layer(norm, outer), *([nn.Dropout(0.5)] if dropout else [])]
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x) if self.outermost else torch.cat([x, self.model(x)], 1)


class UnetGenerator(Component, nn.Module):
    """U-Net generator with 8 levels (256 px down to 1x1), skip connections at every level.

    Sizes must divide by 2**8; inference pads to that.
    """

    name = "unet-256"
    Config = GeneratorConfig
    downs: ClassVar[int] = 8

    def __init__(self, config: GeneratorConfig | None = None):
        super().__init__(config)
        f, norm = self.config.filters, self.config.norm
        block = UnetBlock(f * 8, f * 8, norm)
        for _ in range(self.downs - 5):
            block = UnetBlock(f * 8, f * 8, norm, block, dropout=self.config.dropout)
        for m in (4, 2, 1):
            block = UnetBlock(f * m, f * m * 2, norm, block)
        self.model = UnetBlock(3, f, norm, block, outermost=True)
        init_weights(self)

    @property
    def multiple(self) -> int:
        return 2**self.downs

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


class Unet128Generator(UnetGenerator):
    """U-Net generator with 7 levels (128 px down to 1x1), skip connections at every level."""

    name = "unet-128"
    downs = 7


@dataclass
class DiscriminatorConfig:
    filters: int = field(64, help="channels of the first layer (ndf)")
    layers: int = field(3, help="stride-2 layers: 3 judges 70x70 patches, 1 is 16x16, 4 is 142x142")
    norm: Norm = field("instance", help="instance, instance-affine or none")

    def validate(self) -> None:
        if self.filters < 1 or self.layers < 1:
            raise ValueError(f"filters and layers must be at least 1, not {self.filters} and {self.layers}")


class PatchDiscriminator(Component, nn.Module):
    """PatchGAN: scores every 70x70 patch as real or fake, so it judges texture at any image size.

    Returns a map of logits, one per patch (30x30 for a 256 px input).
    """

    name = "patchgan"
    Config = DiscriminatorConfig

    def __init__(self, config: DiscriminatorConfig | None = None):
        super().__init__(config)
        f, norm, n = self.config.filters, self.config.norm, self.config.layers
        layers: list[nn.Module] = [nn.Conv2d(3, f, 4, stride=2, padding=1), nn.LeakyReLU(0.2, True)]
        width = f
        for i in range(1, n + 1):  # the last of these keeps the resolution
            out = f * min(2**i, 8)
            layers += [nn.Conv2d(width, out, 4, stride=2 if i < n else 1, padding=1), norm_layer(norm, out)]
            layers.append(nn.LeakyReLU(0.2, True))
            width = out
        layers.append(nn.Conv2d(width, 1, 4, padding=1))
        self.model = nn.Sequential(*layers)
        init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)
