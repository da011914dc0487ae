"""Residual encoder/decoder: pre-activation ResBlocks with GroupNorm and SiLU and, with
`attention`, self-attention at the lowest resolution (the VQGAN and latent-diffusion
autoencoders), a dense or spatial code (latent.py), for any image size.

Stages as in `conv.py`: a stride-2 stem, then `depth` stages of `blocks` residual blocks,
each stage after the first entered by a stride-2 conv that doubles the channels from
`width`. The decoder mirrors it, upsampling (nearest, then a conv) to the exact size of the
stage above, so odd sizes (28 -> 14 -> 7 -> 4) come back exactly. `depth` therefore counts
the halvings as in conv.py: 28 px gives 7x7 at depth 2, 4x4 at depth 3.

The encoder and decoder are modules of their own (`ResNetEncoder`, `ResNetDecoder`), which the
VQ-VAE net (vq.py) reuses around its codebook.
"""

import math

import torch
import torch.nn.functional as F
from torch import nn

from aelab.nets.image.conv import check_depth, stage_sizes
from aelab.nets.image.latent import Latent, code_layers, from_code, to_code
from aelab.options import PositiveInt


def group_norm(channels: int, groups: int) -> nn.GroupNorm:
    return nn.GroupNorm(math.gcd(groups, channels), channels)


class ResBlock(nn.Module):
    """x + conv(silu(norm(conv(silu(norm(x)))))), a 1x1 conv on the skip if widths differ."""

    def __init__(self, c_in: int, c_out: int, groups: int):
        super().__init__()
        self.body = nn.Sequential(group_norm(c_in, groups), nn.SiLU(), nn.Conv2d(c_in, c_out, 3, 1, 1),
                                  group_norm(c_out, groups), nn.SiLU(), nn.Conv2d(c_out, c_out, 3, 1, 1))
        self.skip = nn.Conv2d(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.skip(x) + self.body(x)


class SelfAttention(nn.Module):
    """x + proj(attention(norm(x))) over the h*w positions of a feature map: the attention
    block of the VQGAN / latent-diffusion autoencoders at their lowest resolution, through
    `F.scaled_dot_product_attention` (the fused kernels on a GPU)."""

    def __init__(self, channels: int, groups: int, heads: int):
        super().__init__()
        if channels % heads:
            raise ValueError(f"model.net.heads={heads} does not divide the {channels} channels "
                             "at the lowest resolution")
        self.heads = heads
        self.norm = group_norm(channels, groups)
        self.qkv = nn.Conv2d(channels, 3 * channels, 1)
        self.proj = nn.Conv2d(channels, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        q, k, v = self.qkv(self.norm(x)).view(n, 3, self.heads, c // self.heads, h * w).unbind(1)
        out = F.scaled_dot_product_attention(q.transpose(-1, -2), k.transpose(-1, -2),
                                             v.transpose(-1, -2))  # (n, heads, h*w, c/heads)
        return x + self.proj(out.transpose(-1, -2).reshape(n, c, h, w))


class Upsample(nn.Module):
    """Nearest-neighbour upsampling to an exact size, then a 3x3 conv."""

    def __init__(self, c_in: int, c_out: int, size: tuple[int, int]):
        super().__init__()
        self.size = size
        self.conv = nn.Conv2d(c_in, c_out, 3, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.interpolate(x, size=self.size, mode="nearest"))


class ResNetEncoder(nn.Sequential):
    """Image (N, C, H, W) -> features (N, width * 2**(depth-1), h, w), normalised and activated:
    the stride-2 stem, `depth` stages of `blocks` ResBlocks (a stride-2 conv doubling the
    channels between stages), with `attention` a self-attention block at the end.

    A Sequential whose layer indices are the names ResNetAutoencoder's checkpoints hold
    (`encoder.<i>....`): change the layer order and old runs no longer load."""

    def __init__(self, channels: int, width: int, depth: int, *, blocks: int, groups: int,
                 attention: bool, heads: int):
        widths = [width * 2**i for i in range(depth)]
        layers: list[nn.Module] = [nn.Conv2d(channels, widths[0], 3, 2, 1)]
        for i, c in enumerate(widths):
            if i > 0:
                layers.append(nn.Conv2d(widths[i - 1], c, 3, 2, 1))
            layers += [ResBlock(c, c, groups) for _ in range(blocks)]
        # Self-attention after the last blocks (with none, the layer indices stay as they were).
        attend = [SelfAttention(widths[-1], groups, heads)] if attention else []
        super().__init__(*layers, *attend, group_norm(widths[-1], groups), nn.SiLU())
        self.out_channels = widths[-1]


class ResNetDecoder(nn.Sequential):
    """Features (N, width * 2**(depth-1), h, w) -> logits (N, out_channels, H, W): the encoder
    mirrored (self-attention first with `attention`), upsampling to each stage's exact size
    (`heights`, `widths_px`: stage_sizes of the image's axes), so odd sizes come back whole.
    A Sequential for the same reason as the encoder: its indices are checkpoint names."""

    def __init__(self, out_channels: int, width: int, depth: int, heights: list[int],
                 widths_px: list[int], *, blocks: int, groups: int, attention: bool, heads: int):
        widths = [width * 2**i for i in range(depth)]
        layers: list[nn.Module] = [SelfAttention(widths[-1], groups, heads)] if attention else []
        for i in reversed(range(depth)):
            layers += [ResBlock(widths[i], widths[i], groups) for _ in range(blocks)]
            if i > 0:  # up to stage i-1's resolution and width
                layers.append(Upsample(widths[i], widths[i - 1], (heights[i], widths_px[i])))
        super().__init__(*layers, group_norm(widths[0], groups), nn.SiLU(),
                         Upsample(widths[0], out_channels, (heights[0], widths_px[0])))


class ResNetAutoencoder(nn.Module):
    has_code = True  # encodes to a code (nets/image/unet.py: skips, no code)

    def __init__(self, image_shape: tuple[int, int, int], latent_dim: PositiveInt,
                 depth: PositiveInt, width: PositiveInt, *, blocks: PositiveInt,
                 groups: PositiveInt, latent: Latent, attention: bool, heads: PositiveInt,
                 latent_outputs: int = 1, decoder_channels: int | None = None):
        super().__init__()
        channels, height, width_px = image_shape
        check_depth(height, width_px, depth)
        self.image_shape = tuple(image_shape)
        heights, widths_px = stage_sizes(height, depth), stage_sizes(width_px, depth)
        stages = dict(blocks=blocks, groups=groups, attention=attention, heads=heads)
        self.encoder = ResNetEncoder(channels, width, depth, **stages)
        self.feature_shape = (self.encoder.out_channels, heights[-1], widths_px[-1])
        # A dense vector or a spatial map (latent.py); latent_outputs=2 lets a VAE read mean
        # and log-variance from the same encoder.
        self.latent, self.latent_outputs = latent, latent_outputs
        self.to_latent, self.from_latent = code_layers(latent, self.feature_shape, latent_dim,
                                                       latent_outputs, None)
        # Logits at full size; decoder_channels: a likelihood's parameters per pixel.
        self.decoder = ResNetDecoder(decoder_channels or channels, width, depth, heights,
                                     widths_px, **stages)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return to_code(self.latent, self.to_latent, self.encoder(x), self.latent_outputs)

    def decode_logits(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(from_code(self.latent, self.from_latent, z, self.feature_shape))

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.decode_logits(z))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x))
