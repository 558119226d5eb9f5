"""Rebuild the photo panel's JPEGs from the offline packages they come from.

The labels (labels.json) were written by hand after looking at each picture; this script only
re-creates the pictures: longer side 512 px, JPEG quality 88. Where each file comes from, and
under which licence, is in SOURCES.md.

    apt-get install -y mate-backgrounds lomiri-wallpapers-16.04 lomiri-wallpapers-20.04 \
        plasma-workspace-wallpapers
    apt-get download kphotoalbum && dpkg -x kphotoalbum_*.deb /tmp/kpa
    pip download --no-deps scikit-learn -d /tmp/wheels
    pip download --no-deps --only-binary=:all: "scipy==1.9.3" -d /tmp/wheels
    python benchmarks/panel/build_panel.py --kphotoalbum /tmp/kpa --wheels /tmp/wheels

scikit-image and matplotlib are read from the installed packages. scikit-learn's two sample
photos and scipy's raccoon (``face.dat``, dropped from scipy's wheels after 1.9) are read
straight out of the downloaded wheels, so neither needs installing.
"""

from __future__ import annotations

import argparse
import bz2
import io
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image

HERE = Path(__file__).parent
LONG_SIDE = 512
QUALITY = 88

# (output name, source kind, path inside that source)
PANEL: list[tuple[str, str, str]] = [
    ("01-astronaut.jpg", "skimage", "astronaut.png"),
    ("02-grace-hopper.jpg", "matplotlib", "grace_hopper.jpg"),
    ("03-cameraman.jpg", "skimage", "camera.png"),
    ("04-man-close-up.jpg", "kpa", "jesper.jpg"),
    ("05-woman-on-beach.jpg", "kpa", "anne_helene.jpg"),
    ("06-people-in-the-sea.jpg", "kpa", "cold_water.jpg"),
    ("07-couple-in-bar.jpg", "kpa", "bar55.jpg"),
    ("08-three-friends.jpg", "kpa", "qt-logo.jpg"),
    ("09-playing-pool.jpg", "kpa", "pool.jpg"),
    ("10-man-at-canyon.jpg", "kpa", "grand_canyon_2.jpg"),
    ("11-cat.jpg", "skimage", "chelsea.png"),
    ("12-coffee.jpg", "skimage", "coffee.png"),
    ("13-rocket.jpg", "skimage", "rocket.jpg"),
    ("14-motorcycle.jpg", "skimage", "motorcycle_left.png"),
    ("15-deep-field.jpg", "skimage", "hubble_deep_field.jpg"),
    ("16-retina.jpg", "skimage", "retina.jpg"),
    ("17-pagoda.jpg", "sklearn", "sklearn/datasets/images/china.jpg"),
    ("18-dahlia.jpg", "sklearn", "sklearn/datasets/images/flower.jpg"),
    ("19-raccoon.jpg", "scipy", "scipy/misc/face.dat"),
    ("20-dog-in-woods.jpg", "kpa", "donna.jpg"),
    ("21-rabbit.jpg", "kpa", "spiff.jpg"),  # scan border trimmed, see TRIM
    ("22-snowy-airport.jpg", "kpa", "snow.jpg"),
    ("23-dune-grass.jpg", "debian", "/usr/share/backgrounds/mate/nature/Dune.jpg"),
    ("24-storm.jpg", "debian", "/usr/share/backgrounds/mate/nature/Storm.jpg"),
    ("25-ladybird.jpg", "debian", "/usr/share/backgrounds/mate/nature/LadyBird.jpg"),
    ("26-marigold.jpg", "debian", "/usr/share/backgrounds/mate/nature/Garden.jpg"),
    ("27-grass.jpg", "debian", "/usr/share/backgrounds/mate/nature/GreenMeadow.jpg"),
    ("28-water-drop.jpg", "debian", "/usr/share/backgrounds/mate/nature/Aqua.jpg"),
    ("29-nuthatch.jpg", "debian", "/usr/share/backgrounds/Kleiber_by_Lukas_Baubkus.jpg"),
    ("30-fig.jpg", "debian", "/usr/share/backgrounds/Picture_0B_by_freespace.jpg"),
    ("31-paintbrushes.jpg", "debian", "/usr/share/backgrounds/Picture_1A_by_freespace.jpg"),
    ("32-drum-and-wine.jpg", "debian", "/usr/share/backgrounds/Wine_by_Jakkub_Mede.jpg"),
    ("33-mountain-meadow.jpg", "debian", "/usr/share/backgrounds/aitzgorri_by_Aitzol_Berasategi.jpg"),
    ("34-rocky-peaks.jpg", "debian", "/usr/share/backgrounds/picosdeeuropa_by_Aitzol_Berasategi.jpg"),
    ("35-two-dogs.jpg", "debian", "/usr/share/backgrounds/friends_by_Aitzol_Berasategi.jpg"),
    ("36-clock.jpg", "debian", "/usr/share/backgrounds/greentock_by_Peter_Nerlich.jpg"),
    ("37-forest-stream.jpg", "debian", "/usr/share/backgrounds/life_by_Aitzol_Berasategi.jpg"),
    ("38-dandelions.jpg", "debian", "/usr/share/backgrounds/seeding_by_Clements_Engelhardt.jpg"),
    ("39-sunset.jpg", "debian", "/usr/share/backgrounds/sunset_by_Aitzol_Berasategi.jpg"),
    ("40-rowing-boats.jpg", "debian", "/usr/share/wallpapers/EveningGlow/contents/images/2560x1600.jpg"),
    ("41-foggy-jetty.jpg", "debian", "/usr/share/wallpapers/ColdRipple/contents/images/2560x1600.jpg"),
    ("42-forest-path.jpg", "debian", "/usr/share/wallpapers/Path/contents/images/2560x1600.jpg"),
    ("43-kite.jpg", "debian", "/usr/share/wallpapers/Kite/contents/images/2560x1600.jpg"),
    ("44-cups.jpg", "debian", "/usr/share/wallpapers/ColorfulCups/contents/images/2560x1600.jpg"),
]

