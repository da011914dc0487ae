"""The diagonal Gaussian posterior q(z|x) every VAE uses (images and text alike).

As diffusers' `DiagonalGaussianDistribution`: built from the encoder's output, split in two
along `dim` into a mean and a log-variance; it samples with the reparameterisation trick,
gives its mode, its KL to the N(0, I) prior per dimension and the log-density of a code.
The log-variance is clamped to [-12, 8] so an early, wild encoder cannot overflow exp().
"""

import math

import torch

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

    def kl(self) -> torch.Tensor:
        """KL(q || N(0, I)) per example and dimension (B, D): the regulariser's input."""
        return 0.5 * (self.mean**2 + self.logvar.exp() - 1 - self.logvar)

    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        """log q(z|x), summed over the last dimension (z may carry leading sample dims)."""
        return -0.5 * (LOG_2PI + self.logvar + (z - self.mean) ** 2 / self.logvar.exp()).sum(-1)

    def mutual_information(self) -> torch.Tensor:
        """I(x; z) under q, estimated on one batch as in He et al. (2019):
        E_x E_q(z|x)[log q(z|x)] - E_q(z)[log q(z)], q(z) the batch's mixture of posteriors."""
        mean, logvar = self.mean, self.logvar
        batch, dim = mean.shape
        neg_entropy = (-0.5 * dim * LOG_2PI - 0.5 * (1 + logvar).sum(-1)).mean()
        z = self.sample()
        deviation = z.unsqueeze(1) - mean.unsqueeze(0)  # (B samples, B posteriors, dim)
        log_density = -0.5 * (deviation**2 / logvar.exp().unsqueeze(0)).sum(-1) - 0.5 * (
            dim * LOG_2PI + logvar.sum(-1).unsqueeze(0))
        log_qz = torch.logsumexp(log_density, dim=1) - math.log(batch)
        return neg_entropy - log_qz.mean()


def standard_normal_log_prob(z: torch.Tensor) -> torch.Tensor:
    """log N(z; 0, I), summed over the last dimension."""
    return -0.5 * (LOG_2PI + z**2).sum(-1)
