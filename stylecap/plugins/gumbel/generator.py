"""The generator: a small causal transformer decoder told the picture's concepts as prefix tokens, and
Gumbel-softmax sampling from it, so a discriminator's gradient reaches it without policy gradients."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from stylecap.core.component import Component
from stylecap.core.config import field
from stylecap.plugins.captions.tokens import BANNED, BOS_ID, EOS_ID, PAD_ID, ended


@dataclass
class TransformerConfig:
    vocab_size: int = field(4, help="Words, the specials included (set from the vocabulary when training).")
    cond_dim: int = field(1, help="Length of the condition vector (the concept count).")
    width: int = field(128, help="Model width (word vectors, attention, residual stream).")
    heads: int = field(4, help="Attention heads; must divide width.")
    layers: int = field(2, help="Transformer blocks.")
    ff: int = field(256, help="Feed-forward hidden size in each block.")
    prefix: int = field(1, help="Condition prefix tokens the concepts are projected into.")
    positions: int = field(32, help="Longest input the position table covers, in tokens.")
    dropout: float = field(0.1, help="Dropout in the blocks and on the inputs.")

    def validate(self) -> None:
        for name in ("vocab_size", "cond_dim", "width", "heads", "layers", "ff", "prefix", "positions"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, not {getattr(self, name)}")
        if self.width % self.heads:
            raise ValueError(f"heads must divide width ({self.width}), not {self.heads}")
        if not 0 <= self.dropout < 1:
            raise ValueError(f"dropout must be in [0, 1), not {self.dropout}")


@dataclass
class DecoderState:
    """What the transformer needs to say the next word: the words so far ``[B, t]`` and the condition."""

    tokens: torch.Tensor
    cond: torch.Tensor

    def reorder(self, index: torch.Tensor) -> DecoderState:
        return DecoderState(self.tokens[index], self.cond[index])


class CaptionTransformer(Component, nn.Module):
    """A causal transformer decoder over words, the concepts projected into prefix tokens before the first one.

    Same interface as the conditional LSTM (``forward`` for teacher forcing, ``start``/``step`` for decoding),
    so greedy, sampling and grounded beam search decode it unchanged. ``step`` rereads the whole prefix (no
    cache): captions are at most ~25 tokens, and it keeps the model one plain ``nn.TransformerEncoder``.
    """

    name = "caption-transformer"
    Config = TransformerConfig

    def __init__(self, config: TransformerConfig | None = None):
        super().__init__(config)
        c = self.config
        self.embed = nn.Embedding(c.vocab_size, c.width)
        self.position = nn.Embedding(c.prefix + c.positions, c.width)
        self.cond = nn.Linear(c.cond_dim, c.prefix * c.width)
        block = nn.TransformerEncoderLayer(c.width, c.heads, c.ff, c.dropout, activation="gelu", batch_first=True,
                                           norm_first=True)  # fmt: skip
        self.blocks = nn.TransformerEncoder(block, c.layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(c.width)
        self.drop = nn.Dropout(c.dropout)
        self.out = nn.Linear(c.width, c.vocab_size)
        self.register_buffer("sizes", torch.tensor([c.heads, c.prefix]))  # what the weights' shapes do not tell

    @classmethod
    def from_state(cls, state: dict[str, torch.Tensor]) -> CaptionTransformer:
        """A model shaped like ``state`` (a ``state_dict``): sizes are read from the tensors."""
        vocab_size, width = state["embed.weight"].shape
        heads, prefix = (int(v) for v in state["sizes"])
        config = TransformerConfig(
            vocab_size=vocab_size,
            cond_dim=state["cond.weight"].shape[1],
            width=width,
            heads=heads,
            layers=len({k.split(".")[2] for k in state if k.startswith("blocks.layers.")}),
            ff=state["blocks.layers.0.linear1.weight"].shape[0],
            prefix=prefix,
            positions=state["position.weight"].shape[0] - prefix,
        )
        return cls(config)

    def forward(self, tokens: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        """Teacher forcing: logits ``[B, T, V]`` for the word after each of ``tokens`` ``[B, T]``."""
        c = self.config
        batch, length = tokens.shape
        if length > c.positions:
            raise ValueError(f"{length} tokens are more than the model's {c.positions} positions")
        x = torch.cat([self.cond(cond).view(batch, c.prefix, c.width), self.embed(tokens)], 1)
        x = self.drop(x + self.position.weight[: c.prefix + length])
        mask = nn.Transformer.generate_square_subsequent_mask(x.shape[1], device=x.device, dtype=x.dtype)
        h = self.blocks(x, mask=mask, is_causal=True)
        return self.out(self.norm(h[:, c.prefix :]))

    def start(self, cond: torch.Tensor) -> DecoderState:
        return DecoderState(torch.zeros(cond.shape[0], 0, dtype=torch.long, device=cond.device), cond)

    def step(self, token: torch.Tensor, state: DecoderState) -> tuple[torch.Tensor, DecoderState]:
        """One word ``[B]`` in, log-probabilities of the next ``[B, V]`` out."""
        tokens = torch.cat([state.tokens, token[:, None]], 1)
        return self(tokens, state.cond)[:, -1].float().log_softmax(-1), DecoderState(tokens, state.cond)


class _StraightThrough(torch.autograd.Function):
    """Forward: the hard one-hot, exactly. Backward: the gradient goes to the soft sample unchanged."""

    @staticmethod
    def forward(ctx, hard: torch.Tensor, soft: torch.Tensor) -> torch.Tensor:
        return hard.to(soft.dtype)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[None, torch.Tensor]:
        return None, grad


def banned_mask(logits: torch.Tensor) -> torch.Tensor:
    """The logits with the words the generator never says (``<pad>``, ``<bos>``, ``<unk>``) at -inf."""
    return logits.index_fill(-1, torch.tensor(BANNED, device=logits.device), float("-inf"))


def gumbel_noise(shape: torch.Size | tuple[int, ...], device: torch.device | str = "cpu") -> torch.Tensor:
    """Standard Gumbel noise, -log(-log U), from the global generator (so a resumed run redraws the same)."""
    u = torch.rand(shape, device=device).clamp_(1e-10, 1.0 - 1e-7)
    return -torch.log(-torch.log(u))


@torch.no_grad()
def gumbel_tokens(net: nn.Module, cond: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
    """Sentences ``[B, L]`` by the Gumbel-max trick, ``argmax(logits + noise)`` word by word: exact samples of
    the model's distribution, whose noise ``[B, L, V]`` the relaxation then reuses. Padded with ``<eos>``."""
    state = net.start(cond)
    token = torch.full((cond.shape[0],), BOS_ID, dtype=torch.long, device=cond.device)
    done = torch.zeros_like(token, dtype=torch.bool)
    out = []
    for t in range(noise.shape[1]):
        logprobs, state = net.step(token, state)
        token = (banned_mask(logprobs) + noise[:, t].float()).argmax(-1).masked_fill(done, EOS_ID)
        out.append(token)
        done |= token == EOS_ID
    return torch.stack(out, 1)


def relax(logits: torch.Tensor, noise: torch.Tensor, tokens: torch.Tensor, beta: float, hard: bool) -> torch.Tensor:
    """The discriminator's view of generated sentences ``[B, L, V]``: softmax(β (logits + noise)) per word, or
    with ``hard`` the one-hot of ``tokens`` whose gradient is the soft one's (straight-through). Positions after
    a sentence's ``<eos>`` are ``<pad>``, as in real sentences."""
    soft = (beta * (banned_mask(logits.float()) + noise.float())).softmax(-1)
    if hard:
        soft = _StraightThrough.apply(F.one_hot(tokens, soft.shape[-1]), soft)
    pad = F.one_hot(torch.full_like(tokens, PAD_ID), soft.shape[-1]).to(soft.dtype)
    return torch.where(ended(tokens)[..., None], pad, soft)
