"""VQ-VAE nets: encoder -> 1x1 conv to code vectors -> quantiser -> 1x1 conv -> decoder.

The code grid has the encoder's output size (7x7 for 28 px at depth 2); every position
holds one of `num_codes` codes, which a prior (`aelab.models.image.code_prior`) can model.
`VQAutoencoder` is that path, written once; the nets differ only in the encoder and decoder
around it: `ConvVQAutoencoder` (conv.py's stages) and `ResNetVQAutoencoder` (resnet.py's
ResBlocks with GroupNorm and optional self-attention: the VQGAN's nets, without the GAN).
"""

from typing import Annotated

import torch
from torch import nn

from aelab.nets.image.conv import ConvDecoder, ConvEncoder, check_depth, stage_sizes, use_channels_last
from aelab.nets.image.layers import Activation, Norm
from aelab.nets.image.quantizer import VectorQuantizer
from aelab.nets.image.resnet import ResNetDecoder, ResNetEncoder
from aelab.options import NonNegativeFloat, PositiveInt, Range

NumCodes = Annotated[int, Range(ge=2)]
Decay = Annotated[float, Range(ge=0, lt=1)]


class VQAutoencoder(nn.Module):
    """What every VQ net does between its `encoder` and `decoder`, which a subclass sets, with
    `add_codebook` between them, and its `image_shape` and code `grid_shape`."""

    has_code = True  # encodes to a code (nets/image/unet.py: skips, no code)
    channels_last = False  # the conv net may lay its input out NHWC (use_channels_last)

    def add_codebook(self, features: int, latent_dim: int, *, num_codes: int, decay: float,
                     commitment: float, restart_below: float) -> None:
        """The 1x1 convs from `features` channels to code vectors of `latent_dim` and back, and
        the codebook between them. Called after the encoder is built and before the decoder,
        so a seed initialises every layer as it always did (the codebook is drawn at random)."""
        self.to_code = nn.Conv2d(features, latent_dim, 1)
        self.quantizer = VectorQuantizer(num_codes, latent_dim, decay, commitment, restart_below)
        self.from_code = nn.Conv2d(latent_dim, features, 1)

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


def stage_grid(image_shape: tuple[int, int, int], depth: int) -> tuple[list[int], list[int]]:
    """The stage sizes of each axis, [size, ceil(size/2), ...]; the last pair is the code grid
    (ValueError naming the fix if `depth` halves the image below 1 pixel)."""
    _, height, width_px = image_shape
    check_depth(height, width_px, depth)
    return stage_sizes(height, depth), stage_sizes(width_px, depth)


class ConvVQAutoencoder(VQAutoencoder):
    def __init__(self, image_shape: tuple[int, int, int], latent_dim: PositiveInt,
                 depth: PositiveInt, width: PositiveInt, *, num_codes: NumCodes, decay: Decay,
                 commitment: NonNegativeFloat, restart_below: NonNegativeFloat, norm: Norm,
                 activation: Activation, channels_last: bool):
        super().__init__()
        heights, widths_px = stage_grid(image_shape, depth)
        self.image_shape, self.grid_shape = tuple(image_shape), (heights[-1], widths_px[-1])
        channels = image_shape[0]
        self.encoder = ConvEncoder(channels, width, depth, norm, activation)
        self.add_codebook(self.encoder.out_channels, latent_dim, num_codes=num_codes,
                          decay=decay, commitment=commitment, restart_below=restart_below)
        self.decoder = ConvDecoder(channels, width, depth, norm, activation, heights, widths_px)
        self.channels_last = use_channels_last(self, channels_last)


class ResNetVQAutoencoder(VQAutoencoder):
    def __init__(self, image_shape: tuple[int, int, int], latent_dim: PositiveInt,
                 depth: PositiveInt, width: PositiveInt, *, num_codes: NumCodes, decay: Decay,
                 commitment: NonNegativeFloat, restart_below: NonNegativeFloat,
                 blocks: PositiveInt, groups: PositiveInt, attention: bool, heads: PositiveInt):
        super().__init__()
        heights, widths_px = stage_grid(image_shape, depth)
        self.image_shape, self.grid_shape = tuple(image_shape), (heights[-1], widths_px[-1])
        channels = image_shape[0]
        stages = dict(blocks=blocks, groups=groups, attention=attention, heads=heads)
        self.encoder = ResNetEncoder(channels, width, depth, **stages)
        self.add_codebook(self.encoder.out_channels, latent_dim, num_codes=num_codes,
                          decay=decay, commitment=commitment, restart_below=restart_below)
        self.decoder = ResNetDecoder(channels, width, depth, heights, widths_px, **stages)
