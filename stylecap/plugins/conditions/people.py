"""People in a picture, from OpenCV's bundled Haar cascades: "person", "people", "crowd" and "face".

ImageNet has no person class, so the classifier-based concepts miss people. Viola-Jones cascades are old
and fire on faces in bricks, coins and flower petals, so a detection only counts after a second check:
a frontal face must be found by two cascades at the same place (default and alt2) and have an eye in
its upper half, a profile face must have an eye or very many neighbouring hits, and a body on its own
needs very many hits. The detector is tuned for precision: saying "person" about a cat or a landscape
is worse than missing someone in a crowd. docs/studies/conditions-people-scenes.md has the measurements.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from stylecap.core.component import Condition, ConditionEncoder
from stylecap.core.config import field as option
from stylecap.core.errors import UsageError

Box = tuple[int, int, int, int]  # x, y, width, height in detection-image pixels


@dataclass
class Found:
    """One person the detector believes in: where, how sure, and what found it."""

    box: Box
    confidence: float
    how: str
    face: bool  # a face (frontal or profile), not a body


def _overlap(a: Box, b: Box) -> float:
    """Intersection over union of two boxes."""
    x1, y1 = max(a[0], b[0]), max(a[1], b[1])
    x2, y2 = min(a[0] + a[2], b[0] + b[2]), min(a[1] + a[3], b[1] + b[3])
    inter = max(0, x2 - x1) * max(0, y2 - y1)
    return inter / float(a[2] * a[3] + b[2] * b[3] - inter)


def _inside(small: Box, big: Box) -> bool:
    """Whether the centre of ``small`` lies in ``big``."""
    cx, cy = small[0] + small[2] / 2, small[1] + small[3] / 2
    return big[0] <= cx <= big[0] + big[2] and big[1] <= cy <= big[1] + big[3]


def _agreement(hits: int, half: float) -> float:
    """Neighbouring hits -> confidence in [0, 1): ``half`` hits give 0.5."""
    return hits / (hits + half)


class PeopleDetector(ConditionEncoder):
    """People and faces from OpenCV's Haar cascades (frontal and profile faces, eyes, bodies), tuned for precision.

    Says "person" (one), "people" (2 to 5) or "crowd" (6 or more), and "face" when a face is big and clear.
    Works offline on the CPU; needs `pip install opencv-python-headless` (4.x: 5.x wheels lack the cascades).
    """

    name = "people"

    @dataclass
    class Config:
        side: int = option(640, help="Longer side of the grey picture the cascades run on (hit counts depend on it).")
        scale_factor: float = option(1.05, help="Step between detection scales (smaller: slower, more hits).")
        min_face: float = option(0.06, help="Smallest face looked for, as a share of the picture's shorter side.")
        face_hits: int = option(8, help="A frontal face with two eyes found needs this many hits from both cascades.")
        face_hits_one_eye: int = option(16, help="A frontal face with one eye found needs this many hits from both.")
        face_hits_no_eyes: int = option(30, help="A frontal face with no eye found needs this many hits from both.")
        profile_hits: int = option(12, help="A profile face needs this many hits and an eye.")
        profile_hits_no_eyes: int = option(40, help="A profile face with no eye found needs this many hits.")
        bodies: bool = option(True, help="Also run the upper-body and full-body cascades.")
        body_hits: int = option(40, help="A body with no face in it counts as a person from this many hits.")
        min_body: float = option(0.15, help="Smallest body looked for, as a share of the picture's shorter side.")
        clear_face: float = option(
            0.1, help='The biggest face must be this big (share of the shorter side) to say "face".'
        )
        min_score: float = option(0.3, help="Concepts scoring below this are left out.")

        def validate(self) -> None:
            if self.side < 128:
                raise ValueError(f"side must be at least 128, not {self.side}")
            if not 1.01 <= self.scale_factor <= 2:
                raise ValueError(f"scale_factor must be in [1.01, 2], not {self.scale_factor}")
            if not 0 < self.min_face < 1 or not 0 < self.clear_face <= 1:
                raise ValueError("min_face and clear_face are shares of the shorter side, in (0, 1]")

    CASCADES = {
        "frontal": "haarcascade_frontalface_default.xml",
        "frontal2": "haarcascade_frontalface_alt2.xml",
        "profile": "haarcascade_profileface.xml",
        "eye": "haarcascade_eye.xml",
        "eye_glasses": "haarcascade_eye_tree_eyeglasses.xml",
        "upper_body": "haarcascade_upperbody.xml",
        "full_body": "haarcascade_fullbody.xml",
    }

    def __init__(self, config=None):
        super().__init__(config)
        try:
            import cv2
        except ImportError:
            raise UsageError(
                "the people condition encoder needs OpenCV", 'pip install "opencv-python-headless>=4,<5"'
            ) from None
        self.cv2 = cv2
        self.cascades = {}
        for key, file in self.CASCADES.items():
            path = getattr(getattr(cv2, "data", None), "haarcascades", "") + file
            cascade = cv2.CascadeClassifier(path)
            if cascade.empty():
                raise UsageError(
                    f"OpenCV {cv2.__version__} has no {file} (OpenCV 5 wheels dropped the Haar cascades)",
                    'pip install "opencv-python-headless>=4,<5"',
                )
            self.cascades[key] = cascade

    # -- detection --------------------------------------------------------------------------------------

    def grey(self, image: torch.Tensor) -> np.ndarray:
        """The picture as an 8-bit grey array with its longer side at ``config.side``."""
        cv2 = self.cv2
        rgb = (image[0].detach().float().clamp(0, 1).permute(1, 2, 0).cpu().numpy() * 255).round().astype(np.uint8)
        if rgb.shape[2] == 1:
            rgb = np.repeat(rgb, 3, axis=2)
        grey = cv2.cvtColor(np.ascontiguousarray(rgb[:, :, :3]), cv2.COLOR_RGB2GRAY)
        h, w = grey.shape
        scale = self.config.side / max(h, w)
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        return cv2.resize(grey, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)

    def _detect(self, key: str, grey: np.ndarray, min_side: int) -> list[tuple[Box, int]]:
        """Boxes found by one cascade, each with its count of neighbouring hits (its confidence)."""
        boxes, hits = self.cascades[key].detectMultiScale2(
            grey, scaleFactor=self.config.scale_factor, minNeighbors=3, minSize=(min_side, min_side)
        )
        return [(tuple(int(v) for v in b), int(n)) for b, n in zip(boxes, np.ravel(hits))]

    def eyes(self, grey: np.ndarray, box: Box) -> int:
        """How many eyes the eye cascades find in the upper part of a face box (resized to 120 px wide)."""
        cv2 = self.cv2
        x, y, w, h = box
        top = grey[y : y + int(h * 0.6), x : x + w]
        if top.size == 0:
            return 0
        width = 120
        top = cv2.resize(top, (width, max(1, round(width * top.shape[0] / top.shape[1]))))
        found = 0
        for key in ("eye", "eye_glasses"):
            eyes = self.cascades[key].detectMultiScale(top, 1.05, 3, minSize=(15, 15), maxSize=(60, 60))
            found = max(found, len(eyes))
        return found

    def find(self, image: torch.Tensor) -> tuple[list[Found], tuple[int, int]]:
        """Everyone found in ``image`` (``[1, 3, H, W]`` in [0, 1]), and the detection image's (height, width)."""
        cfg = self.config
        grey = self.grey(image)
        min_side = max(20, round(cfg.min_face * min(grey.shape)))
        found: list[Found] = []

        # Frontal faces: both cascades at the same place, then an eye (or very many hits).
        second = self._detect("frontal2", grey, min_side)
        for box, hits in self._detect("frontal", grey, min_side):
            partner = max((h for b, h in second if _overlap(box, b) >= 0.4), default=0)
            agree = min(hits, partner)
            if agree < cfg.face_hits:
                continue
            eyes = self.eyes(grey, box)
            if agree < (cfg.face_hits, cfg.face_hits_one_eye, cfg.face_hits_no_eyes)[max(0, 2 - eyes)]:
                continue
            confidence = _agreement(agree, 15) * (1.0 if eyes >= 2 else 0.9 if eyes == 1 else 0.75)
            found.append(Found(box, confidence, f"frontal face ({agree} hits, {eyes} eyes)", True))

        # Profile faces: the cascade looks one way, so the mirrored picture finds the other.
        width = grey.shape[1]
        for mirrored in (False, True):
            view = np.ascontiguousarray(grey[:, ::-1]) if mirrored else grey
            for box, hits in self._detect("profile", view, min_side):
                if hits < cfg.profile_hits:
                    continue
                eyes = self.eyes(view, box)
                if eyes == 0 and hits < cfg.profile_hits_no_eyes:
                    continue
                if mirrored:
                    box = (width - box[0] - box[2], box[1], box[2], box[3])
                confidence = _agreement(hits, 20) * (1.0 if eyes else 0.8)
                found.append(Found(box, confidence, f"profile face ({hits} hits, {eyes} eyes)", True))

        # Bodies: only with very many hits, since cascades trained on pedestrians fire on animals and texture.
        if cfg.bodies:
            for key in ("upper_body", "full_body"):
                for box, hits in self._detect(key, grey, max(min_side, round(cfg.min_body * min(grey.shape)))):
                    if hits >= cfg.body_hits:
                        how = f"{key.replace('_', ' ')} ({hits} hits)"
                        found.append(Found(box, _agreement(hits, 40) * 0.8, how, False))
        return _distinct(found), grey.shape

    # -- the condition ----------------------------------------------------------------------------------

    @torch.no_grad()
    def encode(self, image: torch.Tensor) -> Condition:
        found, (h, w) = self.find(image)
        if not found:
            return Condition()
        cfg = self.config
        count = len(found)
        confidences = sorted((f.confidence for f in found), reverse=True)
        if count == 1:
            concept = "person"
        elif count <= 5:
            concept = "people"
        else:
            concept = "crowd"
        # As sure of two people as of the second-best detection, of a crowd as of the sixth.
        score = confidences[min(count, 6) - 1 if count > 1 else 0]
        faces = sum(f.face for f in found)
        kinds = sorted({f.how.split(" (")[0] for f in found})
        where = f"people: OpenCV Haar cascades, {count} found ({faces} by face; {', '.join(kinds)})"
        concepts = [(concept, score)]
        sources = {concept: where}

        shorter = min(h, w)
        faces_big = [f for f in found if f.face and f.box[2] >= cfg.clear_face * shorter]
        if faces_big:
            best = max(faces_big, key=lambda f: f.confidence * f.box[2])
            size = best.box[2] / shorter
            concepts.append(("face", best.confidence * min(1.0, 0.6 + size)))
            sources["face"] = f"people: OpenCV Haar {best.how}, {size:.0%} of the shorter side"
        concepts = [(c, float(s)) for c, s in sorted(concepts, key=lambda cs: -cs[1]) if s >= cfg.min_score]
        return Condition(concepts=concepts, sources={c: sources[c] for c, _ in concepts})


def _distinct(found: list[Found]) -> list[Found]:
    """One detection per person: the most confident of overlapping faces; bodies only where no face sits."""
    kept: list[Found] = []
    for f in sorted(found, key=lambda f: (not f.face, -f.confidence)):
        if f.face and any(k.face and (_overlap(f.box, k.box) > 0.3 or _inside(f.box, k.box)) for k in kept):
            continue
        if not f.face and any(_inside(k.box, f.box) or _overlap(f.box, k.box) > 0.3 for k in kept):
            continue
        kept.append(f)
    return kept
