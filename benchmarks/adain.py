"""AdaIN speed: pictures per second through the ``adain`` backend against a plain forward pass.

The plain reference is what a straightforward implementation does with the same weights: the
encoder as trained (batch norm separate), NCHW layout, fp32 (or ``--plain-bf16``), the decoder
after it, the content framed by the same reflected border so that both give the same picture. Both encode
the style (at 512 px) on every call, both stylise the same batch; timings are medians.

    python3 benchmarks/adain.py                       # 512 and 1024 px, batch 1 and 4, CPU
    python3 benchmarks/adain.py --device cuda --batch 1 32
"""

from __future__ import annotations

import argparse
import copy
import platform

import torch
from timing import add_device_options, device_of, median_seconds

from stylecap.core.host import create
from stylecap.core.styling import frame, shrink
from stylecap.plugins.adain.backend import BORDER, AdaIN, AdaINConfig
from stylecap.plugins.adain.statistics import code_vector, style_code, transfer


class Plain:
    """The same weights run the straightforward way: separate batch norm, NCHW, fp32."""

    def __init__(self, backend: AdaIN, device: torch.device, bf16: bool = False):
        self.encoder = create("encoder", backend.config.encoder).to(device)
        self.decoder = copy.deepcopy(backend.decoder).to(device)
        self.levels, self.condition = backend.config.levels, backend.config.condition
        self.bf16 = bf16

    def __call__(self, content: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        code = style_code(self.encode(shrink(style, 512), [*self.levels, *self.condition]))
        framed, crop = frame(content, self.decoder.multiple, BORDER)  # the same output as the backend's
        targets = transfer(self.encode(framed, self.levels), [code], [1.0])
        told = code_vector(code, self.condition) if self.condition else None
        with self.autocast(content):
            return crop(self.decoder(targets, told).float()).clamp(0, 1)

    def encode(self, image: torch.Tensor, layers: list[str]) -> dict[str, torch.Tensor]:
        """Features in fp32 whatever the precision: mean/std in bf16 would be off by percents."""
        with self.autocast(image):
            return {name: f.float() for name, f in self.encoder.features(image, layers).items()}

    def autocast(self, image: torch.Tensor) -> torch.autocast:
        return torch.autocast(image.device.type, dtype=torch.bfloat16, enabled=self.bf16)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_device_options(parser)
    parser.add_argument("--sizes", type=int, nargs="+", default=[512, 1024])
    parser.add_argument("--batch", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--weights", default="lite0", help="decoder weights (lite0: shipped; speed is the same)")
    parser.add_argument("--plain-bf16", action="store_true", help="run the plain reference under bf16 autocast")
    args = parser.parse_args()
    device, sync = device_of(args)

    backend = AdaIN(AdaINConfig(weights=args.weights, max_size=None))
    plain = Plain(backend, device, args.plain_bf16)
    g = torch.Generator().manual_seed(0)
    style = torch.rand(1, 3, 512, 512, generator=g).to(device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "cpu"
    print(
        f"device {name}, torch {torch.__version__}, threads {torch.get_num_threads()}, "
        f"precision auto, plain {'bf16 autocast' if args.plain_bf16 else 'fp32'}"
    )
    print("| size | batch | plain img/s | adain img/s | speed-up | max abs diff |")
    print("|---|---|---|---|---|---|")
    for size in args.sizes:
        for batch in args.batch:
            content = torch.rand(batch, 3, size, size, generator=g).to(device)
            with torch.no_grad():
                diff = (backend.stylize(content, [style]) - plain(content, style)).abs().max()
                t_plain = median_seconds(lambda c=content: plain(c, style), args.repeats, sync)
                t_fast = median_seconds(lambda c=content: backend.stylize(c, [style]), args.repeats, sync)
            print(
                f"| {size} | {batch} | {batch / t_plain:.2f} | {batch / t_fast:.2f} | {t_plain / t_fast:.2f}x "
                f"| {diff:.1e} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
