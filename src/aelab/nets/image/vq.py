"""VQ-VAE net: conv encoder -> 1x1 conv to code vectors -> quantiser -> conv decoder.

The code grid has the encoder's output size (7x7 for 28 px at depth 2); every position
holds one of `num_codes` codes, which a prior (`aelab.models.image.code_prior`) can model.
"""

from typing import Annotated

import torch
from torch import nn

from aelab.nets.image.conv import ConvDecoder, ConvEncoder, check_depth, stage_sizes, use_channels_last
from aelab.nets.image.layers import Activation, Norm
from aelab.nets.image.quantizer import VectorQuantizer
from aelab.options import NonNegativeFloat, PositiveInt, Range


class ConvVQAutoencoder(nn.Module):
    has_code = True  # encodes to a code (nets/image/unet.py: skips, no code)

    def __init__(self, image_shape: tuple[int, int, int], latent_dim: PositiveInt,
                 depth: PositiveInt, width: PositiveInt, *,
                 num_codes: Annotated[int, Range(ge=2)],
                 decay: Annotated[float, Range(ge=0, lt=1)], commitment: NonNegativeFloat,
                 restart_below: NonNegativeFloat, norm: Norm, activation: Activation,
                 channels_last: bool):
        super().__init__()
        channels, height, width_px = image_shape
        check_depth(height, width_px, depth)
        self.image_shape = tuple(image_shape)
        heights, widths_px = stage_sizes(height, depth), stage_sizes(width_px, depth)
        self.grid_shape = (heights[-1], widths_px[-1])
        self.encoder = ConvEncoder(channels, width, depth, norm, activation)
        self.to_code = nn.Conv2d(self.encoder.out_channels, latent_dim, 1)
        self.quantizer = VectorQuantizer(num_codes, latent_dim, decay, commitment, restart_below)
        self.from_code = nn.Conv2d(latent_dim, self.encoder.out_channels, 1)
        self.decoder = ConvDecoder(channels, width, depth, norm, activation, heights, widths_px)
        self.channels_last = use_channels_last(self, channels_last)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Continuous pre-quantisation vectors (N, latent_dim, h, w)."""
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return self.to_code(self.encoder(x))

    def quantize(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return self.quantizer(z)

    def decode_logits(self, quantised: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.from_code(quantised))

    def decode(self, quantised: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.decode_logits(quantised))

    def decode_codes(self, codes: torch.Tensor) -> torch.Tensor:
        """Code indices (N, h, w) -> images (N, C, H, W)."""
        return self.decode(self.quantizer.lookup(codes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.quantize(self.encode(x))[0])
