"""SeqGAN's rewards (Yu et al. 2017): how real the discriminator expects a sentence to end up, from each word on.

The reward of word t of a generated sentence is the discriminator's mean probability of "real" over N
completions of its first t words, sampled from a rollout network that lags the generator; the last word's is
the discriminator on the sentence itself. :func:`rollout_rewards` samples every prefix's completions at once;
:func:`naive_rollout_rewards` is the original loop, the reference for tests and ``benchmarks/seqgan.py``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from stylecap.plugins.captions.concepts import ConceptVocab
from stylecap.plugins.captions.model import reorder
from stylecap.plugins.captions.text import Vocab
from stylecap.plugins.captions.tokens import BANNED, BOS_ID, EOS_ID, PAD_ID, ended


def for_judge(tokens: torch.Tensor, length: int) -> torch.Tensor:
    """Sentences as the discriminator sees real ones: ``<pad>`` after ``<eos>``, padded to ``length`` tokens."""
    return F.pad(tokens.masked_fill(ended(tokens), PAD_ID), (0, length - tokens.shape[1]), value=PAD_ID)


def draw(logprobs: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """One token per row from the policy: the distribution over the words the generator may say.

    By inverting the cumulative distribution: one random number per row, where ``torch.multinomial`` draws
    one per word (two thirds of the rollout time with 2,800 words on a CPU)."""
    banned = torch.tensor(BANNED, device=logprobs.device)
    cdf = logprobs.float().exp().index_fill_(1, banned, 0.0).cumsum(1)
    u = torch.rand(len(cdf), 1, device=cdf.device, generator=generator) * cdf[:, -1:]
    return torch.searchsorted(cdf, u, right=True)[:, 0].clamp(max=cdf.shape[1] - 1)


def judge_prob(judge: nn.Module, tokens: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
    return torch.sigmoid(judge(tokens, cond).float())


def prefix_states(model, words: torch.Tensor, cond: torch.Tensor):
    """One pass over ``<bos> words``: next-word log-probs ``[t, B, V]`` and LSTM states ``[layers, t, B, H]``
    after each prefix ``words[:, :t]``, and the condition's context ``[B, H]``."""
    state = model.start(cond)
    _, state = model.step(torch.full_like(words[:, 0], BOS_ID), state)
    logprobs, hs, cs = [], [], []
    for t in range(words.shape[1]):
        out, state = model.step(words[:, t], state)
        logprobs.append(out)
        hs.append(state[0])
        cs.append(state[1])
    return torch.stack(logprobs), torch.stack(hs, 1), torch.stack(cs, 1), state[2]


@torch.no_grad()
def rollout_rewards(rollout, judge: nn.Module, tokens: torch.Tensor, cond: torch.Tensor, *, rollouts: int,
                    max_len: int, generator: torch.Generator | None = None) -> torch.Tensor:  # fmt: skip
    """Rewards ``[B, T]`` for generated sentences ``tokens`` ``[B, T]`` (as ``decoding.sample`` gives them),
    each completed to at most ``max_len`` tokens.

    The rollout network reads each sentence once, keeping its state after every prefix. Then the
    ``(T - 1) * rollouts`` completions of every sentence are sampled together, one token for all of them per
    step, each row leaving the batch when it ends; one discriminator pass scores them all.
    """
    batch, length = tokens.shape
    if length > max_len:
        raise ValueError(f"sentences of {length} tokens are longer than max_len {max_len}")
    full = for_judge(tokens, max_len)
    if length == 1:
        return judge_prob(judge, full, cond)[:, None]
    logprobs, h, c, context = prefix_states(rollout, tokens[:, :-1], cond)
    # row ((t - 1) * rollouts + n) * batch + b: rollout n of sentence b after its first t words
    prefix = torch.arange(1, length, device=tokens.device).repeat_interleave(rollouts * batch)
    sentence = torch.arange(batch, device=tokens.device).repeat((length - 1) * rollouts)
    step_of = (prefix - 1) * batch + sentence  # where each row's prefix state sits in [t, B]
    ended_by = (tokens[:, :-1] == EOS_ID).cumsum(1).T.flatten() > 0  # [t, B]: the prefix holds <eos>
    todo = (~ended_by[step_of]).nonzero()[:, 0]  # the other rows' completions are their sentences
    seqs = full[sentence[todo]].masked_fill(torch.arange(max_len, device=tokens.device) >= prefix[todo, None], PAD_ID)
    where = step_of[todo]
    state = (h.flatten(1, 2)[:, where], c.flatten(1, 2)[:, where], context[sentence[todo]])
    out, at = logprobs.flatten(0, 1)[where], prefix[todo]
    rows = torch.arange(len(todo), device=tokens.device)  # rows of seqs still being written
    while len(rows):
        token = draw(out, generator)
        seqs[rows, at] = token
        going = (token != EOS_ID) & (at + 1 < max_len)
        rows, at, state = rows[going], at[going] + 1, reorder(state, going)
        if len(rows):
            out, state = rollout.step(token[going], state)
    scores = judge_prob(judge, torch.cat([seqs, full]), torch.cat([cond[sentence[todo]], cond]))
    whole = scores[len(todo) :]
    completed = whole[sentence].index_put((todo,), scores[: len(todo)])
    rolled = completed.view(length - 1, rollouts, batch).mean(1).T
    return torch.cat([rolled, whole[:, None]], 1)


