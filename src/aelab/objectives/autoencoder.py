"""The deterministic autoencoder's objective, written once for images and text (as the VAE's is
in `aelab.objectives.vae`).

Training loss: the modality's reconstruction loss of the clean input from the decoder's output
for the code of the encoder's input (the corrupted one under a corruption: a denoising
autoencoder). The code is the encoder's output, or with `code_norm=sphere` that output put on
the sphere of radius sqrt(latent_dim), so its entries have unit RMS (ARAE, Zhao et al., 2018).
Why: nothing bounds a plain AE's code, and under Adam a sentence AE's grew until it saturated
the decoder's initial state (tanh), stalling a wide code's learning for good
(experiments/text_wordnet); codes the decoder is given (interpolations, samples of a latent
prior) are projected onto the same sphere.

A model mixes `AutoencoderObjective` in before its modality's base class, which supplies
`encode(*source)` (the raw code), `step_source(batch, stage, batch_idx)` (the encoder's input)
and two methods: `reconstruct_output(source, batch)`, the decoder's output from `self.encode`'s
code (logits, teacher-forced for text), and `score(stage, out, batch, source) -> (loss,
weight)`, the loss and what it averages over (images, tokens), with the modality's own
metrics (PSNR and SSIM; perplexity, token accuracy, BLEU). The step and the loss's logging
are here.
"""

import math
from typing import Literal

import torch
import torch.nn.functional as F


class AutoencoderObjective:
    def __init__(self, *args, code_norm: Literal["sphere", "none"], **kwargs):
        super().__init__(*args, **kwargs)
        self.code_norm = code_norm

    def project(self, z: torch.Tensor) -> torch.Tensor:
        """The code as the decoder sees it: on the sphere with `code_norm=sphere`."""
        if self.code_norm == "none":
            return z
        return F.normalize(z, dim=-1) * math.sqrt(z.shape[-1])

    def encode(self, *source) -> torch.Tensor:
        return self.project(super().encode(*source))

    def _step(self, batch, stage: str, batch_idx: int) -> torch.Tensor:
        source = self.step_source(batch, stage, batch_idx)
        out = self.reconstruct_output(source, batch)
        loss, weight = self.score(stage, out, batch, source)
        self.log_loss(stage, loss, weight)
        return loss
