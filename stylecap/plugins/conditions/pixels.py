"""Pixel facts: what a picture's pixels say on their own, its named colours, its look and its mood.

No network and no weights: colours are measured in CIELAB, so a caption can say "a blue sky over yellow
sand" or "a dark, gloomy picture" from what is measurably there rather than from what a classifier guesses.

Named colours use Berlin & Kay's eleven basic colour terms (Basic Color Terms, 1969): the colour words
nearly every language has and every caption vocabulary already holds.

Mood follows Valdez, P. & Mehrabian, A. (1994), "Effects of color on emotions", Journal of Experimental
Psychology: General 123(4), 394-409, who fitted pleasure, arousal and dominance to a colour's brightness
and saturation (Munsell value and chroma):

    pleasure  = .69 brightness + .22 saturation
    arousal   = -.31 brightness + .60 saturation
    dominance = -.76 brightness + .32 saturation

Here brightness and saturation are the picture's mean Lab lightness and chroma scaled to [0, 1] (see
:func:`look`), and each score is rescaled from its range over the unit square onto [-1, 1] (see :func:`mood`).
It is a colour-only estimate of the feeling a picture gives: a dark, dull picture reads as gloomy whatever it shows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from stylecap.core.component import Colour, Condition, ConditionEncoder
from stylecap.core.config import field

TERMS = ("black", "white", "grey", "red", "orange", "yellow", "green", "blue", "purple", "pink", "brown")
"""Berlin & Kay's eleven basic colour terms, in the order :func:`name_colours` numbers them."""

_WHITE_D65 = (0.95047, 1.0, 1.08883)
_RGB_TO_XYZ = (  # linear sRGB -> CIE XYZ under D65 (IEC 61966-2-1)
    (0.4124564, 0.3575761, 0.1804375),
    (0.2126729, 0.7151522, 0.0721750),
    (0.0193339, 0.1191920, 0.9503041),
)


def srgb_to_lab(image: torch.Tensor) -> torch.Tensor:
    """CIELAB (D65) of an sRGB image ``[..., 3, H, W]`` in [0, 1]: L in [0, 100], a and b roughly [-128, 128].

    Lab rather than RGB or HSV because distances and hue angles there follow what people see: a hue
    boundary drawn in Lab holds at every lightness, and chroma says how colourful a pixel looks.
    """
    rgb = image.clamp(0, 1).float()
    linear = torch.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)
    matrix = torch.tensor(_RGB_TO_XYZ, dtype=linear.dtype, device=linear.device)
    white = torch.tensor(_WHITE_D65, dtype=linear.dtype, device=linear.device)
    xyz = torch.einsum("ij,...jhw->...ihw", matrix, linear) / white[:, None, None]
    delta = 6 / 29
    f = torch.where(xyz > delta**3, xyz.clamp_min(1e-12) ** (1 / 3), xyz / (3 * delta**2) + 4 / 29)
    fx, fy, fz = f.unbind(-3)
    return torch.stack((116 * fy - 16, 500 * (fx - fy), 200 * (fy - fz)), dim=-3)


def name_colours(lab: torch.Tensor, grey_chroma: float = 10.0) -> torch.Tensor:
    """The basic colour term of every pixel of a Lab image ``[..., 3, H, W]``, as indices into :data:`TERMS`.

    Rules on lightness L, chroma C and hue angle h (degrees), checked on about seventy named swatches
    (CSS colours, skin, wood, sand) and on photos:

    * achromatic when C < ``grey_chroma`` + 0.05 L (light pixels may carry a faint tint and still look
      white), or when L < 12 and C < 30 (too dark to show a hue): black below L 22, white above L 85, grey between;
    * hue sectors: red 350-42, orange 42-75, yellow 75-110, green 110-192, blue 192-312, purple 312-350.
      Lab puts sRGB's pure red at 40, yellow at 103, blue at 306 and purple/magenta at 328, hence the odd edges;
      a red-orange such as an astronaut's suit (h 44-48) reads as orange;
    * pink is light red or light purple: L >= 62 in the red sector (L >= 50 for rose hues, 350-15), and
      L >= 70 in the purple sector (L >= 55 from h 335 on);
    * brown is dark or dull orange and yellow (wood, fur, leather, sand): orange with L < 50, or L < 65 and
      C < 45; yellow with L < 55 (below h 100; from there dark yellow is olive and counts as green); either
      with C < 30 and L < 80 (tan, beige); and dull dark red (L < 45, C < 40).
    """
    light, a, b = lab.unbind(-3)
    chroma = torch.hypot(a, b)
    hue = torch.rad2deg(torch.atan2(b, a)) % 360

    term = torch.full_like(light, TERMS.index("blue"), dtype=torch.long)

    def put(mask: torch.Tensor, name: str) -> None:
        term.masked_fill_(mask, TERMS.index(name))

    red = (hue >= 350) | (hue < 42)
    orange = (hue >= 42) & (hue < 75)
    yellow = (hue >= 75) & (hue < 110)
    green = (hue >= 110) & (hue < 192)
    purple = (hue >= 312) & (hue < 350)
    rose = (hue >= 350) | (hue < 15)
    dull = (chroma < 30) & (light < 80)

    put(green, "green")
    put(purple, "purple")
    put(purple & ((light >= 70) | ((hue >= 335) & (light >= 55))), "pink")
    put(red, "red")
    put(red & ((light >= 62) | (rose & (light >= 50))), "pink")
    put(red & (light < 45) & (chroma < 40), "brown")
    put(orange, "orange")
    put(orange & ((light < 50) | ((light < 65) & (chroma < 45)) | dull), "brown")
    put(yellow, "yellow")
    put(yellow & (light < 55) & (hue >= 100), "green")
    put(yellow & (((light < 55) & (hue < 100)) | dull), "brown")

    achromatic = (chroma < grey_chroma + 0.05 * light) | ((light < 12) & (chroma < 30))
    put(achromatic, "grey")
    put(achromatic & (light < 22), "black")
    put(achromatic & (light > 85), "white")
    return term


