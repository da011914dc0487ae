"""The diagonal Gaussian posterior q(z|x) every VAE uses (images and text alike).

As diffusers' `DiagonalGaussianDistribution`: built from the encoder's output, split in two
along `dim` into a mean and a log-variance; it samples with the reparameterisation trick,
gives its mode, its KL to the N(0, I) prior (or to another diagonal Gaussian, a learned
prior) per dimension and the log-density of a code.
The log-variance is clamped to [-12, 8] so an early, wild encoder cannot overflow exp().
"""

import math

import torch

from aelab.metrics.latent import mutual_information

LOG_2PI = math.log(2 * math.pi)


class DiagonalGaussian:
    def __init__(self, params: torch.Tensor, dim: int = 1):
        mean, logvar = params.chunk(2, dim=dim)
        self.mean, self.logvar = mean, logvar.clamp(-12, 8)

    @property
    def std(self) -> torch.Tensor:
        return (0.5 * self.logvar).exp()

    def sample(self, n: int | None = None) -> torch.Tensor:
        """One code per input (B, D), or `n` per input (n, B, D)."""
        if n is None:
            return self.mean + self.std * torch.randn_like(self.mean)
        return self.mean + self.std * torch.randn(n, *self.mean.shape, device=self.mean.device)

    def mode(self) -> torch.Tensor:
        return self.mean

    def kl(self, other: "DiagonalGaussian | None" = None) -> torch.Tensor:
        """KL(q || N(0, I)) per example and dimension (B, D): the regulariser's input; with
        `other`, KL(q || other), the term of a hierarchical VAE's learned conditional prior."""
        if other is None:
            return 0.5 * (self.mean**2 + self.logvar.exp() - 1 - self.logvar)
        return 0.5 * (other.logvar - self.logvar - 1
                      + (self.logvar.exp() + (self.mean - other.mean) ** 2) / other.logvar.exp())

    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        """log q(z|x), summed over the last dimension (z may carry leading sample dims)."""
        return -0.5 * (LOG_2PI + self.logvar + (z - self.mean) ** 2 / self.logvar.exp()).sum(-1)

    def mutual_information(self) -> torch.Tensor:
        """I(x; z) under q over this batch of posteriors (He et al., 2019)."""
        return mutual_information(self.mean, self.logvar)


def standard_normal_log_prob(z: torch.Tensor) -> torch.Tensor:
    """log N(z; 0, I), summed over the last dimension."""
    return -0.5 * (LOG_2PI + z**2).sum(-1)
