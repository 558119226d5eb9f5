"""Gumbel-softmax transformer GAN speed: one adversarial training step, and batched caption generation.

The adversarial step is the trainer's own ``train_step`` (Gumbel-max sampling, the relaxed pass, the generator
update through the discriminator, then a discriminator update against newly sampled sentences; no teacher-forcing
interleave). Training tokens/s counts the padded positions the step trains on: batch x (max_len + 1), once for
G's update and once for D's. On CUDA the step runs under bf16 autocast (``--precision``). Generation is
``GumbelTransformer.generate``: batched sampling (all captions at once), and grounded beam search (one caption
at a time, as the backend captions). Without ``--init`` the generator has the default sizes and the vocabulary
size of the shipped models, random weights, and an end-of-sentence bias for ten-token sentences.

    python3 benchmarks/gumbel.py                                    # CPU
    python3 benchmarks/gumbel.py --device cuda --batch 64 256
    python3 benchmarks/gumbel.py --init runs/gumbel                 # a trained model
"""

from __future__ import annotations

import argparse
import functools
import platform
import random
from collections.abc import Callable

import torch
from caption_stand_in import random_conditions, stand_in
from timing import add_device_options, device_of, median_seconds

from stylecap.core.training.engine import Engine
from stylecap.plugins.captions.tokens import BOS_ID, EOS_ID
from stylecap.plugins.gumbel.backend import GumbelTransformer
from stylecap.plugins.gumbel.generator import CaptionTransformer, TransformerConfig
from stylecap.plugins.gumbel.training import GumbelTrainConfig, GumbelTrainer, load_init


def transformer(width: int, layers: int, positions: int) -> Callable[[int, int], CaptionTransformer]:
    """A maker of random generators of the given sizes (heads of 32 channels, feed-forward twice the width)."""
    return lambda words, concepts: CaptionTransformer(TransformerConfig(
        vocab_size=words, cond_dim=concepts, width=width, heads=max(1, width // 32), layers=layers, ff=2 * width,
        positions=positions))  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_device_options(parser)
    parser.add_argument("--precision", default=None, help="fp32, bf16 or fp16 (default: bf16 on CUDA, fp32 on CPU)")
    parser.add_argument("--init", default=None, help="a gumbel-transformer run, final/ folder or model file")
    parser.add_argument("--batch", type=int, nargs="+", default=[32], help="training batch sizes")
    parser.add_argument("--captions", type=int, default=64, help="captions per generation batch")
    parser.add_argument("--beam-captions", type=int, default=8, help="captions timed with beam search")
    parser.add_argument("--words", type=int, default=2801, help="vocabulary of the stand-in model")
    parser.add_argument("--width", type=int, default=128)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    device, sync = device_of(args)
    torch.manual_seed(0)
    precision = args.precision or ("bf16" if device.type == "cuda" else "fp32")
    config = GumbelTrainConfig(device=str(device), precision=precision, mle_every=0, init=None, mle_steps=1)
    length = config.max_len + 1
    backend = (
        load_init(args.init)
        if args.init
        else stand_in(GumbelTransformer, transformer(args.width, args.layers, length), args.words)
    )
    net = backend.net.to(device)

    name = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "cpu"
    params = sum(p.numel() for p in net.parameters())
    print(f"device: {device} ({name}), precision {precision}, torch threads {torch.get_num_threads()}, "
          f"torch {torch.__version__}")  # fmt: skip
    print(f"vocabulary {len(backend.vocab)}, generator {params / 1e6:.2f}M parameters, width {net.config.width}, "
          f"{net.config.layers} layers, sentences of {length} positions\n")  # fmt: skip

    print("| batch | adversarial step, G + D (ms) | training tokens/s | mean generated length |")
    print("|---|---|---|---|")
    for batch in args.batch:
        trainer = GumbelTrainer(GumbelTrainConfig(**{**config.__dict__, "batch_size": batch}))
        trainer.vocab, trainer.concepts = backend.vocab, backend.concepts
        trainer.add_models(net)
        engine = Engine(trainer)
        for model in trainer.models.values():
            model.to(device)
        cond = random_conditions(batch, len(trainer.concepts), device)
        _, fake = trainer.generate(cond, length, 1.0, engine)
        real = torch.cat([torch.full_like(fake[:, :1], BOS_ID), fake], 1)  # stands in for real sentences
        real = real.masked_fill((real == EOS_ID).long().cumsum(1) - (real == EOS_ID).long() > 0, 0)
        engine.step = config.mle_steps + config.d_pretrain_steps + 1
        seconds = median_seconds(functools.partial(trainer.train_step, (real, cond), engine), args.repeats, sync)
        mean_length = float((real[:, 1:] != 0).sum(1).float().mean())
        print(f"| {batch} | {seconds * 1e3:.0f} | {2 * batch * length / seconds:,.0f} | {mean_length:.1f} |")

    rng = random.Random(0)
    sets = [rng.sample(backend.concepts, 2) for _ in range(args.captions)]
    print("\n| generation | captions | seconds | captions/s |")
    print("|---|---|---|---|")
    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16"):
        sampled = median_seconds(lambda: backend.generate(sets, temperature=1.0), args.repeats, sync)
        print(f"| sampling, batched | {len(sets)} | {sampled:.3f} | {len(sets) / sampled:,.1f} |")
        beams = sets[: args.beam_captions]
        searched = median_seconds(lambda: backend.generate(beams), args.repeats, sync)
        print(f"| grounded beam 5, one at a time | {len(beams)} | {searched:.3f} | {len(beams) / searched:,.1f} |")


if __name__ == "__main__":
    main()
