"""``gumbel-transformer``: the transformer generator as a caption backend, decoded like mle-lstm (grounded beam
search by default), so its captions name the picture's concepts and no others."""

from __future__ import annotations

from pathlib import Path

from stylecap.plugins.captions.captioner import Captioner

from .generator import CaptionTransformer


class GumbelTransformer(Captioner):
    """A causal transformer trained as a GAN through the Gumbel-softmax: the picture's concepts in, a sentence out.

    Trained by `stylecap train caption gumbel-transformer` (teacher forcing, then adversarial updates whose
    gradient flows from the discriminator through the relaxation). Same options and decoding as mle-lstm.
    """

    name = "gumbel-transformer"
    default_weights = Path(__file__).with_name("weights") / "gumbel-transformer.safetensors"
    network = CaptionTransformer
