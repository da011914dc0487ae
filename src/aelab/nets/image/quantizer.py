"""Vector quantiser with EMA codebook updates and restarts of dead codes.

van den Oord et al. (2017), with the exponential-moving-average codebook of their
appendix, and dead-code restarts (Dhariwal et al., 2020): a code whose EMA usage falls
below `restart_below` is moved onto a random encoder output of the current batch, so the
whole codebook stays in use.
"""

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn


class VectorQuantizer(nn.Module):
    def __init__(self, num_codes: int = 256, code_dim: int = 32, decay: float = 0.99,
                 commitment: float = 0.25, restart_below: float = 0.5, eps: float = 1e-5):
        super().__init__()
        self.num_codes, self.code_dim, self.decay = num_codes, code_dim, decay
        self.commitment, self.restart_below, self.eps = commitment, restart_below, eps
        codebook = torch.randn(num_codes, code_dim)
        self.register_buffer("codebook", codebook)
        self.register_buffer("ema_count", torch.ones(num_codes))
        self.register_buffer("ema_sum", codebook.clone())
        self.register_buffer("restarts", torch.zeros((), dtype=torch.long))

    def nearest(self, flat: torch.Tensor) -> torch.Tensor:
        """Index of the closest code for each row of `flat` (M, code_dim)."""
        distances = (flat.pow(2).sum(1, keepdim=True) - 2 * flat @ self.codebook.t()
                     + self.codebook.pow(2).sum(1))
        return distances.argmin(1)

    def lookup(self, codes: torch.Tensor) -> torch.Tensor:
        """Codes (N, H, W) -> quantised vectors (N, code_dim, H, W)."""
        return F.embedding(codes, self.codebook).permute(0, 3, 1, 2).contiguous()

    def forward(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """z (N, D, H, W) -> (straight-through quantised z, codes (N, H, W), commitment loss)."""
        n, d, h, w = z.shape
        flat = z.permute(0, 2, 3, 1).reshape(-1, d)
        codes = self.nearest(flat.detach().float())
        # Look the vectors up in the codebook that chose them, before this batch's EMA update
        # and restarts move it (as van den Oord et al. and Sonnet do): the decoder is trained
        # on the vectors the codes meant, and the commitment pulls toward them.
        quantised = self.lookup(codes.view(n, h, w)).to(z.dtype)
        if self.training:
            self._update(flat.detach().float(), codes)
        commitment = self.commitment * F.mse_loss(z, quantised.detach())
        return z + (quantised - z).detach(), codes.view(n, h, w), commitment

    @torch.no_grad()
    def _update(self, flat: torch.Tensor, codes: torch.Tensor) -> None:
        counts = torch.bincount(codes, minlength=self.num_codes).float()
        sums = torch.zeros_like(self.ema_sum).index_add_(0, codes, flat)
        if dist.is_available() and dist.is_initialized():  # one codebook across processes
            dist.all_reduce(counts)
            dist.all_reduce(sums)
        self.ema_count.mul_(self.decay).add_(counts, alpha=1 - self.decay)
        self.ema_sum.mul_(self.decay).add_(sums, alpha=1 - self.decay)
        total = self.ema_count.sum()
        # Laplace smoothing keeps a barely used code from dividing by ~0.
        smoothed = (self.ema_count + self.eps) / (total + self.num_codes * self.eps) * total
        self.codebook.copy_(self.ema_sum / smoothed.unsqueeze(1))
        self._restart_dead_codes(flat)

    def _restart_dead_codes(self, flat: torch.Tensor) -> None:
        dead = (self.ema_count < self.restart_below).nonzero().squeeze(1)
        if len(dead) == 0:
            return
        picks = torch.randint(0, len(flat), (len(dead),), device=flat.device)
        if dist.is_available() and dist.is_initialized():
            dist.broadcast(picks, 0)  # the same rows everywhere (codebooks must stay equal)
            fresh = flat[picks]
            dist.broadcast(fresh, 0)
        else:
            fresh = flat[picks]
        self.codebook[dead] = fresh
        self.ema_sum[dead] = fresh
        self.ema_count[dead] = 1.0
        self.restarts += len(dead)
