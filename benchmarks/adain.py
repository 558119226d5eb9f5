"""AdaIN speed: pictures per second through the ``adain`` backend against a plain forward pass.

The plain reference is what a straightforward implementation does with the same weights: the
encoder as trained (batch norm separate), NCHW layout, fp32, the decoder after it. Both encode
the style (at 512 px) on every call, both stylise the same batch; timings are medians.

    python3 benchmarks/adain.py                       # 512 and 1024 px, batch 1 and 4, CPU
    python3 benchmarks/adain.py --device cuda --batch 1 32
"""

from __future__ import annotations

import argparse
import copy
import platform

import torch
from timing import median_seconds

from stylecap.core.plugins import create
from stylecap.core.styling import shrink
from stylecap.plugins.adain.backend import AdaIN, AdaINConfig
from stylecap.plugins.adain.statistics import style_code, transfer


class Plain:
    """The same weights run the straightforward way: separate batch norm, NCHW, fp32."""

    def __init__(self, backend: AdaIN, device: torch.device):
        self.encoder = create("encoder", backend.config.encoder).to(device)
        self.decoder = copy.deepcopy(backend.decoder).to(device)
        self.levels = backend.config.levels

    def __call__(self, content: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        code = style_code(self.encoder.features(shrink(style, 512), self.levels))
        targets = transfer(self.encoder.features(content, self.levels), [code], [1.0])
        return self.decoder(targets).clamp(0, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--sizes", type=int, nargs="+", default=[512, 1024])
    parser.add_argument("--batch", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--weights", default="lite0", help="decoder weights (lite0: shipped; speed is the same)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)

    backend = AdaIN(AdaINConfig(weights=args.weights, max_size=None))
    plain = Plain(backend, device)
    g = torch.Generator().manual_seed(0)
    style = torch.rand(1, 3, 512, 512, generator=g).to(device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "cpu"
    print(f"device {name}, torch {torch.__version__}, threads {torch.get_num_threads()}, precision auto")
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
