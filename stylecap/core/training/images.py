"""Image-folder datasets for style trainers."""

from __future__ import annotations

from pathlib import Path

import torch
from PIL import Image

from ..imageio import read_image, to_tensor


class UnpairedImages(torch.utils.data.Dataset):
    """Item i: folder A's i-th picture and a random folder B picture, each resized so its shorter
    side is ``load_size``, randomly cropped to ``crop_size`` and maybe flipped; ``[3, crop, crop]``
    in [0, 1]. The engine seeds every item, so the draws repeat exactly on resume."""

    def __init__(self, a: list[Path], b: list[Path], load_size: int, crop_size: int, flip: bool):
        self.a, self.b = a, b
        self.load_size, self.crop_size, self.flip = load_size, crop_size, flip

    def __len__(self) -> int:
        return max(len(self.a), len(self.b))

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        b = self.b[int(torch.randint(len(self.b), ()))]
        return self.load(self.a[index % len(self.a)]), self.load(b)

    def load(self, path: Path) -> torch.Tensor:
        image = read_image(path).rgb
        scale = self.load_size / min(image.size)
        image = image.resize([max(self.load_size, round(s * scale)) for s in image.size], Image.Resampling.BICUBIC)
        x = int(torch.randint(image.width - self.crop_size + 1, ()))
        y = int(torch.randint(image.height - self.crop_size + 1, ()))
        t = to_tensor(image.crop((x, y, x + self.crop_size, y + self.crop_size)))[0]
        return t.flip(-1) if self.flip and torch.rand(()) < 0.5 else t
