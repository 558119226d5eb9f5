"""``mle-lstm``: the maximum-likelihood baseline that both caption GANs are measured against."""

from __future__ import annotations

from pathlib import Path

from .captioner import Captioner
from .model import ConditionalLSTM


class MLELSTM(Captioner):
    """A conditional LSTM language model (MLE baseline): the picture's concepts in, a colloquial sentence out.

    Trained on informal chat sentences that mention the concepts (`stylecap train caption mle-lstm`), or on
    paired pictures and captions (`--paired coco|flickr|styled`): such a model has no concepts and reads the
    picture's pooled features from the condition encoder it was trained with.
    """

    name = "mle-lstm"
    default_weights = Path(__file__).with_name("data") / "mle-lstm.safetensors"
    network = ConditionalLSTM
