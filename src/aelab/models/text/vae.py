"""`lstm_vae`: sentence VAE (Bowman et al., 2016) with the evaluation of He et al. (2019).

The objective (loss, KL regulariser, importance-weighted NLL, active units, mutual
information) is `aelab.objectives.vae`, shared with the image VAE; this file adds what is
particular to text. Word dropout replaces decoder inputs by <unk> with probability
`word_dropout` (training only), which pushes information into z. `test/nll` is the
importance-weighted bound with `iw_samples` samples and `test/ppl` = exp(its total / tokens,
<eos> counted), directly comparable with the language model's.
"""

import torch

from aelab.data.text import PAD_ID, UNK_ID
from aelab.models.text.base import LatentTextModel, sentence_nll, shift
from aelab.objectives.gaussian import DiagonalGaussian
from aelab.objectives.vae import VAEObjective, vae_charts
from aelab.options import Probability


class TextVAE(VAEObjective, LatentTextModel):
    dashboard = {"sentence VAE": {
        **vae_charts("sentence"),
        "perplexity (IW) and reconstruction perplexity": [r"^test/ppl$", r"^(val|test)/rec_ppl$"],
        "BLEU of greedy reconstructions": [r"^test/bleu(_known|_input)?$"]}}

    def __init__(self, *args, word_dropout: Probability, **kwargs):
        super().__init__(*args, **kwargs)
        self.word_dropout_p = word_dropout

    def word_dropout(self, inputs: torch.Tensor, p: float) -> torch.Tensor:
        """Replace decoder inputs (not <bos>, not <pad>) by <unk> with probability p."""
        if not self.training or p <= 0:
            return inputs
        drop = (torch.rand(inputs.shape, device=inputs.device) < p) & (inputs != PAD_ID)
        drop[:, 0] = False
        return inputs.masked_fill(drop, UNK_ID)

    def posterior(self, tokens: torch.Tensor, lengths: torch.Tensor) -> DiagonalGaussian:
        return DiagonalGaussian(self.to_latent(self.encoder(tokens, lengths)))

    def encode(self, tokens, lengths):
        return self.posterior(tokens, lengths).mode()

    def sample(self, n: int, prior_temperature: float = 1.0, **decoding) -> torch.Tensor:
        """Sentences from codes of the prior, its spread scaled by `prior_temperature`
        (`decoding`'s own `temperature` is the softmax's, over the words)."""
        return self.generate(self.prior_sample(n, prior_temperature), n,
                             **{"strategy": "greedy", **decoding})

    def _step(self, batch: dict, stage: str, batch_idx: int) -> torch.Tensor:
        inputs, targets, lengths = shift(batch)
        source = self.step_source(batch, stage, batch_idx)
        posterior = self.posterior(*source)
        teacher_forced = []  # the logits of the single-sample pass, for the token accuracy

        def log_likelihood(z: torch.Tensor) -> torch.Tensor:
            k = len(z)
            logits = self.decoder(self.word_dropout(inputs, self.word_dropout_p).repeat(k, 1),
                                  lengths.repeat(k), z.flatten(0, 1))
            if k == 1:
                teacher_forced.append(logits)
            return -sentence_nll(logits, targets.repeat(k, 1)).view(k, -1)

        loss, rec = self.vae_loss(stage, posterior, log_likelihood, len(targets))
        if stage == "train":
            return loss
        self.update_likelihood(stage, "rec", rec, targets)
        self.log_token_accuracy(stage, teacher_forced[0], targets, len(targets))
        if stage == "test":
            self.update_likelihood(stage, "nll",
                                   self.importance_weighted_nll(posterior, log_likelihood), targets)
            self.log_posterior_stats(posterior, len(targets))
            self.log_bleu(batch, source)
        return loss
