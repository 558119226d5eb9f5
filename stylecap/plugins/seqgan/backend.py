"""``seqgan``: the mle-lstm generator after adversarial fine-tuning; it captions and decodes the same way."""

from __future__ import annotations

from pathlib import Path

from stylecap.plugins.captions.captioner import Captioner
from stylecap.plugins.captions.model import ConditionalLSTM


class SeqGAN(Captioner):
    """A conditional LSTM fine-tuned as a SeqGAN policy: the picture's concepts in, a colloquial sentence out.

    Trained by `stylecap train caption seqgan`, warm-started from mle-lstm, against a discriminator that
    judges whether a sentence is real and about the picture's concepts. Same options and decoding as mle-lstm.
    """

    name = "seqgan"
    default_weights = Path(__file__).with_name("weights") / "seqgan.safetensors"
    network = ConditionalLSTM
