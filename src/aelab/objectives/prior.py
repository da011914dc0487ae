"""The prior p(z) of a flat VAE (`model.prior`), images and text alike.

`standard`: N(0, I), the KL in closed form per dimension. `mixture`: a learned mixture of
`components` diagonal Gaussians (means, variances and weights trained with the model, as the
GMVAE of Dilokthanakul et al., 2016, and the mixture priors Tomczak & Welling, 2018, compare
with their VampPrior). With N(0, I) the KL of every posterior also pays for the mismatch
between the codes the encoder actually uses, often in clusters (the kinds of sentence, the
kinds of image), and one round Gaussian: KL = I(x; z) + KL(q(z) || p(z)). A learned prior
can follow the clusters, so more of the KL is information the decoder uses.

The mixture's KL has no closed form: it is estimated from the posterior's own draw z,
log q(z|x) - log p(z) (unbiased; the term the training loss already samples), one column per
example, so the per-dimension floor (free bits) does not apply to it; the total floor does.
"""

from typing import Literal

import torch
from torch import nn

from aelab.objectives.gaussian import DiagonalGaussian, standard_normal_log_prob


class StandardNormalPrior(nn.Module):
    closed_form = True  # the KL per latent dimension

    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        """log p(z), summed over the last dimension (z may carry leading sample dims)."""
        return standard_normal_log_prob(z)

    def kl(self, posterior: DiagonalGaussian, z: torch.Tensor) -> torch.Tensor:
        """KL(q(z|x) || p(z)) per example and dimension (B, D), in closed form (z unused)."""
        return posterior.kl()

    def sample(self, n: int, dim: int, temperature: float = 1.0,
               device: torch.device | str = "cpu") -> torch.Tensor:
        """n codes from N(0, temperature^2 I)."""
        return torch.randn(n, dim, device=device) * temperature


class MixturePrior(nn.Module):
    closed_form = False  # the KL is a one-sample estimate per example

    def __init__(self, dim: int, components: int):
        super().__init__()
        # Small random means (the components must differ to learn apart) and unit variances:
        # at the start the mixture is close to N(0, I), so training starts as with it.
        self.means = nn.Parameter(0.1 * torch.randn(components, dim))
        self.logvars = nn.Parameter(torch.zeros(components, dim))
        self.logits = nn.Parameter(torch.zeros(components))

    def components(self) -> DiagonalGaussian:
        """The K Gaussians as one (K, D) diagonal Gaussian (its log-variance clamp included)."""
        return DiagonalGaussian(torch.cat([self.means, self.logvars], 1))

    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        """log p(z) = log sum_k w_k N(z; m_k, s_k^2), summed over the last dimension."""
        per_component = self.components().log_prob(z.unsqueeze(-2))  # (..., K)
        return torch.logsumexp(per_component + self.logits.log_softmax(0), -1)

    def kl(self, posterior: DiagonalGaussian, z: torch.Tensor) -> torch.Tensor:
        """log q(z|x) - log p(z) at the posterior's draw z (B, D): (B, 1), the KL's
        one-sample estimate per example."""
        return (posterior.log_prob(z) - self.log_prob(z)).unsqueeze(1)

    def sample(self, n: int, dim: int, temperature: float = 1.0,
               device: torch.device | str = "cpu") -> torch.Tensor:
        """n codes: a component by its weight, then its Gaussian with std x `temperature`."""
        picks = torch.multinomial(self.logits.softmax(0), n, replacement=True)
        components = self.components()
        noise = torch.randn(n, dim, device=self.means.device)
        return (components.mean[picks] + components.std[picks] * noise * temperature).to(device)


PriorKind = Literal["standard", "mixture"]


def build_prior(kind: PriorKind, dim: int, components: int) -> StandardNormalPrior | MixturePrior:
    return MixturePrior(dim, components) if kind == "mixture" else StandardNormalPrior()
