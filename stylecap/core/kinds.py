"""The kinds of component a plugin can register: one table that the hooks, the registries and the CLI read."""

from __future__ import annotations

from dataclasses import dataclass

from .component import CaptionBackend, Component, ConditionEncoder, Encoder, Loss, StyleBackend, Trainer


@dataclass(frozen=True)
class Kind:
    """One kind of component: its short name, the hook that registers it, how users read it, its base class."""

    name: str
    hook: str
    label: str
    base: type = Component


KINDS: dict[str, Kind] = {
    kind.name: kind
    for kind in (
        Kind("style", "register_style_backends", "style backend", StyleBackend),
        Kind("caption", "register_caption_backends", "caption backend", CaptionBackend),
        Kind("loss", "register_losses", "loss", Loss),
        Kind("encoder", "register_encoders", "encoder", Encoder),
        Kind("generator", "register_generators", "generator"),
        Kind("discriminator", "register_discriminators", "discriminator"),
        Kind("dataset", "register_datasets", "dataset"),
        Kind("trainer", "register_trainers", "trainer", Trainer),
        Kind("condition", "register_condition_encoders", "condition encoder", ConditionEncoder),
    )
}
