"""What every caption backend that reads a picture shares: the condition it is told (concepts from the
condition encoder and the detectors, each with its source, and the pixel facts), the concepts it talks
about, the tone it is asked for, and how its candidate sentences are judged against the picture."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch

from stylecap.core.component import CaptionBackend, Condition, ConditionEncoder
from stylecap.core.config import field
from stylecap.core.host import create

from .rerank import Judge
from .tones import TONES, picture_tone


@dataclass
class ConditionedConfig:
    condition: str = field(
        "imagenet-concepts", help="Condition encoder (`stylecap list condition`); a paired model uses its own."
    )
    condition_options: dict = field({}, help="The condition encoder's options (a paired model's come with it).")
    condition_on: Literal["image", "content", "both"] = field(
        "content",
        help="Where the concepts come from: the picture given (the stylised one in a pipeline), the content "
        "(the photo, unconfused by paint: measured best, docs/studies/captions.md), or both (best score over the two; "
        "paired models: the mean of the two feature vectors). Colours and mood always come from the picture given.",
    )
    detectors: list[str] = field(
        ["people", "scenes"], help="More condition encoders whose concepts join the condition's ([] for none)."
    )
    pixel_facts: str = field(
        "pixel-facts", help="Condition encoder measuring the picture's colours, look and mood ('none': skip)."
    )
    max_concepts: int = field(3, help="At most this many concepts condition a caption.")
    concept_threshold: float = field(0.1, help="Concepts scoring below this are ignored (the best one never is).")
    tone: Literal["auto", "plain", "cheerful", "wistful", "funny", "spooky"] = field(
        "auto", help="The feeling to say it with: " + ", ".join(TONES) + ", or auto (from the picture's mood)."
    )
    num_captions: int = field(1, help="How many different captions to give, best first.")

    def validate(self) -> None:
        if self.num_captions < 1:
            raise ValueError(f"num_captions must be at least 1, not {self.num_captions}")


class ConditionedCaptioner(CaptionBackend):
    """A caption backend told about a picture by condition encoders. Subclasses say the words."""

    Config = ConditionedConfig
    concepts: list[str]
    """The concepts this backend can talk about."""

    def __init__(self, config=None):
        super().__init__(config)
        self._encoders: dict[str, ConditionEncoder] | None = None
        self._pixel_facts: ConditionEncoder | None = None

    def caption(self, image: torch.Tensor, *, content: torch.Tensor | None = None) -> str:
        """The best of :meth:`captions` (which subclasses say)."""
        return self.captions(image, content=content).texts[0]

    @property
    def paired(self) -> bool:
        """Conditioned on pooled picture features rather than concepts (models trained on paired data)."""
        return False

    def condition(self, image: torch.Tensor, *, content: torch.Tensor | None = None) -> tuple[Condition, list]:
        """What the caption is made from: the concepts of the pictures ``condition_on`` names (the condition
        encoder's and the detectors'), each with its source, and the pixel facts of ``image``. Also the main
        encoder's condition of each picture, whose features a paired model reads."""
        content = content if content is not None else image
        pictures = {"image": [("picture", image)], "content": [("original", content)],
                    "both": [("picture", image), ("original", content)]}[self.config.condition_on]  # fmt: skip
        merged, per_picture = Condition(), []
        for label, picture in pictures:
            for i, (name, encoder) in enumerate(self.encoders.items()):
                found = encoder.encode(picture)
                if i == 0:
                    per_picture.append(found)
                found.sources = {c: f"{found.sources.get(c, name)} on the {label}" for c, _ in found.concepts}
                merged = merged.merged(found)
        if self.pixel_facts is not None:
            merged = merged.merged(self.pixel_facts.encode(image))
        return merged, per_picture

    @property
    def encoder(self) -> ConditionEncoder:
        """The condition encoder (``condition``), whose features a paired model reads."""
        return self.encoders[self.config.condition]

    @property
    def encoders(self) -> dict[str, ConditionEncoder]:
        """The condition encoder, then the detectors (a paired model reads features: it needs none)."""
        if self._encoders is None:
            cfg = self.config
            self._encoders = {cfg.condition: create("condition", cfg.condition, **cfg.condition_options)}
            for name in [] if self.paired else cfg.detectors:
                self._encoders[name] = create("condition", name)
        return self._encoders

    @property
    def pixel_facts(self) -> ConditionEncoder | None:
        if self._pixel_facts is None and self.config.pixel_facts != "none":
            self._pixel_facts = create("condition", self.config.pixel_facts)
        return self._pixel_facts

    def pick(self, conditions: list[Condition]) -> list[str]:
        """The concepts to talk about: best score over the pictures, then ``max_concepts`` above the threshold."""
        best: dict[str, float] = {}
        for condition in conditions:
            for concept, score in condition.concepts:
                if concept in self.concepts:
                    best[concept] = max(score, best.get(concept, 0.0))
        ranked = sorted(best.items(), key=lambda item: -item[1])
        return Condition(ranked).top(self.config.max_concepts, self.config.concept_threshold)

    def judge(self, condition: Condition) -> Judge:
        """How candidate sentences are judged for this picture: the concepts to talk about, its colours, and the
        tone asked for (``tone=auto``: the one its feeling asks for)."""
        concepts = [] if self.paired else self.pick([condition])
        return Judge(concepts, [c.term for c in condition.colours], self.tone(condition))

    def tone(self, condition: Condition) -> str:
        """The tone asked for; ``tone=auto``: the one the picture's mood asks for."""
        return picture_tone(condition.mood) if self.config.tone == "auto" else self.config.tone
