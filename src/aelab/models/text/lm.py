"""`lstm_lm`: the language model every text autoencoder is measured against (a VAE should
match or beat its perplexity). p(x) = prod_t p(w_t | w_<t): a decoder, no encoder, no code."""

import torch

from aelab.errors import AelabError
from aelab.models.text.base import TextModel, shift


class LanguageModel(TextModel):
    tasks = frozenset({"sample"})
    has_prior = True
    instead = {"reconstruct": "it has no encoder; use lstm_ae or lstm_vae",
               "interpolate": "it needs a latent code: lstm_ae or lstm_vae",
               "denoise": "it has no encoder; train lstm_ae with corruption=word_noise",
               "upscale": "upscaling is an image task (corruption=downsample)"}
    dashboard = {"language model": {
        "loss (nats per token)": [r"^train/loss(_epoch)?$", r"^val/loss$"],
        "perplexity": [r"^(val|test)/ppl$"],
        "token accuracy": [r"^val/token_acc$"]}}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.corruption is not None:
            raise AelabError("a language model reads no input to corrupt; corruption=word_noise "
                             "is for lstm_ae and lstm_vae (or use corruption=none)")

    def sample(self, n: int, **decoding) -> torch.Tensor:
        return self.generate(None, n, **{"strategy": "sample", **decoding})

    def _step(self, batch: dict, stage: str, batch_idx: int) -> torch.Tensor:
        inputs, targets, lengths = shift(batch)
        loss, tokens = self.score_tokens(stage, self.decoder(inputs, lengths), targets, "nll")
        self.log_loss(stage, loss, tokens)
        return loss
