"""SeqGAN speed: rollout rewards batched against the original per-prefix loop, and one adversarial step.

Both reward functions run in the same process on the same rollout network, discriminator and generated
sentences; timings are medians. The adversarial step is the trainer's own ``train_step`` (policy-gradient
update with rollout rewards, then a discriminator update). Without ``--init`` the networks have the sizes of
the mle-lstm model in docs/captions.md ("Model cards") with random weights, and the end-of-sentence bias is
set so that sampled sentences run about ten tokens, like a trained model's. Measurements: docs/studies/captions.md.

    python3 benchmarks/seqgan.py                         # CPU
    python3 benchmarks/seqgan.py --device cuda --batch 64 --rollouts 16
    python3 benchmarks/seqgan.py --init runs/mle          # a trained mle-lstm as the generator
"""

from __future__ import annotations

import argparse
import functools
import platform

import torch
from caption_stand_in import random_conditions, stand_in
from timing import add_device_options, device_of, median_seconds

from stylecap.core.training.engine import Engine
from stylecap.plugins.captions.backend import MLELSTM
from stylecap.plugins.captions.model import ConditionalLSTM
from stylecap.plugins.captions.tokens import BOS_ID, EOS_ID
from stylecap.plugins.seqgan.rewards import for_judge, naive_rollout_rewards, rollout_rewards
from stylecap.plugins.seqgan.training import SeqGANTrainConfig, SeqGANTrainer, load_init


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_device_options(parser)
    parser.add_argument("--init", default=None, help="an mle-lstm run, final/ folder or model file")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--rollouts", type=int, nargs="+", default=[8, 16])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    device, sync = device_of(args)
    torch.manual_seed(0)
    lstm = lambda words, concepts: ConditionalLSTM(words, concepts, 64, 160)  # noqa: E731 (mle-lstm's sizes)
    backend = load_init(args.init) if args.init else stand_in(MLELSTM, lstm, 2801)

    config = SeqGANTrainConfig(device=str(device), batch_size=args.batch, mle_every=0)
    trainer = SeqGANTrainer(config)
    trainer.warm_start(backend)
    trainer.add_adversaries()
    engine = Engine(trainer)
    for model in trainer.models.values():
        model.to(device)
    max_len = config.max_len + 1
    cond = random_conditions(args.batch, len(trainer.concepts), device)
    fake = trainer.generate(cond)
    rollout, judge = trainer.models["rollout"], trainer.models["d"].eval()
    lengths = (fake != EOS_ID).sum(1).float() + 1

    name = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "cpu"
    print(f"device: {device} ({name}), torch threads {torch.get_num_threads()}, torch {torch.__version__}")
    print(f"vocabulary {len(trainer.vocab)}, hidden {rollout.hidden}, batch {args.batch} sentences of "
          f"{float(lengths.mean()):.1f} tokens on average ({fake.shape[1]} at most), max_len {max_len}\n")  # fmt: skip
    print("| rollouts | batched (ms / batch) | per-prefix loop (ms / batch) | speed-up |")
    print("|---|---|---|---|")
    for n in args.rollouts:
        batched, naive = (
            median_seconds(functools.partial(fn, rollout, judge, fake, cond, rollouts=n, max_len=max_len),
                           args.repeats, sync)
            for fn in (rollout_rewards, naive_rollout_rewards)
        )  # fmt: skip
        print(f"| {n} | {batched * 1e3:.0f} | {naive * 1e3:.0f} | {naive / batched:.1f}x |")

    real = torch.cat([torch.full_like(fake[:, :1], BOS_ID), for_judge(fake, max_len)], 1)  # as SentenceData gives
    print("\n| rollouts | adversarial step, G + D (ms) |")
    print("|---|---|")
    for n in args.rollouts:
        trainer.config.rollouts = n
        engine.step = config.mle_steps + config.d_pretrain_steps + 1
        seconds = median_seconds(functools.partial(trainer.train_step, (real, cond), engine), args.repeats, sync)
        print(f"| {n} | {seconds * 1e3:.0f} |")


if __name__ == "__main__":
    main()
