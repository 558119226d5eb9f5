"""What a caption is made from, measured on the labelled panel of offline photos (benchmarks/panel/).

Each photo is captioned as it is and after a gloomy and a sunny style (benchmarks/panel/styles/); for each,
the condition of the default captioner ("after") and of the old one ("before": concepts from the stylised
picture, ImageNet classes only) is compared with the hand-written labels:

- main subject in the top 3 concepts (photos whose subject has a concept; "person"/"people" subjects count
  when any people concept is among the three);
- person recall (photos with people where a people concept scores at least 0.1) and false alarms;
- colour-term agreement on the photo itself: the share of labelled colours named, and of named colours labelled;
- mood: how often the sunny version's pleasure is above the gloomy one's.

    python3 benchmarks/conditions.py                   # adain styles, 384 px; about 2 minutes on 2 CPU cores
    python3 benchmarks/conditions.py --json out.json   # also every photo's conditions
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

import stylecap
from stylecap.core.imageio import read_image, resize_max, to_tensor

PANEL = Path(__file__).with_name("panel")
PEOPLE = {"person", "people", "crowd", "face"}
SETTINGS = {
    "before": {"condition_on": "image", "detectors": []},
    "after": {},  # the captioner's defaults
}


def picture(path: Path, size: int) -> torch.Tensor:
    return to_tensor(resize_max(read_image(path).rgb, size))


def found_people(condition, threshold: float = 0.1) -> bool:
    return any(c in PEOPLE and s >= threshold for c, s in condition.concepts)


def subject_hit(condition, subject: str) -> bool:
    top = condition.top(3, 0.1)
    if subject in ("person", "people"):
        return bool(PEOPLE & set(top))
    return subject in top


def colour_agreement(condition, labelled: list[str]) -> tuple[float, float]:
    named = [c.term for c in condition.colours]
    recall = sum(t in named for t in labelled) / len(labelled)
    precision = sum(t in labelled for t in named) / max(len(named), 1)
    return recall, precision


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=384, help="longer side of every picture, in px")
    parser.add_argument("--style-backend", default="adain")
    parser.add_argument("--caption-backend", default="seqgan")
    parser.add_argument("--json", type=Path, help="write every photo's conditions here")
    args = parser.parse_args()
    torch.manual_seed(0)
    labels = json.loads((PANEL / "labels.json").read_text())
    styles = {name: picture(PANEL / "styles" / f"{name}.jpg", args.size) for name in ("gloomy", "sunny")}
    styler = stylecap.create("style", args.style_backend)
    captioners = {k: stylecap.create("caption", args.caption_backend, **v) for k, v in SETTINGS.items()}
    rows, start = [], time.perf_counter()
    for label in labels:
        photo = picture(PANEL / label["file"], args.size)
        versions = {"photo": photo}
        with torch.no_grad():
            versions |= {name: styler.stylize(photo, [style]).clamp(0, 1) for name, style in styles.items()}
        row = {"file": label["file"]}
        for setting, captioner in captioners.items():
            for version, image in versions.items():
                condition, _ = captioner.condition(image, content=photo)
                row[f"{setting}/{version}"] = condition
        rows.append((label, row))
    seconds = time.perf_counter() - start
    report(rows, seconds, args)
    if args.json:
        out = [{k: v.to_json() if k != "file" else v for k, v in row.items()} for _, row in rows]
        args.json.write_text(json.dumps(out, indent=1) + "\n")


def report(rows, seconds: float, args) -> None:
    with_subject = [(lab, row) for lab, row in rows if lab["subject_concept"]]
    with_people = [(lab, row) for lab, row in rows if lab["people"] != "none"]
    without = [(lab, row) for lab, row in rows if lab["people"] == "none"]
    print(f"{len(rows)} photos ({len(with_subject)} with a subject concept, {len(with_people)} with people), "
          f"{args.size} px, styles by {args.style_backend}; {seconds:.0f} s\n")  # fmt: skip
    print("| setting | picture | main subject in top 3 | person recall | person false alarms |")
    print("|---|---|---|---|---|")
    for setting in SETTINGS:
        for version in ("photo", "gloomy", "sunny"):
            key = f"{setting}/{version}"
            hits = sum(subject_hit(row[key], lab["subject_concept"]) for lab, row in with_subject)
            recall = sum(found_people(row[key]) for _, row in with_people)
            alarms = sum(found_people(row[key]) for _, row in without)
            print(f"| {setting} | {version} | {hits}/{len(with_subject)} ({hits / len(with_subject):.0%}) "
                  f"| {recall}/{len(with_people)} ({recall / max(len(with_people), 1):.0%}) "
                  f"| {alarms}/{len(without)} ({alarms / max(len(without), 1):.0%}) |")  # fmt: skip
    agreement = [colour_agreement(row["after/photo"], lab["colours"]) for lab, row in rows]
    recall = sum(a for a, _ in agreement) / len(agreement)
    precision = sum(b for _, b in agreement) / len(agreement)
    print(f"\ncolour terms on the photos: {recall:.0%} of labelled colours named, "
          f"{precision:.0%} of named ones labelled")  # fmt: skip
    brighter = sum(row["after/sunny"].mood["pleasure"] > row["after/gloomy"].mood["pleasure"] for _, row in rows)
    moods = [(row["after/gloomy"].feeling, row["after/sunny"].feeling) for _, row in rows]
    print(f"mood: sunny version more pleasant than gloomy for {brighter}/{len(rows)} ({brighter / len(rows):.0%}); "
          f"feeling words gloomy -> sunny, most common: {max(set(moods), key=moods.count)}")  # fmt: skip
    misses = [lab["file"] for lab, row in with_subject if not subject_hit(row["after/gloomy"], lab["subject_concept"])]
    print(f"after, gloomy: main subject missed in {', '.join(misses) or 'none'}")


if __name__ == "__main__":
    main()
