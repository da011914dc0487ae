"""PCA: the best linear code of `latent_dim` floats (Eckart-Young), the floor every image
autoencoder of that code size should stand above.

Fitted in closed form from the training split: the running sums of x and x x^T (float64),
then the top eigenvectors of the covariance (`torch.linalg.eigh`). Encoding projects the
centred, flattened image on them; decoding maps back and adds the mean. Linear, so the
output is an image directly (clipped to [0, 1] when scored), not logits.
"""

import math

import torch
from torch import nn

from aelab.options import PositiveInt


class PCA(nn.Module):
    has_code = True

    def __init__(self, image_shape: tuple[int, int, int], latent_dim: PositiveInt):
        super().__init__()
        self.image_shape = tuple(image_shape)
        pixels = math.prod(image_shape)
        if latent_dim > pixels:
            raise ValueError(f"model.latent_dim={latent_dim} is more components than the "
                             f"{pixels} pixel values of an image; use at most {pixels}")
        self.latent_dim = latent_dim
        # Buffers, so a checkpoint holds the fit; the sums are kept only until `fit`.
        self.register_buffer("mean", torch.zeros(pixels))
        self.register_buffer("components", torch.zeros(latent_dim, pixels))
        self.register_buffer("explained", torch.zeros(()))  # fraction of the variance kept
        self.register_buffer("fitted", torch.tensor(False))
        self._sums: tuple[torch.Tensor, torch.Tensor, int] | None = None

    @torch.no_grad()
    def accumulate(self, x: torch.Tensor) -> None:
        """Add a batch of training images to the running sums."""
        flat = x.flatten(1).double()
        total, outer, count = self._sums or (0.0, 0.0, 0)
        self._sums = (total + flat.sum(0), outer + flat.T @ flat, count + len(flat))

    @torch.no_grad()
    def fit(self) -> torch.Tensor:
        """Solve for the components from the sums; returns their variances, largest first."""
        if self._sums is None:
            raise RuntimeError("PCA.fit() before any accumulate(): no training images seen")
        total, outer, count = self._sums
        mean = total / count
        covariance = outer / count - torch.outer(mean, mean)
        values, vectors = torch.linalg.eigh(covariance)  # ascending
        top = values.flip(0)[:self.latent_dim]
        self._sums = None
        self._store(mean, vectors.flip(1)[:, :self.latent_dim].T,
                    top.clamp_min(0).sum() / values.clamp_min(0).sum())
        return top.clamp_min(0)

    @torch.no_grad()
    def fit_rows(self, flat: torch.Tensor) -> torch.Tensor:
        """The same exact fit from an SVD of the (N, D) centred training rows, for few images
        of many values: O(N^2 D) where the covariance's is O(N D^2 + D^3). Needs N > latent_dim
        (the rows span at most N - 1 directions). Returns the variances, largest first."""
        flat = flat.double()
        mean = flat.mean(0)
        centred = flat - mean
        _, s, vh = torch.linalg.svd(centred, full_matrices=False)
        variances = s.pow(2) / len(flat)  # as the covariance of `fit` (divided by N)
        k = self.latent_dim
        self._store(mean, vh[:k], variances[:k].sum() / variances.sum().clamp_min(1e-30))
        return variances[:k]

    @torch.no_grad()
    def fit_lowrank(self, flat: torch.Tensor) -> torch.Tensor:
        """The components from a randomized SVD of (N, D) training rows (Halko et al. 2011):
        for images too large for the D x D covariance. Returns their variances."""
        mean = flat.mean(0)
        k = self.latent_dim
        _, s, v = torch.pca_lowrank(flat - mean, q=min(k + 10, *flat.shape), center=False,
                                    niter=4)
        variances = s.pow(2) / max(len(flat) - 1, 1)
        total = (flat - mean).pow(2).sum() / max(len(flat) - 1, 1)
        self._store(mean, v[:, :k].T, variances[:k].sum() / total)
        return variances[:k]

    def _store(self, mean: torch.Tensor, components: torch.Tensor,
               explained: torch.Tensor) -> None:
        """The fit's result into the buffers (a checkpoint holds them), whichever solver gave it."""
        self.mean.copy_(mean.float())
        self.components.copy_(components.float())
        self.explained.copy_(explained.float())
        self.fitted.fill_(True)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return (x.flatten(1) - self.mean) @ self.components.T

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return (z @ self.components + self.mean).view(-1, *self.image_shape)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x))
