"""The conditional LSTM language model behind ``mle-lstm`` (and the generator the GAN backends start from)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

State = tuple[torch.Tensor, torch.Tensor, torch.Tensor]
"""``(h, c, context)``: LSTM state ``[layers, B, H]`` twice, and the condition's projection ``[B, H]``."""


class ConditionalLSTM(nn.Module):
    """A word-level LSTM told about the picture twice: the condition sets its initial state and is fed,
    projected, beside every word (so it is not forgotten over a long sentence)."""

    def __init__(self, vocab_size: int, cond_dim: int, embed: int = 128, hidden: int = 256, layers: int = 1,
                 dropout: float = 0.1):  # fmt: skip
        super().__init__()
        self.layers, self.hidden = layers, hidden
        self.embed = nn.Embedding(vocab_size, embed, padding_idx=0)
        self.cond = nn.Sequential(nn.Linear(cond_dim, hidden), nn.Tanh())
        self.init = nn.Linear(hidden, 2 * layers * hidden)
        self.lstm = nn.LSTM(embed + hidden, hidden, layers, batch_first=True, dropout=dropout if layers > 1 else 0.0)
        self.drop = nn.Dropout(dropout)
        self.out = nn.Linear(hidden, vocab_size)

    @classmethod
    def from_state(cls, state: dict[str, torch.Tensor]) -> ConditionalLSTM:
        """A model shaped like ``state`` (a ``state_dict``): sizes are read from the tensors."""
        vocab_size, embed = state["embed.weight"].shape
        hidden, cond_dim = state["cond.0.weight"].shape
        layers = sum(k.startswith("lstm.weight_ih_l") for k in state)
        return cls(vocab_size, cond_dim, embed, hidden, layers)

    def start(self, cond: torch.Tensor) -> State:
        context = self.cond(cond)
        h, c = torch.tanh(self.init(context)).view(-1, 2, self.layers, self.hidden).permute(1, 2, 0, 3)
        return h.contiguous(), c.contiguous(), context

    def forward(self, tokens: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        """Teacher forcing: logits ``[B, T, V]`` for the word after each of ``tokens`` ``[B, T]``."""
        h, c, context = self.start(cond)
        x = torch.cat([self.embed(tokens), context[:, None].expand(-1, tokens.shape[1], -1)], -1)
        out, _ = self.lstm(self.drop(x), (h, c))
        return self.out(self.drop(out))

    def step(self, token: torch.Tensor, state: State) -> tuple[torch.Tensor, State]:
        """One word ``[B]`` in, log-probabilities of the next ``[B, V]`` out."""
        h, c, context = state
        x = torch.cat([self.embed(token), context], -1)[:, None]
        out, (h, c) = self.lstm(x, (h, c))
        return self.out(out[:, 0]).log_softmax(-1), (h, c, context)


def reorder(state: State, index: torch.Tensor) -> State:
    """Pick rows of a batch of states (beam search keeps the best continuations). A state that is not the
    LSTM's ``(h, c, context)`` (a transformer's) picks its own rows through its ``reorder`` method."""
    if hasattr(state, "reorder"):
        return state.reorder(index)
    h, c, context = state
    return h[:, index], c[:, index], context[index]


def pack_words(words: Sequence[str]) -> torch.Tensor:
    """Words as a uint8 tensor, so a vocabulary travels inside a safetensors file with the weights."""
    return torch.tensor(list("\n".join(words).encode()), dtype=torch.uint8)


def unpack_words(tensor: torch.Tensor) -> list[str]:
    text = bytes(tensor.tolist()).decode()
    return text.split("\n") if text else []