# Margins (left, top, right, bottom) in source pixels cut off before resizing.
TRIM: dict[str, tuple[int, int, int, int]] = {
    "04-man-close-up.jpg": (0, 0, 1, 0),  # a black column on the right edge
    "08-three-friends.jpg": (0, 0, 0, 5),  # the scan's white bottom edge
    "21-rabbit.jpg": (0, 0, 10, 5),  # a dark scanner border on the right and bottom edges
}


def _from_wheel(wheels: Path, prefix: str, member: str) -> bytes:
    for whl in sorted(wheels.glob(f"{prefix}-*.whl")):
        with zipfile.ZipFile(whl) as zf:
            if member in zf.namelist():
                return zf.read(member)
    raise FileNotFoundError(f"{member} in {wheels}/{prefix}-*.whl")


def load(kind: str, path: str, kpa: Path, wheels: Path) -> Image.Image:
    if kind == "skimage":
        import skimage

        return Image.open(Path(skimage.__file__).parent / "data" / path)
    if kind == "matplotlib":
        import matplotlib

        return Image.open(Path(matplotlib.get_data_path()) / "sample_data" / path)
    if kind == "sklearn":
        return Image.open(io.BytesIO(_from_wheel(wheels, "scikit_learn", path)))
    if kind == "scipy":
        raw = bz2.decompress(_from_wheel(wheels, "scipy", path))
        return Image.fromarray(np.frombuffer(raw, dtype=np.uint8).reshape(768, 1024, 3))
    if kind == "kpa":
        return Image.open(kpa / "usr/share/kphotoalbum/demo" / path)
    if kind == "debian":
        return Image.open(path)
    raise ValueError(kind)


def fit(im: Image.Image, long_side: int = LONG_SIDE) -> Image.Image:
    im = im.convert("RGB")
    w, h = im.size
    scale = long_side / max(w, h)
    return im.resize((max(1, round(w * scale)), max(1, round(h * scale))), Image.Resampling.LANCZOS)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--kphotoalbum", type=Path, default=Path("/tmp/kpa"), help="dpkg -x of kphotoalbum")
    ap.add_argument("--wheels", type=Path, default=Path("/tmp/wheels"), help="scikit-learn, scipy 1.9.3 wheels")
    ap.add_argument("--out", type=Path, default=HERE)
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    for name, kind, path in PANEL:
        im = load(kind, path, args.kphotoalbum, args.wheels)
        if name in TRIM:
            left, top, right, bottom = TRIM[name]
            im = im.crop((left, top, im.width - right, im.height - bottom))
        fit(im).save(args.out / name, quality=QUALITY)
        print(name)


if __name__ == "__main__":
    main()
