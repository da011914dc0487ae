"""`lstm_vae`: sentence VAE (Bowman et al., 2016) with the evaluation of He et al. (2019).

Training loss per sentence: rec + w_t * KL, with w_t = `beta` times the KL schedule and,
with `free_bits` > 0, each dimension's batch-mean KL counted as at least `free_bits`
nats (with `free_nats` > 0, the total KL counted as at least `free_nats`). Word dropout
replaces decoder inputs by <unk> with probability `word_dropout` (training only), which
pushes information into z. `val/loss` and `test/loss` are the plain negative ELBO per
sentence; `test/nll` is the importance-weighted bound with `iw_samples` samples, and
`test/ppl` = exp(its total / tokens, <eos> counted).
"""

import math
from typing import get_args

import torch
from torchmetrics import MeanMetric

from aelab.errors import AelabError
from aelab.metrics.latent import ActiveUnits
from aelab.metrics.text import mutual_information
from aelab.models.image.vae import gaussian_kl, log_normal
from aelab.models.text.base import TextModel, sentence_nll, shift
from aelab.objectives.kl import KLSchedule, kl_penalty, kl_weight
from aelab.options import NonNegativeFloat, NonNegativeInt, PositiveInt, Probability


class TextVAE(TextModel):
    latent_outputs = 2
    dashboard = {"sentence VAE": {
        "negative ELBO (nats per sentence)": [r"^train/loss$", r"^val/loss$"],
        "KL (nats)": [r"^(train|val)/kl$"],
        "KL weight": [r"^train/kl_weight$"],
        "perplexity (IW) and reconstruction perplexity": [r"^test/ppl$", r"^(val|test)/rec_ppl$"],
        "active units, mutual information": [r"^test/(active_units|mi)$"],
        "BLEU of greedy reconstructions": [r"^test/bleu(_known)?$"]}}

    def __init__(self, *args, beta: NonNegativeFloat = 1.0, kl_schedule: KLSchedule = "linear",
                 anneal_steps: NonNegativeInt = 5000, anneal_ratio: Probability = 0.5,
                 free_bits: NonNegativeFloat = 0.0, free_nats: NonNegativeFloat = 0.0,
                 word_dropout: Probability = 0.3, iw_samples: PositiveInt = 100, **kwargs):
        super().__init__(*args, **kwargs)
        if kl_schedule not in get_args(KLSchedule):
            raise AelabError(f"model.kl_schedule={kl_schedule} is not one of: "
                             f"{', '.join(get_args(KLSchedule))}")
        self.beta, self.kl_schedule, self.anneal_steps = beta, kl_schedule, anneal_steps
        self.anneal_ratio, self.free_bits, self.free_nats = anneal_ratio, free_bits, free_nats
        self.word_dropout_p, self.iw_samples = word_dropout, iw_samples
        self.kl = torch.nn.ModuleDict({s: MeanMetric() for s in ("val", "test")})
        self.mi = MeanMetric()
        self.active_units = ActiveUnits()

    def posterior(self, tokens, lengths):
        mean, logvar = self.to_latent(self.encoder(tokens, lengths)).chunk(2, dim=1)
        return mean, logvar.clamp(-12, 8)

    def encode(self, tokens, lengths):
        return self.posterior(tokens, lengths)[0]

    def sample(self, n: int, **decoding) -> torch.Tensor:
        z = torch.randn(n, self.latent_dim, device=self.device)
        return self.generate(z, n, **{"strategy": "greedy", **decoding})

    def importance_weighted_nll(self, batch: dict, chunk: int = 10) -> torch.Tensor:
        """-log p(x) per sentence, bounded with `iw_samples` samples of q(z|x)."""
        inputs, targets, lengths = shift(batch)
        mean, logvar = self.posterior(batch["tokens"], batch["lengths"])
        log_weights = []
        for start in range(0, self.iw_samples, chunk):
            k = min(chunk, self.iw_samples - start)
            z = mean + (0.5 * logvar).exp() * torch.randn(k, *mean.shape, device=mean.device)
            logits = self.decoder(inputs.repeat(k, 1), lengths.repeat(k), z.flatten(0, 1))
            log_px = -sentence_nll(logits, targets.repeat(k, 1)).view(k, -1)
            log_pz = log_normal(z, torch.zeros_like(z), torch.zeros_like(z))
            log_weights.append(log_px + log_pz - log_normal(z, mean, logvar))
        return -(torch.logsumexp(torch.cat(log_weights), 0) - math.log(self.iw_samples))

    def _step(self, batch: dict, stage: str) -> torch.Tensor:
        inputs, targets, lengths = shift(batch)
        mean, logvar = self.posterior(batch["tokens"], batch["lengths"])
        z = mean + (0.5 * logvar).exp() * torch.randn_like(mean)
        logits = self.decoder(self.word_dropout(inputs, self.word_dropout_p), lengths, z)
        rec = sentence_nll(logits, targets)
        kl_dims = gaussian_kl(mean, logvar)
        kl = kl_dims.sum(1)
        n = len(targets)
        if stage == "train":
            weight = kl_weight(self.global_step, self.beta, self.kl_schedule, self.anneal_steps,
                               self.anneal_ratio)
            loss = rec.mean() + weight * kl_penalty(kl_dims, self.free_bits, self.free_nats)
            self.log_dict({"train/loss": loss, "train/rec": rec.mean(), "train/kl": kl.mean(),
                           "train/kl_weight": weight}, on_step=True, batch_size=n)
            return loss
        negative_elbo = rec + kl
        self.log(f"{stage}/loss", negative_elbo.mean(), on_epoch=True, prog_bar=True, batch_size=n,
                 sync_dist=True)
        self.kl[stage].update(kl)
        self.log(f"{stage}/kl", self.kl[stage], on_epoch=True, batch_size=n)
        self.update_likelihood(stage, "rec", rec, targets)
        self.log_token_accuracy(stage, logits, targets, n)
        if stage == "test":
            self.update_likelihood(stage, "nll", self.importance_weighted_nll(batch), targets)
            self.active_units.update(mean)
            self.log("test/active_units", self.active_units, on_epoch=True, batch_size=n)
            self.mi.update(mutual_information(mean, logvar), weight=n)
            self.log("test/mi", self.mi, on_epoch=True, batch_size=n)
            self.log_bleu(batch)
        return negative_elbo.mean()