def complete(model, prefix: torch.Tensor, cond: torch.Tensor, max_len: int,
             generator: torch.Generator | None = None) -> torch.Tensor:  # fmt: skip
    """``prefix`` ``[B, t]`` read from ``<bos>`` and continued by sampling, to ``max_len`` tokens."""
    state = model.start(cond)
    token = torch.full_like(prefix[:, 0], BOS_ID)
    for i in range(prefix.shape[1]):
        _, state = model.step(token, state)
        token = prefix[:, i]
    done = (prefix == EOS_ID).any(1)
    out = [prefix]
    for _ in range(max_len - prefix.shape[1]):
        if done.all():
            break
        logprobs, state = model.step(token, state)
        token = draw(logprobs, generator).masked_fill(done, PAD_ID)
        done = done | (token == EOS_ID)
        out.append(token[:, None])
    return F.pad(torch.cat(out, 1), (0, max_len - prefix.shape[1] - len(out) + 1), value=PAD_ID)


@torch.no_grad()
def naive_rollout_rewards(rollout, judge: nn.Module, tokens: torch.Tensor, cond: torch.Tensor, *, rollouts: int,
                          max_len: int, generator: torch.Generator | None = None) -> torch.Tensor:  # fmt: skip
    """The same rewards as the original SeqGAN code computes them (``Rollout.get_reward``): for every rollout and
    every prefix, run the network from ``<bos>`` over the prefix, sample the rest and ask the discriminator."""
    batch, length = tokens.shape
    full = for_judge(tokens, max_len)
    rewards = torch.zeros(batch, length, device=tokens.device)
    for _ in range(rollouts):
        for t in range(1, length):
            rewards[:, t - 1] += judge_prob(judge, complete(rollout, full[:, :t], cond, max_len, generator), cond)
        rewards[:, -1] += judge_prob(judge, full, cond)
    return rewards / rollouts


@torch.no_grad()
def lag(rollout: nn.Module, generator: nn.Module, rate: float) -> None:
    """SeqGAN's rollout update, weight by weight: ``rollout = rate * rollout + (1 - rate) * generator``."""
    for r, g in zip(rollout.parameters(), generator.parameters()):
        r.lerp_(g, 1.0 - rate)


def coverage(tokens: torch.Tensor, cond: torch.Tensor, vocab: Vocab, concepts: list[str]) -> torch.Tensor:
    """Share of each condition's concepts the sentence names (synonyms and plurals count: ``ConceptVocab.find``).
    The condition's first ``len(concepts)`` values mark concepts; a tone may follow."""
    finder = ConceptVocab.default()
    shares = []
    for row, wanted in zip(tokens.tolist(), cond[:, : len(concepts)].cpu() > 0):
        names = {concepts[i] for i in wanted.nonzero()[:, 0].tolist()}
        shares.append(len(names & set(finder.find(vocab.decode(row)))) / max(1, len(names)))
    return torch.tensor(shares, device=tokens.device)
