"""How to talk about a concept: the noun a person would say for it, whether it is plural, and what kind of
thing it is (an animal is cute, food looks good enough to eat, a place is somewhere to be).

The kind comes from where the concept's ImageNet classes sit in ImageNet's class order (animals first, then
objects, food, landscapes, people, plants), with the objects split by the short lists below; the detectors'
concepts (people, scenes) are listed here too.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from stylecap.plugins.captions.concepts import ConceptVocab

KINDS = ("animal", "person", "food", "drink", "place", "plant", "vehicle", "thing")

RANGES = ((0, 398, "animal"), (924, 970, "food"), (970, 981, "place"), (981, 984, "person"), (984, 999, "plant"))
"""ImageNet class index ranges [start, stop) and their kind; every other class is a thing (unless listed)."""

LISTED = {
    "person": "person people crowd face",
    "place": "room water street garden field mountains forest beach snow sky lake valley cliff reef bakery barn "
    "boathouse bookstore butcher castle church dam dock fountain greenhouse library lighthouse monastery mosque "
    "palace patio pier planetarium prison restaurant temple theater tower ruins monument gas station "
    "grocery store movie theater casino gym",
    "vehicle": "ambulance bike blimp boat bus canoe car catamaran fire truck forklift go kart gondola jeep limo "
    "motorcycle plane rickshaw rv sailboat ship snowmobile submarine taxi tank tractor trailer train tram "
    "tricycle truck unicycle van bobsled sled",
    "drink": "coffee tea wine whiskey beer eggnog milk soda cocktail",
    "plant": "flowers mushroom corn acorn fig",
    "thing": "bubbles hay wedding",
}
"""Kinds that ImageNet's order does not give (objects that are places, vehicles, drinks), and the detectors'."""

PLURAL = set(
    "mountains rocks flowers berries potatoes dishes toys tools weights drums pills matches jeans pajamas "
    "sunglasses boots shoes sandals socks mittens binoculars stairs bubbles ruins waffles maracas people "
    "dominoes berries".split()
)
"""Concepts that are plural nouns ("these mountains look")."""

SAID = {"face": "person", "scuba": "diver", "tv": "TV", "rv": "RV", "atm": "ATM", "ipod": "iPod"}
"""Concepts said otherwise than they are written."""

WHERE = {
    "beach": "on the beach", "snow": "in the snow", "water": "by the water", "street": "on the street",
    "garden": "in the garden", "field": "in the field", "mountains": "in the mountains", "forest": "in the woods",
    "lake": "by the lake", "valley": "in the valley",
}  # fmt: skip
"""Scenes that can place a subject: "this dog in the woods"."""


@dataclass(frozen=True)
class Noun:
    """A concept as a person says it."""

    word: str
    plural: bool
    kind: str


@functools.cache
def kinds() -> dict[str, str]:
    """Concept -> kind, for every concept the caption models know."""
    found: dict[str, str] = {}
    for index, concept in enumerate(ConceptVocab.default().class_concepts):
        if concept and concept not in found:
            found[concept] = next((k for start, stop, k in RANGES if start <= index < stop), "thing")
    for kind, names in LISTED.items():
        for name in _names(names):
            found[name] = kind
    return found


def _names(listed: str) -> list[str]:
    """The names of a LISTED string, where two-word names ("fire truck") are known concepts."""
    words, names, i = listed.split(), [], 0
    known = set(ConceptVocab.default().names)
    while i < len(words):
        pair = " ".join(words[i : i + 2])
        if pair in known and i + 1 < len(words):
            names.append(pair)
            i += 2
        else:
            names.append(words[i])
            i += 1
    return names


def noun(concept: str) -> Noun:
    """How to say ``concept``; an unknown one is a thing."""
    return Noun(SAID.get(concept, concept), concept in PLURAL, kinds().get(concept, "thing"))
