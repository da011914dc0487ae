"""`lstm_ae`: deterministic sentence autoencoder, denoising with `corruption=word_noise`
(Shen et al., 2020).

Scores: `rec_ppl` (perplexity of the clean sentence given the code), `token_acc`
(teacher-forced), and `test/bleu` of greedy reconstructions.

Its defaults (conf/model/lstm_ae.yaml) are the best recipe of experiments/text_wordnet: the
code is read from the encoder's final states and its max-pool (`model.encoder.pool`), it
also feeds the decoder's output layer through a gated vote (`model.decoder.skip=gated`: the
gated vote gave the best BLEU of the text_wordnet screen, the plain one less, none least:
experiments/text_wordnet/README.md#how-the-ae-got-to-bleu-05), and it lies on a sphere
(`code_norm`).

`code_norm=sphere` puts every code on the sphere of radius sqrt(latent_dim), so its
entries have unit RMS, as in ARAE (Zhao et al., 2018). Why: nothing bounds a plain AE's
code, and under Adam it grew large within a few dozen steps on WordNet, saturating the
decoder's initial state (tanh) for nearly all its units. At latent_dim=64 learning recovered
after a few hundred steps; at 256 it stalled for good, and the sphere fixes that
(experiments/text_wordnet/README.md#things-tried). Codes the
decoder is given (interpolations, say) are projected onto the same sphere.
"""

import math
from typing import Literal

import torch
import torch.nn.functional as F

from aelab.models.text.base import LatentTextModel, shift


class TextAutoencoder(LatentTextModel):
    instead = {**LatentTextModel.instead,
               "sample": "it has no prior to sample from; use lstm_vae or lstm_lm"}
    dashboard = {"sentence autoencoder": {
        "loss (nats per token)": [r"^train/loss(_epoch)?$", r"^val/loss$"],
        "reconstruction perplexity": [r"^(val|test)/rec_ppl$"],
        "token accuracy": [r"^val/token_acc$"],
        "BLEU of greedy reconstructions": [r"^test/bleu(_known|_input)?$"]}}

    def __init__(self, *args, code_norm: Literal["sphere", "none"], **kwargs):
        super().__init__(*args, **kwargs)
        self.code_norm = code_norm

    def project(self, z: torch.Tensor) -> torch.Tensor:
        if self.code_norm == "none":
            return z
        return F.normalize(z, dim=-1) * math.sqrt(z.shape[-1])

    def encode(self, tokens: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        return self.project(super().encode(tokens, lengths))

    def generate(self, z, n, **decoding):
        return super().generate(None if z is None else self.project(z), n, **decoding)

    def _step(self, batch: dict, stage: str, batch_idx: int) -> torch.Tensor:
        inputs, targets, lengths = shift(batch)
        source = self.step_source(batch, stage, batch_idx)
        z = self.encode(*source)
        loss = self.score_tokens(stage, self.decoder(inputs, lengths, z), targets, "rec")
        if stage == "test":
            self.log_bleu(batch, source)
        return loss
