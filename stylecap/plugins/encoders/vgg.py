"""VGG19, the network of Gatys et al.; its ImageNet weights are torchvision's 548 MB download.

No package carries those weights, so offline users fetch the file once and point stylecap at it.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch
from torch import nn

from stylecap.core.checkpoint import import_legacy
from stylecap.core.component import Weights
from stylecap.core.config import field
from stylecap.core.errors import UsageError

from .sequential import SequentialEncoder, read_state_dict

URL = "https://download.pytorch.org/models/vgg19-dcbb9e9d.pth"
FILE_NAME = URL.rsplit("/", 1)[1]
WEIGHTS_DIR_ENV = "STYLECAP_WEIGHTS_DIR"
BLOCKS = ((64, 2), (128, 2), (256, 4), (512, 4), (512, 4))  # (channels, convolutions): torchvision's cfgs["E"]


def layer_names():
    for b, (_, convs) in enumerate(BLOCKS, 1):
        for i in range(1, convs + 1):
            yield f"conv{b}_{i}"
            yield f"relu{b}_{i}"
        yield f"pool{b}"


LAYERS = tuple(layer_names())  # conv1_1, relu1_1, conv1_2, relu1_2, pool1, ..., relu5_4, pool5
TORCHVISION_INDEX = {str(i): name for i, name in enumerate(LAYERS)}
MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def build_network(pooling: str) -> nn.Sequential:
    """torchvision's ``vgg19().features``, module for module, with names and ReLUs that are not
    in place (an in-place ReLU would overwrite the conv output a caller asked for)."""
    modules = []
    cin = 3
    for channels, convs in BLOCKS:
        for _ in range(convs):
            conv = nn.Conv2d(cin, channels, 3, padding=1)
            nn.init.kaiming_normal_(conv.weight, mode="fan_out", nonlinearity="relu")  # torchvision's init
            nn.init.zeros_(conv.bias)
            modules += [conv, nn.ReLU()]
            cin = channels
        modules.append(nn.MaxPool2d(2) if pooling == "max" else nn.AvgPool2d(2))
    return nn.Sequential(OrderedDict(zip(LAYERS, modules)))


def features_only(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Rename torchvision's keys, of a whole VGG19 (``features.0.weight``) or of its features
    alone (``0.weight``), to ours (``net.conv1_1.weight``); drop its classifier; keep our own keys."""
    out = {}
    for key, value in state.items():
        head, _, rest = key.partition(".")
        if head == "features":
            head, _, rest = rest.partition(".")
        if head in TORCHVISION_INDEX:
            out[f"net.{TORCHVISION_INDEX[head]}.{rest}"] = value
        elif head == "net":
            out[key] = value
    return out


def imagenet_weights() -> dict[str, torch.Tensor]:
    """From ``$STYLECAP_WEIGHTS_DIR``, else torchvision's cache, else torchvision's download."""
    folder = os.environ.get(WEIGHTS_DIR_ENV)
    if folder and (Path(folder) / FILE_NAME).is_file():
        return import_legacy(Path(folder) / FILE_NAME)
    from torchvision.models import VGG19_Weights  # torchvision only for the download

    try:
        return VGG19_Weights.IMAGENET1K_V1.get_state_dict(progress=True)
    except OSError as e:  # URLError is one: offline, or the server refused
        searched = f"{WEIGHTS_DIR_ENV}={folder}" if folder else f"{WEIGHTS_DIR_ENV} (unset)"
        raise UsageError(
            f"the ImageNet weights of vgg19 are not in {searched} nor in torchvision's cache "
            f"({torch.hub.get_dir()}/checkpoints), "
            f"and downloading them failed ({type(e).__name__}: {e})",
            f"download {URL} once, then give the encoder option weights=PATH "
            f"(stylecap run ... -s encoder=vgg19 -s encoder_weights=/path/to/{FILE_NAME}) or put the file in the "
            f"folder named by the environment variable {WEIGHTS_DIR_ENV}; efficientnet-lite0 needs no download",
        ) from None


class VGG19(SequentialEncoder):
    """VGG19 (Gatys et al.'s network); ImageNet weights come from torchvision or a local file.

    Layers ``conv1_1``, ``relu1_1``, ..., ``relu5_4``, ``pool5``; Gatys' style layers
    ``relu1_1``..``relu5_1`` and content layer ``relu4_2`` are the defaults.
    """

    name = "vgg19"
    layers = LAYERS
    style_layers = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
    content_layers = ("relu4_2",)
    weights = (Weights("imagenet", "torchvision IMAGENET1K_V1 (548 MB download)", URL),)

    @dataclass
    class Config:
        weights: str = field(
            "imagenet",
            help=f"'imagenet' (${WEIGHTS_DIR_ENV}/{FILE_NAME}, torchvision's cache or download), "
            "'random', or a .pth/.safetensors path",
        )
        seed: int = field(0, help="seed of the random init (weights=random)")
        pooling: Literal["max", "avg"] = field("max", help="avg: Gatys et al.'s choice, for smoother gradients")

    def __init__(self, config=None):
        super().__init__(config)
        self.register_buffer("mean", torch.tensor(MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(STD).view(1, 3, 1, 1), persistent=False)

    def build(self) -> nn.Sequential:
        return build_network(self.config.pooling)

    def load_weights(self, spec: str) -> dict[str, torch.Tensor]:
        return features_only(imagenet_weights() if spec == "imagenet" else read_state_dict(spec))

    def preprocess(self, image: torch.Tensor) -> torch.Tensor:
        """[0, 1] -> torchvision's ImageNet normalisation, which the weights were trained with."""
        return (image - self.mean) / self.std
