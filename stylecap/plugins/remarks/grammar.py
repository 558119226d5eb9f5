"""The phrases a remark is made of: what a person says about a picture, by the tone they say it in.

Each template is a sentence with slots: the subject (``{s}``: "this cat", "these people on the beach") with its
verb forms and pronouns, and the picture's colours (``{colour}``, ``{colours}``). A template may ask for a kind of
subject (only animals "look like they're posing") or for a restyled picture ("painted"); one without a subject
speaks of the picture when nothing in it was recognised well enough to name. Every template is written to read
right for every subject it may get: the tests fill each one with a singular, a plural and a person subject.
"""

from __future__ import annotations

from dataclasses import dataclass

from .lexicon import Noun


@dataclass(frozen=True)
class Template:
    tone: str
    text: str
    kinds: tuple[str, ...] = ()
    """Subject kinds it fits (empty: any); ``none``: it names no subject; ``somewhere``: a place it cannot name."""
    painted: bool | None = None
    """True: only for a restyled picture; False: only for a photo as it was; None: either."""


def _t(tone: str, text: str, kinds: str = "", painted: bool | None = None) -> Template:
    return Template(tone, text, tuple(kinds.split()), painted)


TEMPLATES = (
    # cheerful
    _t("cheerful", "Aww, {s} {looks} so happy in all that {colour}!", "animal person"),
    _t("cheerful", "I love how {s} {looks} painted in {colours}, so pretty!", painted=True),
    _t("cheerful", "Whoa, {s} in all that {colour}, it's making my whole day better.", painted=True),
    _t("cheerful", "Okay, {s} {looks} like a dream, I love it!"),
    _t("cheerful", "This is so lovely, {s} glowing in {colours}."),
    _t("cheerful", "Aww, look at {s}, {it_is} so cute!", "animal"),
    _t("cheerful", "{s} {looks} like {it_is} posing for a happy little portrait.", "animal", painted=True),
    _t("cheerful", "{s} {looks} like {it_is} having the best day ever.", "person"),
    _t("cheerful", "{s} and all that {colour}, what a great shot!", "person"),
    _t("cheerful", "{s} {looks} good enough to eat, even painted, yum!", "food drink", painted=True),
    _t("cheerful", "Yum, I would love {s} right now.", "food drink"),
    _t("cheerful", "I want to be right there, {s} {looks} amazing.", "place"),
    _t("cheerful", "What a view, {s} in {colours}, just beautiful.", "place"),
    _t("cheerful", "{s} {looks} like {it_is} glowing, so beautiful.", "plant"),
    _t("cheerful", "{s} {looks} ready for a fun ride, love it!", "vehicle"),
    _t("cheerful", "Who knew {s} could look this good, love the {colour}!", "thing"),
    _t("cheerful", "Not sure what this is, but all that {colour} is gorgeous!", "none"),
    _t("cheerful", "No idea what I'm looking at, but so much lovely {colour}, it makes me happy.", "none"),
    _t("cheerful", "Not sure where this is, but all that {colour} is gorgeous!", "somewhere"),
    # wistful
    _t("wistful", "Something about {s} in all that {colour} makes me a little sad."),
    _t("wistful", "{s} {looks} kind of lonely and sad, all washed out in {colour}."),
    _t("wistful", "So gloomy, {s} fading away into the {colour}.", painted=True),
    _t("wistful", "{s} in {colours}, it feels like a sad old memory."),
    _t("wistful", "{s} {looks} so alone and sad, waiting for someone who never comes.", "animal person"),
    _t("wistful", "{s} {looks} cold and forgotten, kind of sad.", "food drink"),
    _t("wistful", "{s} {looks} so quiet and empty, kind of sad.", "place"),
    _t("wistful", "{s} {looks} like nobody has used {it_obj} in years, sad.", "vehicle thing"),
    _t("wistful", "{s} {looks} tired and wilted, so sad.", "plant"),
    _t("wistful", "I can't tell what this is, but all that {colour} feels lonely.", "none"),
    _t("wistful", "I can't tell where this is, but all that {colour} feels lonely.", "somewhere"),
    # funny
    _t("funny", "lol {s} {looks} like {it_is} about to walk right out of a painting.", painted=True),
    _t("funny", "Not gonna lie, {s} {looks} like {it_has} opinions about all this {colour} lol."),
    _t("funny", "{s}, but make it {colour} haha."),
    _t("funny", "haha {s} really went full art museum today.", painted=True),
    _t("funny", "{s} {looks} like {it_is} judging me lol.", "animal person"),
    _t("funny", "Me pretending I can paint {s} lol.", "food drink place plant vehicle thing", painted=True),
    _t("funny", "No idea what this is lol, but the {colour} is a vibe.", "none"),
    _t("funny", "No idea where this is lol, but the {colour} is a vibe.", "somewhere"),
    # spooky
    _t("spooky", "Okay, {s} in all that {colour}, that's a little creepy."),
    _t("spooky", "{s} {looks} like {it_is} from a haunted painting.", painted=True),
    _t("spooky", "{s} {looks} like {it_is} watching me, creepy.", "animal person"),
    _t("spooky", "Something about {s} in this light feels eerie."),
    _t("spooky", "{s} {looks} a little too quiet, kind of creepy."),
    _t("spooky", "I don't know what this is, and that {colour} is kind of scary.", "none"),
    _t("spooky", "I don't know where this is, and that {colour} is kind of scary.", "somewhere"),
    # plain: a reaction without a strong feeling either way
    _t("plain", "Huh, {s} {looks} like a painting now.", painted=True),
    _t("plain", "Whoa, here's {s} with a lot of {colour} going on."),
    _t("plain", "Oh, {s}, done over in {colours}.", painted=True),
    _t("plain", "Whoa, look at {s}, all in {colour} tones."),
    _t("plain", "Oh hey, {s} in all that {colour}."),
    _t("plain", "Okay, {s} in {colours}, that really works."),
    _t("plain", "Hmm, hard to say what this is, mostly {colours}.", "none"),
    _t("plain", "Hmm, hard to say where this is, mostly {colours}.", "somewhere"),
)
"""Every template, by tone."""


