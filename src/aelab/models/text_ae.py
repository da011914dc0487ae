"""`lstm_ae`: deterministic sentence autoencoder, optionally denoising (Shen et al., 2020).

The encoder reads a noised sentence (training only), the decoder must write the clean
one. Scores: `rec_ppl` (perplexity of the clean sentence given the code), `token_acc`
(teacher-forced), and `test/bleu` of greedy reconstructions.
"""

import torch

from aelab.data.text_noise import word_noise
from aelab.errors import AelabError
from aelab.models.text_lm import TextModel, shift


class TextAutoencoder(TextModel):
    def __init__(self, *args, noise: dict | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.noise = dict(noise or {})
        unknown = set(self.noise) - {"drop", "blank", "substitute", "shuffle"}
        if unknown:
            raise AelabError(f"model.noise has unknown keys {sorted(unknown)}; use drop, blank, "
                             "substitute, shuffle")

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
