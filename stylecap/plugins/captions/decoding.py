"""Decoding a conditional LM: greedy, beam search, and sampling with temperature, top-k and top-p.

Every function works on anything with ``start(cond)`` and ``step(token, state)`` (see model.py), so
the GAN generators that share the LSTM decode the same way.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from .model import reorder


def filter_logits(logits: torch.Tensor, top_k: int = 0, top_p: float = 1.0) -> torch.Tensor:
    """Keep the ``top_k`` most likely words and the smallest set whose probability reaches ``top_p``."""
    if top_k > 0:
        kth = logits.topk(min(top_k, logits.shape[-1]), -1).values[..., -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p < 1.0:
        sorted_logits, order = logits.sort(-1, descending=True)
        probs = sorted_logits.softmax(-1)
        drop = probs.cumsum(-1) - probs >= top_p  # words whose predecessors already reach top_p
        logits = logits.masked_fill(drop.scatter(-1, order, drop), float("-inf"))
    return logits


@torch.no_grad()
def sample(model, cond: torch.Tensor, *, bos: int, eos: int, max_len: int = 20, greedy: bool = False,
           temperature: float = 1.0, top_k: int = 0, top_p: float = 1.0, banned: Sequence[int] = (),
           generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:  # fmt: skip
    """A batch of sentences, one per row of ``cond``: tokens ``[B, max_len]`` (``eos``-padded) and their
    log-probabilities under the model (at temperature 1, unfiltered)."""
    batch = cond.shape[0]
    state = model.start(cond)
    token = torch.full((batch,), bos, dtype=torch.long, device=cond.device)
    done = torch.zeros(batch, dtype=torch.bool, device=cond.device)
    total = torch.zeros(batch, device=cond.device)
    out = []
    for _ in range(max_len):
        logprobs, state = model.step(token, state)
        logprobs[:, list(banned)] = float("-inf")
        if greedy:
            token = logprobs.argmax(-1)
        else:
            logits = filter_logits(logprobs / temperature, top_k, top_p)
            token = torch.multinomial(logits.softmax(-1), 1, generator=generator)[:, 0]
        token = token.masked_fill(done, eos)
        total += logprobs.gather(1, token[:, None])[:, 0].masked_fill(done, 0.0)
        out.append(token)
        done |= token == eos
        if done.all():
            break
    return torch.stack(out, 1), total


@torch.no_grad()
def beam_search(model, cond: torch.Tensor, *, bos: int, eos: int, max_len: int = 20, beam_size: int = 5,
                length_penalty: float = 0.0, banned: Sequence[int] = ()) -> tuple[list[int], float]:  # fmt: skip
    """The best sentence for one condition ``[1, C]`` and its log-probability. Finished hypotheses are ranked
    by log-prob / ((5 + length) / 6) ** length_penalty (Wu et al. 2016); 0 ranks by log-prob alone."""
    state = model.start(cond)
    tokens = torch.full((1, 1), bos, dtype=torch.long, device=cond.device)
    scores = torch.zeros(1, device=cond.device)
    finished: list[tuple[float, list[int], float]] = []
    for length in range(1, max_len + 1):
        logprobs, state = model.step(tokens[:, -1], state)
        logprobs[:, list(banned)] = float("-inf")
        if length == max_len:  # the last word must end the sentence
            only_eos = torch.full_like(logprobs, float("-inf"))
            only_eos[:, eos] = 0.0
            logprobs = logprobs + only_eos
        candidates = (scores[:, None] + logprobs).flatten()
        best, flat = candidates.topk(min(beam_size * 2, int(torch.isfinite(candidates).sum())))
        beams, words = flat // logprobs.shape[1], flat % logprobs.shape[1]
        keep = []
        for score, beam, word in zip(best.tolist(), beams.tolist(), words.tolist()):
            if word == eos:
                words_so_far = tokens[beam, 1:].tolist()
                finished.append((score / ((5 + length) / 6) ** length_penalty, words_so_far, score))
            elif len(keep) < beam_size:
                keep.append((score, beam, word))
        best_open = max((s for s, _, _ in keep), default=float("-inf"))
        best_done = max((f[0] for f in finished), default=float("-inf"))
        if not keep or (length_penalty == 0 and best_done >= best_open):
            break  # log-probs only fall, so no open beam can beat the best finished one
        index = torch.tensor([b for _, b, _ in keep], device=cond.device)
        tokens = torch.cat([tokens[index], torch.tensor([[w] for _, _, w in keep], device=cond.device)], 1)
        scores = torch.tensor([s for s, _, _ in keep], device=cond.device)
        state = reorder(state, index)
    _, words, logprob = max(finished, key=lambda f: f[0])
    return words, logprob


@torch.no_grad()
def sequence_logprob(model, cond: torch.Tensor, words: Sequence[int], *, bos: int, eos: int) -> float:
    """Log-probability of ``words`` then ``eos`` given ``cond`` ``[1, C]``: to compare decoders fairly."""
    tokens = torch.tensor([[bos, *words]], device=cond.device)
    target = torch.tensor([[*words, eos]], device=cond.device)
    logprobs = model(tokens, cond).log_softmax(-1)
    return float(logprobs.gather(2, target[..., None]).sum())
