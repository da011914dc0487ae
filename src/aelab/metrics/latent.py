"""Latent statistics: active units (Burda et al., 2016), the mutual information I(x; z)."""

import math

import torch
from torchmetrics import Metric


class ActiveUnits(Metric):
    """Latent dimensions whose posterior mean varies across inputs: Var_x(E_q[z|x]) > threshold.

    An inactive unit carries no information about x (posterior collapse); the count is the
    effective latent size. Accumulates sums, so it works over any number of batches and
    synchronises across processes.
    """

    full_state_update = False

    def __init__(self, threshold: float = 0.01):
        super().__init__()
        self.threshold = threshold
        self.add_state("total", torch.tensor(0.0, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("sum", torch.tensor(0.0, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("sum_sq", torch.tensor(0.0, dtype=torch.float64), dist_reduce_fx="sum")

    def update(self, mean: torch.Tensor) -> None:
        mean = mean.detach().double()
        if self.sum.ndim == 0:  # the latent size is known at the first update
            self.sum = torch.zeros(mean.shape[1], dtype=torch.float64, device=mean.device)
            self.sum_sq = torch.zeros_like(self.sum)
        self.total += mean.shape[0]
        self.sum += mean.sum(0)
        self.sum_sq += (mean**2).sum(0)

    def compute(self) -> torch.Tensor:
        variance = self.sum_sq / self.total - (self.sum / self.total) ** 2
        return (variance > self.threshold).sum().float()


class CodebookUsage(Metric):
    """How much of a VQ codebook the data uses: fraction of codes seen, and perplexity.

    Perplexity is exp(entropy) of the code frequencies: the number of equally used codes
    that would give the same entropy (num_codes when all are used evenly).
    """

    full_state_update = False

    def __init__(self, num_codes: int):
        super().__init__()
        self.num_codes = num_codes
        self.add_state("counts", torch.zeros(num_codes, dtype=torch.float64), dist_reduce_fx="sum")

    def update(self, codes: torch.Tensor) -> None:
        self.counts += torch.bincount(codes.flatten(), minlength=self.num_codes).double()

    def compute(self) -> dict[str, torch.Tensor]:
        p = self.counts / self.counts.sum().clamp_min(1)
        entropy = -(p * p.clamp_min(1e-12).log()).sum()
        return {"codebook_usage": (self.counts > 0).double().mean().float(),
                "codebook_perplexity": entropy.exp().float()}


def mutual_information(mean: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """I(x; z) under q, estimated on one batch as in He et al. (2019):
    E_x E_q(z|x)[log q(z|x)] - E_q(z)[log q(z)], with q(z) the batch's mixture of posteriors."""
    batch, dim = mean.shape
    neg_entropy = (-0.5 * dim * math.log(2 * math.pi) - 0.5 * (1 + logvar).sum(-1)).mean()
    z = mean + (0.5 * logvar).exp() * torch.randn_like(mean)
    deviation = z.unsqueeze(1) - mean.unsqueeze(0)  # (B samples, B posteriors, dim)
    log_density = -0.5 * (deviation**2 / logvar.exp().unsqueeze(0)).sum(-1) - 0.5 * (
        dim * math.log(2 * math.pi) + logvar.sum(-1).unsqueeze(0))
    log_qz = torch.logsumexp(log_density, dim=1) - math.log(batch)
    # I(x; z) >= 0, but this one-sample estimate is noisy: on a small batch (a tiny split's
    # last batch) it falls below zero, which no code can have; the nearest possible value is 0.
    return (neg_entropy - log_qz.mean()).clamp_min(0.0)
