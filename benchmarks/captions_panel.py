"""Captions of every caption backend on real photos, each under a gloomy and a sunny style: the contact sheet,
the numbers a reader can check, and the files of a blind read.

For photos of the labelled panel (benchmarks/panel/), each stylised by AdaIN with panel/styles/gloomy.jpg and
sunny.jpg, every system captions the stylised picture (seed 0). Reported per system:
- sentiment moves with the style: the share of photos whose sunny caption scores higher than its gloomy one on
  TextBlob's polarity (a scorer other than VADER, which labelled the training sentences' tones);
- colour-word hallucination: captions naming a colour the picture does not have (pixel-facts' colours);
- novelty: captions that are not, word for word, a sentence of the cleaned training corpus;
- distinct captions: how many different captions the system gave over all pictures.
It writes the contact sheet, ``captions.json`` (everything), and for the blind read ``blind.csv`` (captions
shuffled, no system names) with ``blind-key.csv`` apart, and the pictures they refer to.

    python3 benchmarks/captions_panel.py --system retrieval --system mle-lstm=runs/mle/final \\
        --system seqgan --system gumbel-transformer --out out/panel --sheet docs/images/captions-panel.jpg
    python3 benchmarks/captions_panel.py --system remark --photo-dir PHOTOS --out out/fresh   # other photos
"""

from __future__ import annotations

import argparse
import csv
import json
import random
from pathlib import Path

import torch
from PIL import Image, ImageDraw, ImageFont

import stylecap
from stylecap.core.imageio import read_image, resize_max, to_pil, to_tensor
from stylecap.plugins.captions.cli import load_backend
from stylecap.plugins.captions.corpus import CorpusOptions, load_corpus
from stylecap.plugins.captions.rerank import COLOUR_WORDS
from stylecap.plugins.captions.text import tokenize

PANEL = Path(__file__).with_name("panel")
STYLES = ("gloomy", "sunny")
PICTURES = (".jpg", ".jpeg", ".png")


def words(text: str) -> tuple[str, ...]:
    """A sentence's words, punctuation aside: what novelty compares."""
    return tuple(t for t in tokenize(text) if t[0].isalnum())


def polarity(text: str) -> float:
    from textblob import TextBlob  # pip install textblob: the independent sentiment scorer

    return TextBlob(text).sentiment.polarity


def sheet(rows: list[dict], systems: list[str], path: Path, thumb: int = 96) -> None:
    """One line per photo and style: the stylised picture, then each system's caption under its name."""
    font = ImageFont.load_default(size=13)
    line, width = 18, thumb + 800
    height = len(rows) * max(thumb, line * len(systems)) + 10
    canvas = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(canvas)
    y = 5
    for row in rows:
        picture = Image.open(row["picture"]).convert("RGB")
        picture.thumbnail((thumb, thumb))
        canvas.paste(picture, (5, y))
        for k, system in enumerate(systems):
            draw.text((thumb + 10, y + k * line), f"{system}:", fill=(90, 90, 90), font=font)
            draw.text((thumb + 150, y + k * line), row["captions"][system][:95], fill="black", font=font)
        y += max(thumb, line * len(systems))
    canvas.save(path, quality=70)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--system", action="append", required=True,
                        help="NAME (shipped weights) or NAME=MODEL (a run folder or model file)")  # fmt: skip
    parser.add_argument("--photos", type=int, default=22, help="how many panel photos (spread over the panel)")
    parser.add_argument("--photo-dir", type=Path, help="caption every picture in this folder instead (new photos)")
    parser.add_argument("--size", type=int, default=384)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--sheet", type=Path)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    if args.photo_dir:
        chosen = [{"file": str(p)} for p in sorted(args.photo_dir.iterdir()) if p.suffix.lower() in PICTURES]
    else:
        labels = json.loads((PANEL / "labels.json").read_text())
        chosen = labels[:: max(1, len(labels) // args.photos)][: args.photos]
    systems = {}
    for spec in args.system:
        name, _, model = spec.partition("=")
        label = name if name not in systems else spec  # a trained model under its backend's name
        systems[label] = load_backend(model) if model else stylecap.create("caption", name)
    names = list(systems)
    styles = {s: to_tensor(resize_max(read_image(PANEL / "styles" / f"{s}.jpg").rgb, args.size)) for s in STYLES}
    adain = stylecap.create("style", "adain")
    rows = []
    for label in chosen:
        photo = to_tensor(resize_max(read_image(PANEL / label["file"]).rgb, args.size))  # --photo-dir: absolute
        for style_name, style in styles.items():
            with torch.no_grad():
                picture = adain.stylize(photo, [style]).clamp(0, 1)
            path = args.out / f"{Path(label['file']).stem}-{style_name}.jpg"
            to_pil(picture).save(path, quality=90)
            said = {n: s.captions(picture, content=photo, seed=0) for n, s in systems.items()}
            condition = next(iter(said.values())).condition
            rows.append({
                "photo": label["file"], "style": style_name, "picture": str(path),
                "colours": [c.term for c in condition.colours] if condition else [],
                "feeling": condition.feeling if condition else None,
                "captions": {n: c.texts[0] for n, c in said.items()},
            })  # fmt: skip
    corpus = load_corpus(CorpusOptions(mentions_only=False))
    seen = {words(s.text) for s in corpus.train}
    print(f"{len(chosen)} photos x {len(STYLES)} styles\n")
    print("| system | sunny more positive (TextBlob) | colour words the picture lacks | novel | distinct |")
    print("|---|---|---|---|---|")
    for name in names:
        pairs = [(rows[i]["captions"][name], rows[i + 1]["captions"][name]) for i in range(0, len(rows), 2)]
        moved = sum(polarity(sunny) > polarity(gloomy) for gloomy, sunny in pairs)
        clashes = sum(
            any(COLOUR_WORDS[t] not in r["colours"] for t in tokenize(r["captions"][name]) if t in COLOUR_WORDS)
            for r in rows
        )
        novel = sum(words(r["captions"][name]) not in seen for r in rows)
        distinct = len({r["captions"][name] for r in rows})
        print(f"| {name} | {moved}/{len(pairs)} ({moved / len(pairs):.0%}) | {clashes}/{len(rows)} "
              f"| {novel}/{len(rows)} | {distinct}/{len(rows)} |")  # fmt: skip
    (args.out / "captions.json").write_text(json.dumps(rows, indent=1) + "\n")
    entries = [(r["picture"], name, r["captions"][name]) for r in rows for name in names]
    random.Random(0).shuffle(entries)
    with open(args.out / "blind.csv", "w", newline="") as blind_file, \
            open(args.out / "blind-key.csv", "w", newline="") as key_file:  # fmt: skip
        b, k = csv.writer(blind_file), csv.writer(key_file)
        b.writerow(["id", "picture", "caption"])
        k.writerow(["id", "system"])
        for n, (picture, name, text) in enumerate(entries):
            b.writerow([n, picture, text])
            k.writerow([n, name])
    if args.sheet:
        sheet(rows, names, args.sheet)


if __name__ == "__main__":
    main()
