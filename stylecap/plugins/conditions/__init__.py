"""Condition encoders: what a caption model is told about a picture.

A condition is a list of scored concepts (the unpaired road: detectors name what is there), a pooled
feature vector (the paired road: a network's summary of the picture), and facts measured from the pixels.
They are a plugin kind, so other detectors or CLIP-like encoders can take the place of these.
"""

from __future__ import annotations

from stylecap.core.hookspecs import hookimpl

from .imagenet import ImageNetConcepts, PooledFeatures
from .people import PeopleDetector
from .pixels import PixelFacts
from .scenes import SceneConcepts

requires = ("encoders",)
"""The ImageNet network the concepts come from."""


@hookimpl
def register_condition_encoders(register):
    register(ImageNetConcepts)
    register(PooledFeatures)
    register(PixelFacts)
    register(PeopleDetector)
    register(SceneConcepts)
