"""`lstm_ae`: deterministic sentence autoencoder, optionally denoising (Shen et al., 2020).

The encoder reads a noised sentence (training only), the decoder must write the clean
one. Scores: `rec_ppl` (perplexity of the clean sentence given the code), `token_acc`
(teacher-forced), and `test/bleu` of greedy reconstructions.

`skip_latent` (on in conf/model/lstm_ae.yaml) adds the code to the decoder's output layer at
every step as well: on WordNet it raised test BLEU from 0.27 to 0.37 at the same sizes and
epochs, since the code can then vote for the words it holds directly. `skip_gate=true` lets
the decoder's state gate that vote, against repeated words: 0.447 -> 0.531 with a 256-d code.

`code_norm=sphere` puts every code on the sphere of radius sqrt(latent_dim), so its
entries have unit RMS, as in ARAE (Zhao et al., 2018). Why: nothing bounds a plain AE's
code, and under Adam it grew to an RMS of 5-7 within 25 steps on WordNet, saturating the
decoder's initial state (tanh) for 98% of its units. At latent_dim=64 learning recovered
after a few hundred steps; at 256 it stalled for good, and the sphere fixes that. It is
not the default (`none`, the plain AE): at latent_dim=64 on WordNet it ended with a
slightly lower BLEU (experiments/text_wordnet). Codes the decoder is given (interpolations,
say) are projected onto the same sphere.
"""

import math
from typing import Literal, get_args

import torch
import torch.nn.functional as F

from aelab.data.text_noise import word_noise
from aelab.errors import AelabError
from aelab.models.text.base import TextModel, shift
from aelab.options import NonNegativeFloat

CodeNorm = Literal["sphere", "none"]
CODE_NORMS = get_args(CodeNorm)


class TextAutoencoder(TextModel):
    dashboard = {"sentence autoencoder": {
        "loss (nats per token)": [r"^train/loss(_epoch)?$", r"^val/loss$"],
        "reconstruction perplexity": [r"^(val|test)/rec_ppl$"],
        "token accuracy": [r"^val/token_acc$"],
        "BLEU of greedy reconstructions": [r"^test/bleu(_known)?$"]}}

    def __init__(self, *args, noise: dict[str, NonNegativeFloat] | None = None,
                 code_norm: CodeNorm = "none", **kwargs):
        super().__init__(*args, **kwargs)
        if code_norm not in CODE_NORMS:
            raise AelabError(f"model.code_norm={code_norm} is not one of: {', '.join(CODE_NORMS)}")
        self.code_norm = code_norm
        self.noise = dict(noise or {})
        unknown = set(self.noise) - {"drop", "blank", "substitute", "shuffle"}
        if unknown:
            raise AelabError(f"model.noise has unknown keys {sorted(unknown)}; use drop, blank, "
                             "substitute, shuffle")

    def project(self, z: torch.Tensor) -> torch.Tensor:
        if self.code_norm == "none":
            return z
        return F.normalize(z, dim=-1) * math.sqrt(z.shape[-1])

    def encode(self, tokens: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        return self.project(super().encode(tokens, lengths))

    def generate(self, z, n, **decoding):
        return super().generate(None if z is None else self.project(z), n, **decoding)

    def sample(self, n, **decoding):
        raise AelabError("lstm_ae has no prior to sample from; use lstm_vae or lstm_lm for "
                         "task=sample")

    def _step(self, batch: dict, stage: str) -> torch.Tensor:
        inputs, targets, lengths = shift(batch)
        source, source_lengths = batch["tokens"], batch["lengths"]
        if stage == "train":
            source, source_lengths = word_noise(source, source_lengths, self.vocab_size,
                                                **self.noise)
        z = self.encode(source, source_lengths)
        loss = self.score_tokens(stage, self.decoder(inputs, lengths, z), targets, "rec")
        if stage == "test":
            self.log_bleu(batch)
        return loss