def place(mask: torch.Tensor) -> str:
    """Where the pixels of ``mask`` (``[H, W]``, boolean) sit: top, bottom, left, right, centre or all over.

    From their centre of mass and spread, in units of the picture's height and width. When the centre of
    mass is at least 0.12 from the middle along an axis, the farther axis names the side (a colour filling
    one half sits 0.25 off). Otherwise the colour is "centre" when its spread (standard deviation) is under
    0.2 along both axes (a middle square half the picture's side has 0.14), and "all over" when wider
    (paint spread evenly has 0.29).
    """
    h, w = mask.shape
    weights = mask.float()
    total = weights.sum().clamp_min(1)
    ys = (torch.arange(h, device=mask.device, dtype=torch.float32) + 0.5) / h
    xs = (torch.arange(w, device=mask.device, dtype=torch.float32) + 0.5) / w
    row, col = weights.sum(1), weights.sum(0)
    cy, cx = float((row * ys).sum() / total), float((col * xs).sum() / total)
    sy = math.sqrt(max(float((row * (ys - cy) ** 2).sum() / total), 0.0))
    sx = math.sqrt(max(float((col * (xs - cx) ** 2).sum() / total), 0.0))
    dy, dx = cy - 0.5, cx - 0.5
    if max(abs(dx), abs(dy)) >= 0.12:
        if abs(dy) >= abs(dx):
            return "top" if dy < 0 else "bottom"
        return "left" if dx < 0 else "right"
    return "centre" if sx < 0.2 and sy < 0.2 else "all over"


# Warmth of a hue (degrees in Lab): reds, oranges and yellows warm, greens neutral to cool, cyans and blues cool,
# purples slightly cool, pinks and magenta-reds mildly warm. Linear between these anchors.
_WARMTH_HUES = (0, 30, 75, 105, 140, 180, 220, 300, 330, 360)
_WARMTH_VALUES = (0.5, 1.0, 1.0, 0.6, 0.0, -0.7, -1.0, -1.0, -0.3, 0.5)
_WARMTH_TABLE = torch.from_numpy(np.interp(np.arange(361), _WARMTH_HUES, _WARMTH_VALUES).astype(np.float32))
"""Warmth of each whole hue degree 0-360, so each pixel looks its warmth up instead of interpolating."""

SATURATION_CHROMA = 60.0
"""Lab chroma that counts as full saturation: a vivid photo's mean chroma is about 30-40, a pure red pixel's 104."""
WARMTH_CHROMA = 20.0
"""Mean chroma below which warmth is damped: a near-grey picture is neither warm nor cool, whatever its tint."""


def look(lab: torch.Tensor) -> dict[str, float]:
    """How the picture looks, each number in [0, 1] except warmth in [-1, 1].

    ``brightness``: mean L / 100. ``saturation``: mean chroma / :data:`SATURATION_CHROMA`, capped at 1.
    ``warmth``: chroma-weighted mean of a hue's warmth (+1 red-orange, -1 blue), divided by
    max(mean chroma, :data:`WARMTH_CHROMA`), so grey pixels pull it towards 0. ``contrast``: RMS contrast,
    the standard deviation of L / 100 (0.5 at most, for half black, half white).
    """
    light, a, b = lab.reshape(3, -1).double().unbind(0)
    chroma = torch.hypot(a, b)
    hue = torch.rad2deg(torch.atan2(b, a)) % 360
    warm = _WARMTH_TABLE.to(lab.device, torch.float64)[hue.round().long()]
    mean_chroma = float(chroma.mean())
    return {
        "brightness": float((light / 100).mean().clamp(0, 1)),
        "saturation": min(mean_chroma / SATURATION_CHROMA, 1.0),
        "warmth": float((chroma * warm).mean()) / max(mean_chroma, WARMTH_CHROMA),
        "contrast": float((light / 100).std(unbiased=False)),
    }


