"""Paired image-caption data for users who have it: COCO captions JSON, Flickr8k/30k token files, and a
FlickrStyle-like TSV (image, caption, style). Every problem names the file and the line.

The condition for paired data is a pooled feature vector per picture, computed once by a condition
encoder and cached on disk (``cached_features``).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path

import torch

from stylecap.core.checkpoint import load_checkpoint, save_checkpoint
from stylecap.core.component import ConditionEncoder
from stylecap.core.config import to_dict
from stylecap.core.errors import UsageError
from stylecap.core.imageio import read_image, to_tensor


class DataError(UsageError):
    """A paired-data file is malformed: the message says which file, which line, and what is wrong."""


@dataclass(frozen=True)
class Pair:
    image: Path
    caption: str
    style: str | None = None


def _check(path: Path, line: int, image: Path, caption: str) -> None:
    if not caption.strip():
        raise DataError(f"{path}:{line}: empty caption for {image.name}", "remove the line or write the caption")
    if not image.is_file():
        raise DataError(f"{path}:{line}: image {image} does not exist", "check the images folder")


def _read(path: Path) -> str:
    if not path.is_file():
        raise DataError(f"{path} does not exist", "check the path")
    return path.read_text(encoding="utf-8")


def load_coco(path: str | Path, images: str | Path) -> list[Pair]:
    """COCO captions JSON: ``images[{id, file_name}]`` and ``annotations[{image_id, caption}]``."""
    path, images = Path(path), Path(images)
    text = _read(path)
    try:
        doc = json.loads(text)
        files = {im["id"]: im["file_name"] for im in doc["images"]}
        annotations = doc["annotations"]
    except json.JSONDecodeError as e:
        raise DataError(f"{path}:{e.lineno}: not valid JSON ({e.msg})", "fix or re-download the file") from None
    except (KeyError, TypeError) as e:
        raise DataError(f"{path}:1: not COCO captions (missing {e})", "give a captions_*.json file") from None
    # json keeps no positions, so find each annotation's line from its "caption" key, in order
    lines = [text.count("\n", 0, m.start()) + 1 for m in re.finditer(r'"caption"\s*:', text)]
    pairs = []
    for k, ann in enumerate(annotations):
        line = lines[k] if k < len(lines) else 1
        if not isinstance(ann, dict) or "caption" not in ann:
            raise DataError(f"{path}:{line}: annotation {k} has no caption", "every annotation needs one")
        if ann.get("image_id") not in files:
            raise DataError(f"{path}:{line}: annotation {k} names unknown image id {ann.get('image_id')!r}", "fix it")
        image = images / files[ann["image_id"]]
        _check(path, line, image, ann["caption"])
        pairs.append(Pair(image, ann["caption"].strip()))
    return pairs


def load_flickr(path: str | Path, images: str | Path) -> list[Pair]:
    """Flickr8k/30k token files: ``IMAGE.jpg#N<TAB>caption`` per line."""
    path, images = Path(path), Path(images)
    pairs = []
    for line, row in enumerate(_read(path).splitlines(), 1):
        if not row.strip():
            continue
        name, tab, caption = row.partition("\t")
        if not tab or "#" not in name:
            raise DataError(f"{path}:{line}: expected 'IMAGE#N<TAB>caption', got {row[:60]!r}", "fix that line")
        image = images / name.rsplit("#", 1)[0]
        _check(path, line, image, caption)
        pairs.append(Pair(image, caption.strip()))
    return pairs


def load_styled(path: str | Path, images: str | Path) -> list[Pair]:
    """FlickrStyle-like TSV: ``image<TAB>caption<TAB>style`` (a first line ``image caption style`` is a header)."""
    path, images = Path(path), Path(images)
    pairs = []
    for line, row in enumerate(_read(path).splitlines(), 1):
        fields = row.split("\t")
        if not row.strip() or (line == 1 and [f.strip().lower() for f in fields] == ["image", "caption", "style"]):
            continue
        if len(fields) != 3:
            raise DataError(
                f"{path}:{line}: expected 3 tab-separated fields, got {len(fields)}", "image, caption, style"
            )
        image = images / fields[0].strip()
        _check(path, line, image, fields[1])
        if not fields[2].strip():
            raise DataError(f"{path}:{line}: empty style label", "give each caption a style (e.g. humor, romantic)")
        pairs.append(Pair(image, fields[1].strip(), fields[2].strip()))
    return pairs


LOADERS = {"coco": load_coco, "flickr": load_flickr, "styled": load_styled}


def load_pairs(fmt: str, path: str | Path, images: str | Path) -> list[Pair]:
    if fmt not in LOADERS:
        raise UsageError(f"unknown paired format {fmt!r}", f"use one of {', '.join(LOADERS)}")
    return LOADERS[fmt](path, images)


def split_by_image(pairs: list[Pair], val_fraction: float, seed: int = 0) -> tuple[list[Pair], list[Pair]]:
    """``(train, val)`` with every caption of a picture on the same side, so validation sees only new pictures.

    Pictures are ranked by a hash of their file name and the seed, and the first ``val_fraction`` of them (at
    least one when there are two or more) go to validation: the same files always split the same way.
    """
    names = sorted({p.image.name for p in pairs}, key=lambda n: hashlib.sha256(f"{seed}:{n}".encode()).digest())
    count = round(len(names) * val_fraction)
    if val_fraction > 0 and len(names) > 1:
        count = min(max(count, 1), len(names) - 1)
    held = set(names[:count])
    return [p for p in pairs if p.image.name not in held], [p for p in pairs if p.image.name in held]


def cached_features(images: list[Path], encoder: ConditionEncoder, cache_dir: Path) -> dict[Path, torch.Tensor]:
    """One pooled feature vector per picture, computed once: the cache key covers the encoder, its config
    and every picture's path, size and modification time."""
    unique = sorted(set(images))
    path = feature_cache_path(unique, encoder, cache_dir)
    if path.is_file():
        tensors, _ = load_checkpoint(path)
        return {p: tensors[str(i)] for i, p in enumerate(unique)}
    features = {}
    for p in unique:
        features[p] = encoder.encode(to_tensor(read_image(p).rgb)).features
        if features[p] is None:
            raise UsageError(
                f"condition encoder {encoder.name!r} gives no feature vector (it names concepts)",
                "paired captions need one that does, e.g. --condition pooled-features",
            )
    path.parent.mkdir(parents=True, exist_ok=True)
    save_checkpoint(path, {str(i): features[p] for i, p in enumerate(unique)}, {"images": [str(p) for p in unique]})
    return features


def feature_cache_path(images: list[Path], encoder: ConditionEncoder, cache_dir: Path) -> Path:
    """Where ``cached_features`` keeps these pictures' vectors: the evaluation harness asks whether a training
    run already computed a whole data set's before it computes only the held-out pictures'."""
    unique = sorted(set(images))
    key_text = json.dumps([encoder.name, to_dict(encoder.config)] + [[str(p), *_stamp(p)] for p in unique])
    key = hashlib.sha256(key_text.encode()).hexdigest()[:16]
    return Path(cache_dir) / "captions" / f"features-{encoder.name}-{key}.safetensors"


def _stamp(path: Path) -> tuple[int, int]:
    stat = path.stat()
    return stat.st_size, stat.st_mtime_ns
