"""The code between an image net's encoder and decoder: a dense vector or a spatial map.

`dense` (the 2015-era autoencoder): the encoder's last feature map, flattened, through a
Linear to `latent_dim` floats. `spatial` (the autoencoders of latent diffusion, Rombach et al.
2022): a 1x1 conv to `latent_dim / (h * w)` channels at the encoder's last resolution h x w,
no dense layer, so every code float belongs to one place in the image. Either way the code is
handed around flat, (N, latent_dim) (times `latent_outputs` for a VAE's mean and
log-variance, each half a whole map), so the objectives, samplers and generation tasks work
on both unchanged, and `latent_dim` is the code size in floats in both: tables by code size
compare like with like.
"""

from typing import Literal

import torch
from torch import nn

Latent = Literal["dense", "spatial"]


def code_channels(feature_shape: tuple[int, int, int], latent_dim: int) -> int:
    """Channels of the spatial code map (ValueError if latent_dim does not fill whole maps)."""
    _, h, w = feature_shape
    if latent_dim % (h * w):
        raise ValueError(f"model.latent_dim={latent_dim} with model.net.latent=spatial: the code "
                         f"map is {h}x{w}, so the code size must be a multiple of {h * w} (e.g. "
                         f"{max(1, latent_dim // (h * w)) * h * w}), or use model.net.latent=dense")
    return latent_dim // (h * w)


def code_layers(kind: Latent, feature_shape: tuple[int, int, int], latent_dim: int,
                latent_outputs: int, activation: nn.Module | None) -> tuple[nn.Module, nn.Module]:
    """(to_latent, from_latent): feature map -> code, and code -> feature map."""
    c, h, w = feature_shape
    if kind == "dense":
        to_latent = nn.Linear(c * h * w, latent_dim * latent_outputs)
        from_latent = nn.Linear(latent_dim, c * h * w)
    else:
        k = code_channels(feature_shape, latent_dim)
        to_latent = nn.Conv2d(c, k * latent_outputs, 1)
        from_latent = nn.Conv2d(k, c, 1)
    return to_latent, (nn.Sequential(from_latent, activation) if activation else from_latent)


def to_code(kind: Latent, to_latent: nn.Module, features: torch.Tensor,
            latent_outputs: int) -> torch.Tensor:
    """Feature map (N, c, h, w) -> flat code (N, latent_dim * latent_outputs); a spatial VAE
    code is its mean map flattened, then its log-variance map flattened."""
    if kind == "dense":
        return to_latent(features.flatten(1))
    maps = to_latent(features).chunk(latent_outputs, 1)
    return torch.cat([m.flatten(1) for m in maps], 1)


def from_code(kind: Latent, from_latent: nn.Module, z: torch.Tensor,
              feature_shape: tuple[int, int, int]) -> torch.Tensor:
    """Flat code (N, latent_dim) -> feature map (N, c, h, w)."""
    c, h, w = feature_shape
    if kind == "dense":
        return from_latent(z).view(-1, c, h, w)
    return from_latent(z.view(len(z), -1, h, w))