_PAD = {  # Valdez & Mehrabian (1994): (brightness weight, saturation weight) of each score
    "pleasure": (0.69, 0.22),
    "arousal": (-0.31, 0.60),
    "dominance": (-0.76, 0.32),
}


def mood(brightness: float, saturation: float) -> dict[str, float]:
    """Pleasure, arousal and dominance in [-1, 1] from brightness and saturation in [0, 1].

    Each of Valdez & Mehrabian's linear scores is computed with brightness and saturation in [0, 1], then
    rescaled linearly from its least to its greatest value over that unit square onto [-1, 1]. So pleasure is
    -1 for black and 1 for a bright, fully saturated colour; arousal is -1 for white and 1 for dark, saturated
    colour; dominance is -1 for white and 1 for dark, saturated colour.
    """
    out = {}
    for name, (wb, ws) in _PAD.items():
        low, high = min(wb, 0) + min(ws, 0), max(wb, 0) + max(ws, 0)
        score = wb * brightness + ws * saturation
        out[name] = max(-1.0, min(1.0, 2 * (score - low) / (high - low) - 1))
    return out


def mood_word(mood: dict[str, float]) -> str:
    """One word for a mood, from its pleasure and arousal (the quadrants of Russell's circumplex of feeling).

    Clearly unpleasant (pleasure < -0.3): "tense" when arousal > 0, else "gloomy". Otherwise by arousal:
    "lively" above 0.25, "calm" below -0.25; in between "cheerful" when pleasure > 0.2, else "mellow".
    Most photographs land near the middle (pleasure about -0.1, arousal about -0.2), hence the neutral band.
    """
    pleasure, arousal = mood.get("pleasure", 0.0), mood.get("arousal", 0.0)
    if pleasure < -0.3:
        return "tense" if arousal > 0 else "gloomy"
    if arousal > 0.25:
        return "lively"
    if arousal < -0.25:
        return "calm"
    return "cheerful" if pleasure > 0.2 else "mellow"


class PixelFacts(ConditionEncoder):
    """Named colours, look (brightness, saturation, warmth, contrast) and mood, measured from the pixels.

    Gives a caption model facts no classifier gives it, and cheaply: no weights, a few milliseconds
    on a CPU. The picture is shrunk (area averaging) to ``size`` px on its longer side, converted to
    CIELAB, and every pixel is named with one of Berlin & Kay's eleven basic colour terms. Mood is
    Valdez & Mehrabian's (1994) colour-only estimate of pleasure, arousal and dominance.
    """

    name = "pixel-facts"

    @dataclass
    class Config:
        size: int = field(128, help="Longer side, in px, the picture is shrunk to before measuring (speed).")
        min_share: float = field(0.08, help="Colours covering less of the picture than this are left out.")
        max_colours: int = field(4, help="At most this many colours, largest share first.")
        grey_chroma: float = field(
            10.0, help="Lab chroma under which a pixel is black, grey or white (plus 0.05 per unit of lightness)."
        )

        def validate(self) -> None:
            if self.size < 8:
                raise ValueError(f"size must be at least 8, not {self.size}")
            if not 0 <= self.min_share <= 1:
                raise ValueError(f"min_share must be in [0, 1], not {self.min_share}")
            if self.max_colours < 1:
                raise ValueError(f"max_colours must be at least 1, not {self.max_colours}")
            if self.grey_chroma < 0:
                raise ValueError(f"grey_chroma must be at least 0, not {self.grey_chroma}")

    def encode(self, image: torch.Tensor) -> Condition:
        """Colours (at least the largest one, so a caption always has one), look and mood of one picture."""
        lab = srgb_to_lab(self._shrink(image))[0]
        terms = name_colours(lab, self.config.grey_chroma)
        counts = torch.bincount(terms.flatten(), minlength=len(TERMS)).tolist()
        total = terms.numel()
        ranked = sorted(range(len(TERMS)), key=lambda i: -counts[i])
        colours = [
            Colour(TERMS[i], counts[i] / total, place(terms == i))
            for rank, i in enumerate(ranked[: self.config.max_colours])
            if counts[i] and (rank == 0 or counts[i] / total >= self.config.min_share)
        ]
        facts = look(lab)
        feeling = mood(facts["brightness"], facts["saturation"])
        return Condition(colours=colours, look=facts, mood=feeling, feeling=mood_word(feeling))

    def _shrink(self, image: torch.Tensor) -> torch.Tensor:
        if image.dim() == 3:
            image = image[None]
        if image.dim() != 4 or image.shape[0] != 1 or image.shape[1] not in (1, 3):
            raise ValueError(f"expected one image [1, 3, H, W], got shape {tuple(image.shape)}")
        image = image.expand(1, 3, *image.shape[2:]).float()
        h, w = image.shape[2:]
        scale = self.config.size / max(h, w)
        if scale < 1:
            size = (max(1, round(h * scale)), max(1, round(w * scale)))
            image = F.interpolate(image, size=size, mode="area")
        return image
