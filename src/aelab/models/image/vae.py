"""Gaussian VAE for images with a discretized Gaussian decoder (a proper likelihood).

Loss per image, in nats: -E_q[log p(x|z)] + w_t * KL(q(z|x) || N(0, I)), where
w_t = `beta` times the KL schedule (none / linear / cyclical) and, with `free_bits` > 0,
each latent dimension's batch-mean KL counts as at least `free_bits` nats (with
`free_nats` > 0, the total KL counts as at least `free_nats`). `val/loss` and
`test/loss` are the plain negative ELBO (w = 1, no free bits), an upper bound on the NLL
that stays comparable across epochs while w_t anneals. `test/nll` is the tighter
importance-weighted bound (Burda et al., 2016) with `iw_samples` samples.
"""

import math
from typing import Literal, get_args

import torch
from torch import nn
from torchmetrics import MeanMetric

from aelab.errors import AelabError
from aelab.metrics.latent import ActiveUnits
from aelab.models.image.autoencoder import ImageAutoencoder
from aelab.models.image.likelihood import discretized_gaussian_log_prob
from aelab.objectives.kl import KLSchedule, kl_penalty, kl_weight
from aelab.options import NonNegativeFloat, NonNegativeInt, PositiveFloat, PositiveInt, Probability


def gaussian_kl(mean: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mean, exp(logvar)) || N(0, 1)) per dimension."""
    return 0.5 * (mean**2 + logvar.exp() - 1 - logvar)


def log_normal(z: torch.Tensor, mean: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """log N(z; mean, exp(logvar)), summed over the last dimension."""
    return -0.5 * (math.log(2 * math.pi) + logvar + (z - mean) ** 2 / logvar.exp()).sum(-1)


class ImageVAE(ImageAutoencoder):
    latent_outputs = 2
    dashboard = {"VAE": {
        "negative ELBO (nats per image)": [r"^train/loss$", r"^val/loss$"],
        "KL (nats)": [r"^(train|val)/kl$"],
        "KL weight": [r"^train/kl_weight$"],
        "reconstruction (nats per image)": [r"^(train|val)/rec$"],
        "PSNR of the posterior mean (dB)": [r"^val/psnr(_input|_bicubic)?$"],
        "active units": [r"^test/active_units$"]}}

    def __init__(self, *args, beta: NonNegativeFloat = 1.0, kl_schedule: KLSchedule = "none",
                 anneal_steps: NonNegativeInt = 0, anneal_ratio: Probability = 0.5,
                 free_bits: NonNegativeFloat = 0.0, free_nats: NonNegativeFloat = 0.0,
                 decoder_variance: Literal["learned", "fixed"] = "learned",
                 decoder_std: PositiveFloat = 0.1, iw_samples: PositiveInt = 100, **kwargs):
        super().__init__(*args, **kwargs)
        if kl_schedule not in get_args(KLSchedule):
            raise AelabError(f"model.kl_schedule={kl_schedule} is not one of: "
                             f"{', '.join(get_args(KLSchedule))}")
        if decoder_variance not in ("learned", "fixed"):
            raise AelabError(f"model.decoder_variance={decoder_variance} is not one of: learned, fixed")
        self.beta, self.kl_schedule, self.anneal_steps = beta, kl_schedule, anneal_steps
        self.anneal_ratio, self.free_bits, self.iw_samples = anneal_ratio, free_bits, iw_samples
        self.free_nats = free_nats
        # One log-std per channel, shared by all pixels (Rybkin et al., 2021: "sigma-VAE").
        log_std = torch.full((self.image_shape[0], 1, 1), math.log(decoder_std))
        self.log_std = nn.Parameter(log_std, requires_grad=decoder_variance == "learned")
        self.pixels = math.prod(self.image_shape)
        self.stats = nn.ModuleDict({
            f"{stage}_{name}": MeanMetric() for stage in ("val", "test")
            for name in ("kl", "rec", "nll")})
        self.active_units = ActiveUnits()

    # -- the model -------------------------------------------------------------------------
    def posterior(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mean, logvar = self.net.encode(x).chunk(2, dim=1)
        return mean, logvar.clamp(-12, 8)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.posterior(x)[0]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x))

    def sample(self, n: int, temperature: float = 1.0) -> torch.Tensor:
        z = torch.randn(n, self.latent_dim, device=self.device) * temperature
        return self.decode(z)

    def log_likelihood(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """log p(x|z) per image, nats."""
        mean = self.net.decode(z)
        return discretized_gaussian_log_prob(x, mean, self.log_std).flatten(1).sum(1)

    def importance_weighted_nll(self, x: torch.Tensor, inputs: torch.Tensor,
                                chunk: int = 10) -> torch.Tensor:
        """-log p(x) per image, bounded with `iw_samples` samples from q(z|inputs)."""
        mean, logvar = self.posterior(inputs)
        log_weights = []
        for start in range(0, self.iw_samples, chunk):
            k = min(chunk, self.iw_samples - start)
            z = mean + (0.5 * logvar).exp() * torch.randn(k, *mean.shape, device=x.device)
            log_px = self.log_likelihood(x.repeat(k, 1, 1, 1), z.flatten(0, 1)).view(k, -1)
            log_pz = log_normal(z, torch.zeros_like(z), torch.zeros_like(z))
            log_qz = log_normal(z, mean, logvar)
            log_weights.append(log_px + log_pz - log_qz)
        log_weights = torch.cat(log_weights)
        return -(torch.logsumexp(log_weights, 0) - math.log(self.iw_samples))

    # -- steps -----------------------------------------------------------------------------
    def _step(self, images, stage, metrics, batch_idx):
        inputs = self.step_inputs(images, stage, batch_idx)
        mean, logvar = self.posterior(inputs)
        z = mean + (0.5 * logvar).exp() * torch.randn_like(mean)
        rec = -self.log_likelihood(images, z)  # per image
        kl_dims = gaussian_kl(mean, logvar)
        kl = kl_dims.sum(1)
        n = len(images)
        if stage == "train":
            weight = kl_weight(self.global_step, self.beta, self.kl_schedule, self.anneal_steps,
                               self.anneal_ratio)
            loss = rec.mean() + weight * kl_penalty(kl_dims, self.free_bits, self.free_nats)
            self.log_dict({"train/loss": loss, "train/rec": rec.mean(), "train/kl": kl.mean(),
                           "train/kl_weight": weight, "train/decoder_std": self.log_std.exp().mean()},
                          on_step=True, on_epoch=False, prog_bar=False, batch_size=n)
            return loss
        with torch.no_grad():
            recon = self.net.decode(mean)
            metrics.update(recon.contiguous(), images)
            self.log_baselines(stage, inputs, images)
            self.log_dict(metrics, on_step=False, on_epoch=True)
            negative_elbo = rec + kl
            self.log(f"{stage}/loss", negative_elbo.mean(), on_epoch=True, prog_bar=True, batch_size=n,
                     sync_dist=True)
            for name, value in (("kl", kl), ("rec", rec)):
                self.stats[f"{stage}_{name}"].update(value)
                self.log(f"{stage}/{name}", self.stats[f"{stage}_{name}"], on_epoch=True)
            if stage == "test":
                nll = self.importance_weighted_nll(images, inputs)
                self.stats["test_nll"].update(nll)
                self.log("test/nll", self.stats["test_nll"], on_epoch=True)
                self.active_units.update(mean)
                self.log("test/active_units", self.active_units, on_epoch=True)
        return negative_elbo.mean()

    def on_test_epoch_end(self) -> None:
        # Bits per dimension of the 8-bit image: the NLL bound spread over every subpixel.
        nll = self.stats["test_nll"].compute()
        self.log("test/bpd", nll / (self.pixels * math.log(2)))
