"""Concepts and captions for real offline photos: is the concept encoder right, and
do the MLE model's captions mention what it found?

    python benchmarks/captions_photos.py RUN_OR_MODEL [-c grounding=none] [--json out.json]

Photos: scikit-image and matplotlib sample pictures (in their wheels), plus Debian mate-backgrounds
nature photos when installed. EXPECTED is what a person sees in each; a photo counts as right when one
of those words is among the encoder's top three concepts.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import matplotlib
import skimage

import stylecap
from stylecap.core.config import parse_assignments
from stylecap.core.imageio import read_image, to_tensor
from stylecap.plugins.captions.cli import load_backend
from stylecap.plugins.captions.concepts import ConceptVocab
from stylecap.plugins.captions.text import tokenize

SK = Path(skimage.__file__).parent / "data"
MATE = Path("/usr/share/backgrounds/mate/nature")
EXPECTED = {
    SK / "chelsea.png": {"cat"},
    SK / "coffee.png": {"coffee", "cup", "spoon"},
    SK / "motorcycle_left.png": {"motorcycle"},
    SK / "camera.png": {"camera"},
    SK / "rocket.jpg": {"rocket"},
    SK / "astronaut.png": {"rocket", "flag", "uniform", "suit"},
    Path(matplotlib.__file__).parent / "mpl-data/sample_data/grace_hopper.jpg": {"uniform", "necktie", "suit"},
    MATE / "LadyBird.jpg": {"ladybug", "bug", "beetle"},
    MATE / "YellowFlower.jpg": {"flowers"},
    MATE / "FreshFlower.jpg": {"flowers"},
    MATE / "TwoWings.jpg": {"butterfly", "bug", "dragonfly"},
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("target", help="a caption training run, pipeline folder or .safetensors model")
    parser.add_argument("--json", type=Path, help="write the rows here")
    parser.add_argument("-c", dest="options", action="append", default=[], help="KEY=VALUE for the backend")
    args = parser.parse_args()
    backend = load_backend(args.target, parse_assignments(args.options))
    encoder = stylecap.create("condition", backend.config.condition)
    vocab = ConceptVocab.default()
    rows = []
    for path, expected in EXPECTED.items():
        if not path.is_file():
            continue
        image = to_tensor(read_image(path).rgb)
        condition = encoder.encode(image)
        picked = backend.pick([condition])
        caption = backend.generate([picked])[0]
        top3 = [c for c, _ in condition.concepts[:3]]
        rows.append(
            {
                "photo": path.name,
                "top_concepts": [(c, round(s, 2)) for c, s in condition.concepts[:5]],
                "encoder_right": bool(expected & set(top3)),
                "caption": caption,
                "caption_mentions_condition": bool(set(vocab.find(tokenize(caption))) & set(picked)),
            }
        )
        print(f"{path.name:22} {top3} -> {caption}")
    right = sum(r["encoder_right"] for r in rows)
    hits = sum(r["caption_mentions_condition"] for r in rows)
    print(f"encoder right on {right}/{len(rows)} photos; captions mention a condition concept on {hits}/{len(rows)}")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
