"""Fully connected autoencoder on flattened images."""

import math

import torch
from torch import nn

from aelab.nets.image.layers import Activation
from aelab.nets.image.layers import activation as make_activation
from aelab.options import NonNegativeInt, PositiveInt


def mlp(sizes: list[int], act: str) -> nn.Sequential:
    """Linear layers through `sizes` with an activation between them (none after the last)."""
    layers: list[nn.Module] = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        layers.append(nn.Linear(n_in, n_out))
        if i < len(sizes) - 2:
            layers.append(make_activation(act))
    return nn.Sequential(*layers)


class MLPAutoencoder(nn.Module):
    """`depth` hidden layers of `width` units on each side of a `latent_dim` code."""

    has_code = True  # encodes to a code (nets/image/unet.py: skips, no code)

    def __init__(self, image_shape: tuple[int, int, int], latent_dim: PositiveInt,
                 depth: NonNegativeInt, width: PositiveInt, *, activation: Activation,
                 latent_outputs: int = 1):
        super().__init__()
        self.image_shape = tuple(image_shape)
        self.latent_dim = latent_dim
        pixels = math.prod(image_shape)
        hidden = [width] * depth
        self.encoder = mlp([pixels, *hidden, latent_dim * latent_outputs], activation)
        self.decoder = mlp([latent_dim, *hidden, pixels], activation)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x.flatten(1))

    def decode_logits(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(z).view(-1, *self.image_shape)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.decode_logits(z))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x))
