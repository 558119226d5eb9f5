"""SeqGAN speed: rollout rewards batched against the original per-prefix loop, and one adversarial step.

Both reward functions run in the same process on the same rollout network, discriminator and generated
sentences; timings are medians. The adversarial step is the trainer's own ``train_step`` (policy-gradient
update with rollout rewards, then a discriminator update). Without ``--init`` the networks have the sizes of
the mle-lstm model in docs/captions.md with random weights, and the end-of-sentence bias is set so that
sampled sentences run about ten tokens, like a trained model's.

    python3 benchmarks/seqgan.py                         # CPU
    python3 benchmarks/seqgan.py --device cuda --batch 64 --rollouts 16
    python3 benchmarks/seqgan.py --init runs/mle          # a trained mle-lstm as the generator
"""

from __future__ import annotations

import argparse
import functools
import math
import platform

import torch
from timing import median_seconds

from stylecap.core.training.engine import Engine
from stylecap.plugins.captions.backend import MLELSTM
from stylecap.plugins.captions.concepts import ConceptVocab
from stylecap.plugins.captions.model import ConditionalLSTM
from stylecap.plugins.captions.seqgan.rewards import BOS_ID, EOS_ID, for_judge, naive_rollout_rewards, rollout_rewards
from stylecap.plugins.captions.seqgan.trainer import SeqGANTrainConfig, SeqGANTrainer, load_init
from stylecap.plugins.captions.text import SPECIALS, Vocab


def stand_in(words: int, embed: int, hidden: int, mean_length: float) -> MLELSTM:
    """A random generator shaped like the trained one, ending sentences after ``mean_length`` tokens on average."""
    concepts = ConceptVocab.default().names
    vocab = Vocab([*SPECIALS, *(f"w{i}" for i in range(words - len(SPECIALS)))])
    net = ConditionalLSTM(len(vocab), len(concepts), embed, hidden)
    with torch.no_grad():
        net.out.bias[EOS_ID] = math.log(len(vocab) / (mean_length - 1))
    return MLELSTM.from_parts(net, vocab, concepts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--init", default=None, help="an mle-lstm run, final/ folder or model file")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--rollouts", type=int, nargs="+", default=[8, 16])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    device = torch.device(args.device)
    sync = torch.cuda.synchronize if device.type == "cuda" else lambda: None
    backend = load_init(args.init) if args.init else stand_in(2801, 64, 160, 10.0)

    config = SeqGANTrainConfig(device=str(device), batch_size=args.batch, mle_every=0)
    trainer = SeqGANTrainer(config)
    trainer.warm_start(backend)
    trainer.add_adversaries()
    engine = Engine(trainer)
    for model in trainer.models.values():
        model.to(device)
    max_len = config.max_len + 1
    concepts = torch.randint(len(trainer.concepts), (args.batch, 2), device=device)
    cond = torch.zeros(args.batch, len(trainer.concepts), device=device).scatter_(1, concepts, 1.0)
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
