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


def repeats(history: Sequence[int], n: int) -> list[int]:
    """The words that would make the last ``n - 1`` words of ``history`` plus one an n-gram it already holds."""
    if n < 1 or len(history) < n - 1:
        return []
    tail = tuple(history[len(history) - n + 1 :])
    return [history[i + n - 1] for i in range(len(history) - n + 1) if tuple(history[i : i + n - 1]) == tail]


@torch.no_grad()
def beam_search(model, cond: torch.Tensor, *, bos: int, eos: int, max_len: int = 20, beam_size: int = 5,
                length_penalty: float = 0.0, banned: Sequence[int] = (), require: Sequence[int] = (),
                no_repeat_ngram: int = 0) -> tuple[list[int], float]:  # fmt: skip
    """The best sentence for one condition ``[1, C]`` and its log-probability. Finished hypotheses are ranked
    by log-prob / ((5 + length) / 6) ** length_penalty (Wu et al. 2016); 0 ranks by log-prob alone.

    ``require``: word ids of which the sentence must hold at least one (constrained beam search, Anderson et
    al. 2017, with one either-of constraint). Beams that hold one and beams that do not yet are kept in
    separate groups of ``beam_size``, and every open beam may take its likeliest required word, so the
    constraint neither crowds out fluent beams nor gets crowded out. If no sentence within ``max_len`` meets
    it, the best one that does not is returned.

    ``no_repeat_ngram`` > 0: no beam says the same n words twice (Paulus et al. 2018), the cure for beam
    search's loops ("of the smell of the smell of the smell").
    """
    required = set(require)
    state = model.start(cond)
    tokens = torch.full((1, 1), bos, dtype=torch.long, device=cond.device)
    scores = torch.zeros(1, device=cond.device)
    met = [not required]
    finished: list[tuple[float, list[int], float, bool]] = []
    for length in range(1, max_len + 1):
        logprobs, state = model.step(tokens[:, -1], state)
        logprobs[:, list(banned)] = float("-inf")
        if no_repeat_ngram:
            for beam, history in enumerate(tokens[:, 1:].tolist()):
                logprobs[beam, repeats(history, no_repeat_ngram)] = float("-inf")
        if length == max_len:  # the last word must end the sentence
            only_eos = torch.full_like(logprobs, float("-inf"))
            only_eos[:, eos] = 0.0
            logprobs = logprobs + only_eos
        totals = scores[:, None] + logprobs
        candidates = totals.flatten()
        best, flat = candidates.topk(min(beam_size * 2, int(torch.isfinite(candidates).sum())))
        pairs = list(zip(best.tolist(), (flat // logprobs.shape[1]).tolist(), (flat % logprobs.shape[1]).tolist()))
        if required and length < max_len:  # each open beam's best way to meet the constraint now
            ids = torch.tensor(sorted(required), device=cond.device)
            value, pick = totals[:, ids].max(1)
            pairs += [(v, b, int(ids[w])) for b, (v, w) in enumerate(zip(value.tolist(), pick.tolist()))
                      if not met[b] and v > float("-inf")]  # fmt: skip
            pairs.sort(key=lambda p: -p[0])
        keep: dict[bool, list[tuple[float, int, int]]] = {False: [], True: []}
        for score, beam, word in pairs:
            if word == eos:
                words_so_far = tokens[beam, 1:].tolist()
                finished.append((score / ((5 + length) / 6) ** length_penalty, words_so_far, score, met[beam]))
            elif (beam, word) not in {(b, w) for _, b, w in keep[met[beam] or word in required]}:
                group = keep[met[beam] or word in required]
                if len(group) < beam_size:
                    group.append((score, beam, word))
        open_beams = keep[True] + keep[False]
        best_open = max((s for s, _, _ in open_beams), default=float("-inf"))
        best_done = max((f[0] for f in finished if f[3]), default=float("-inf"))
        if not open_beams or (length_penalty == 0 and best_done >= best_open):
            break  # log-probs only fall, so no open beam can beat the best finished one
        index = torch.tensor([b for _, b, _ in open_beams], device=cond.device)
        tokens = torch.cat([tokens[index], torch.tensor([[w] for _, _, w in open_beams], device=cond.device)], 1)
        scores = torch.tensor([s for s, _, _ in open_beams], device=cond.device)
        met = [True] * len(keep[True]) + [False] * len(keep[False])
        state = reorder(state, index)
    _, words, logprob, _ = max(finished, key=lambda f: (f[3], f[0]))
    return words, logprob


@torch.no_grad()
def sequence_logprob(model, cond: torch.Tensor, words: Sequence[int], *, bos: int, eos: int) -> float:
    """Log-probability of ``words`` then ``eos`` given ``cond`` ``[1, C]``: to compare decoders fairly."""
    tokens = torch.tensor([[bos, *words]], device=cond.device)
    target = torch.tensor([[*words, eos]], device=cond.device)
    logprobs = model(tokens, cond).log_softmax(-1)
    return float(logprobs.gather(2, target[..., None]).sum())