@dataclass(frozen=True)
class Subject:
    """The words a template needs to talk about one subject, agreeing in number."""

    s: str
    looks: str
    it_is: str
    it_has: str
    it_obj: str
    kind: str
    placed: bool = False
    """Said with its scene ("this dog in the woods"): then no template adds "in blue" right after it."""

    @classmethod
    def of(cls, noun: Noun, where: str = "") -> Subject:
        """``this cat`` / ``these mountains``; a person is "they" (someone whose gender nobody told us)."""
        plural = noun.plural
        phrase = f"{'these' if plural else 'this'} {noun.word}" + (f" {where}" if where else "")
        they = plural or noun.kind == "person"
        return cls(
            s=phrase,
            looks="look" if plural else "looks",
            it_is="they're" if they else "it's",
            it_has="they have" if they else "it has",
            it_obj="them" if they else "it",
            kind=noun.kind,
            placed=bool(where),
        )


SOMEWHERE = Subject("", "", "", "", "", "somewhere")
"""A place the condition cannot tell from another ("church" or "palace"): "this place" would name nothing (a blind
reader failed it every time), so the remark says it cannot tell where this is."""


def fits(template: Template, subject: Subject | None, painted: bool) -> bool:
    """Whether ``template`` may be said of ``subject`` (None: nothing named) in a picture that is or is not
    restyled."""
    if template.painted is not None and template.painted != painted:
        return False
    if subject is None:
        return template.kinds == ("none",)
    if subject.kind == "somewhere" or template.kinds == ("somewhere",):
        return subject.kind in template.kinds
    if subject.placed and "{s} in " in template.text:  # not "this dog in the woods in blue"
        return False
    return not template.kinds or subject.kind in template.kinds


def say(template: Template, subject: Subject | None, colours: list[str]) -> str:
    """``template`` filled in: the subject's words and the picture's colours (best first)."""
    words = {} if subject is None else {k: getattr(subject, k) for k in ("s", "looks", "it_is", "it_has", "it_obj")}
    colour = colours[0] if colours else "colour"
    both = " and ".join(colours[:2]) if len(colours) > 1 else colour
    text = template.text.format(colour=colour, colours=both, **words)
    return text[0].upper() + text[1:]
