"""The linear floor inside a nonlinear autoencoder (`model.linear_path=pca`).

PCA is the best a linear code of `latent_dim` floats can do (Eckart-Young), and a linear
autoencoder can represent it exactly; a nonlinear one trained from scratch can end far below
it, because what PCA keeps for free (the mean image, the smooth low-frequency content that
dominates photographs) has to be learnt back through its nonlinearities. So the net here is
PCA plus a learnt correction on each side:

    code  = W (x - mean) / s          + a * encoder(x)
    image = mean + W^T (s * code)     + b * decoder(code)

W holds the training split's top principal components and s their standard deviations (the
code is whitened: unit variance per float, the scale the nets and the samplers of codes
expect). W, s and the mean are fitted once before training (`fit`) and kept fixed: PCA is
already the optimal linear code under the squared error, so nothing linear is left to learn.
The scalar gates a and b start at 0 (ReZero, Bachlechner et al. 2020), so training starts
from PCA's reconstruction exactly; each gate then grows as far as its nonlinear net helps.
The nets keep their own initialisation: zeroing their last layers instead (ControlNet's zero
convolutions) let Adam's first steps, about the learning rate on every weight whatever the
gradient, throw the output far past PCA's whole error on photographs. The output is an
image, not logits: the model scores it directly (clipped to [0, 1] where it is an image).
With a spatial code (`model.net.latent=spatial`) PCA's part of each float is global, not tied
to one place in the image: a prior that relies on the code's layout wants
`model.linear_path=none`.
"""

import math

import torch
from torch import nn

from aelab.errors import AelabError
from aelab.nets.image.pca import PCA

# Above this many values per image the covariance (D x D, float64) and its eigendecomposition
# get slow and large (a 64x64 RGB image: 1.2 GB); there the components come from a randomized
# SVD of a sample of the training images instead.
EXACT_MAX_PIXELS = 4096
SAMPLE_FOR_LOWRANK = 20_000


class LinearPath(nn.Module):
    """Whitened PCA as an encoder and a decoder; fitted once by `fit`, then fixed."""

    def __init__(self, image_shape: tuple[int, int, int], latent_dim: int):
        super().__init__()
        self.pca = PCA(image_shape, latent_dim)
        self.register_buffer("scale", torch.ones(latent_dim))  # the components' std devs

    @property
    def fitted(self) -> bool:
        return bool(self.pca.fitted)

    @torch.no_grad()
    def fit(self, images: torch.Tensor, batch_size: int = 4096) -> None:
        """Fit on the training images, floats in [0, 1] or uint8, (N, C, H, W)."""
        def unit(chunk: torch.Tensor) -> torch.Tensor:
            return chunk.double().div(255) if chunk.dtype == torch.uint8 else chunk.double()

        pixels = math.prod(images.shape[1:])
        if self.pca.latent_dim < len(images) <= pixels // 2:
            # Few images of many values (a small dataset, the tests): the SVD of the rows is
            # the same fit at a fraction of the covariance's cost.
            variances = self.pca.fit_rows(unit(images).flatten(1).cpu())
        elif pixels <= EXACT_MAX_PIXELS:
            for start in range(0, len(images), batch_size):
                self.pca.accumulate(unit(images[start:start + batch_size]))
            variances = self.pca.fit()
        else:
            k = self.pca.latent_dim
            if len(images) <= k:
                raise AelabError(f"model.linear_path=pca: {len(images)} training images give "
                                 f"fewer than the {k} components of the code; use a smaller "
                                 "model.latent_dim or model.linear_path=none")
            generator = torch.Generator().manual_seed(0)
            pick = torch.randperm(len(images), generator=generator)[:SAMPLE_FOR_LOWRANK]
            flat = unit(images[pick.to(images.device)]).flatten(1).float().cpu()
            variances = self.pca.fit_lowrank(flat)
        # A component of (near) zero variance would blow its code float up: floor it.
        self.scale.copy_(variances.clamp_min(1e-6).sqrt().float())

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.pca.encode(x) / self.scale

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.pca.decode(z * self.scale)


class WithLinearPath(nn.Module):
    """Any image net with a vector code (`encode` / `decode_logits`), plus the linear path
    beside it: its encoder's code and its decoder's output become gated corrections to PCA's.
    The net's interface is kept (encode, decode_logits, decode), so every objective, sampler
    and generation task uses it unchanged; `outputs_image` tells the model that
    `decode_logits` gives an image, not logits."""

    has_code = True
    outputs_image = True

    def __init__(self, net: nn.Module, image_shape: tuple[int, int, int], latent_dim: int):
        super().__init__()
        self.net = net
        self.linear = LinearPath(image_shape, latent_dim)
        self.code_gate = nn.Parameter(torch.zeros(()))
        self.image_gate = nn.Parameter(torch.zeros(()))

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return self.linear.pca.image_shape

    def compiled_parts(self):
        """What `model.compile` compiles: the wrapped net's parts (encoder, decoder, ...),
        whose forward its encode / decode_logits call; the wrapped net's own forward is not."""
        return self.net.children()

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        if tuple(x.shape[1:]) != self.image_shape:
            raise AelabError(f"model.linear_path=pca holds PCA components of "
                             f"{'x'.join(map(str, self.image_shape))} images and cannot encode "
                             f"{'x'.join(map(str, x.shape[1:]))} ones: train on whole images "
                             "(no data.crop), or set model.linear_path=none")
        return self.linear.encode(x) + self.code_gate * self.net.encode(x)

    def decode_logits(self, z: torch.Tensor) -> torch.Tensor:
        """The decoded image, unclipped (named as every net's, which gives logits)."""
        return self.linear.decode(z) + self.image_gate * self.net.decode_logits(z)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.decode_logits(z).clamp(0, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x))
