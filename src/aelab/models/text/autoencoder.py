"""`lstm_ae`: deterministic sentence autoencoder, denoising with `corruption=word_noise`
(Shen et al., 2020): the autoencoder objective (`aelab.objectives.autoencoder`, shared with
the image autoencoder, `code_norm` included) on `LatentTextModel`.

Scores: `rec_ppl` (perplexity of the clean sentence given the code), `token_acc`
(teacher-forced), and `test/bleu` of greedy reconstructions.

Its defaults (conf/model/lstm_ae.yaml) are the best recipe of experiments/text_wordnet: the
code is read from the encoder's final states and its max-pool (`model.encoder.pool`), it
also feeds the decoder's output layer through a gated vote (`model.decoder.skip=gated`: the
gated vote gave the best BLEU of the text_wordnet screen, the plain one less, none least:
experiments/text_wordnet/README.md#how-the-ae-got-to-bleu-05), and it lies on a sphere
(`code_norm`, which a wide code needs to learn at all: objectives/autoencoder.py).
"""

import torch

from aelab.models.text.base import LatentTextModel, shift
from aelab.objectives.autoencoder import AutoencoderObjective


class TextAutoencoder(AutoencoderObjective, LatentTextModel):
    instead = {**LatentTextModel.instead,
               "sample": "it has no prior to sample from; use lstm_vae or lstm_lm"}
    dashboard = {"sentence autoencoder": {
        "loss (nats per token)": [r"^train/loss(_epoch)?$", r"^val/loss$"],
        "reconstruction perplexity": [r"^(val|test)/rec_ppl$"],
        "token accuracy": [r"^val/token_acc$"],
        "BLEU of greedy reconstructions": [r"^test/bleu(_known|_input)?$"]}}

    def generate(self, z, n, **decoding):
        return super().generate(None if z is None else self.project(z), n, **decoding)

    def reconstruct_output(self, source: tuple[torch.Tensor, torch.Tensor],
                           batch: dict) -> torch.Tensor:
        """The decoder's logits, teacher-forced on the clean sentence, given the code."""
        inputs, _, lengths = shift(batch)
        return self.decoder(inputs, lengths, self.encode(*source))

    def score(self, stage: str, logits: torch.Tensor, batch: dict,
              source: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, int]:
        loss, tokens = self.score_tokens(stage, logits, shift(batch)[1], "rec")
        if stage == "test":
            self.log_bleu(batch, source)
        return loss, tokens
