"""Convolutional encoder/decoder with a dense latent bottleneck, for any image size.

Each of the `depth` stages halves the resolution with a stride-2 conv (ceil(n/2), so odd
sizes work) and doubles the channels from `width`. The decoder mirrors the encoder and
uses per-stage output padding so it returns exactly the input size: 28, 32, 64 px, or
anything else, with any channel count.
"""

import math

import torch
from torch import nn

from aelab.nets.image.latent import Latent, code_layers, from_code, to_code
from aelab.nets.image.layers import Activation, Norm, activation, norm2d
from aelab.options import PositiveInt


def stage_sizes(size: int, depth: int) -> list[int]:
    """Spatial size after the stem and after each stride-2 stage: [size, ceil(size/2), ...]."""
    sizes = [size]
    for _ in range(depth):
        sizes.append(math.ceil(sizes[-1] / 2))
    return sizes


def check_depth(height: int, width: int, depth: int) -> None:
    """Every stride-2 stage must have at least 2 pixels to halve."""
    sizes = stage_sizes(min(height, width), depth)
    if depth < 1 or sizes[-2] < 2:
        fit = next(d for d in range(1, depth + 1) if stage_sizes(min(height, width), d)[-1] == 1)
        raise ValueError(f"model.depth={depth} does not fit {height}x{width} images: {fit} "
                         f"stride-2 stages already reach 1 pixel ({' -> '.join(map(str, sizes))});"
                         f" use model.depth<={fit} or a larger data.image_size")


def use_channels_last(net: nn.Module, on: bool) -> bool:
    """NHWC memory layout for the convolutions' weights (what tensor cores prefer under bf16);
    it survives moving the net to a device. The net's `encode` lays its input out the same."""
    if on:
        net.to(memory_format=torch.channels_last)
    return on


def conv_block(c_in: int, c_out: int, norm: str, act: str, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, stride, 1, bias=norm == "none"),
                         norm2d(norm, c_out), activation(act))


def up_block(c_in: int, c_out: int, norm: str, act: str, output_padding: int) -> nn.Sequential:
    return nn.Sequential(
        nn.ConvTranspose2d(c_in, c_out, 3, 2, 1, output_padding, bias=norm == "none"),
        norm2d(norm, c_out), activation(act), conv_block(c_out, c_out, norm, act))


class ConvEncoder(nn.Module):
    """Image (N, C, H, W) -> feature map (N, width * 2**(depth-1), h, w)."""

    def __init__(self, channels: int, width: int, depth: int, norm: str, act: str):
        super().__init__()
        widths = [width * 2**i for i in range(depth)]
        # No full-resolution conv: the first stage strides at once, which keeps the cost
        # per image low (the full-resolution layers dominate a small autoencoder's FLOPs).
        layers = []
        for c_in, c_out in zip([channels, *widths[:-1]], widths, strict=True):
            layers += [conv_block(c_in, c_out, norm, act, stride=2), conv_block(c_out, c_out, norm, act)]
        self.layers = nn.Sequential(*layers)
        self.out_channels = widths[-1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


class ConvDecoder(nn.Module):
    """Feature map (N, width * 2**(depth-1), h, w) -> image logits (N, C, H, W)."""

    def __init__(self, channels: int, width: int, depth: int, norm: str, act: str,
                 heights: list[int], widths_px: list[int]):
        super().__init__()
        widths = [width * 2**i for i in reversed(range(depth))]
        layers = []
        for i, (c_in, c_out) in enumerate(zip(widths, [*widths[1:], channels], strict=True)):
            # ConvTranspose(k3, s2, p1) gives 2n - 1 + output_padding; pick the padding per axis.
            target_h, target_w = heights[-2 - i], widths_px[-2 - i]
            pad = (target_h - (2 * heights[-1 - i] - 1), target_w - (2 * widths_px[-1 - i] - 1))
            if i < depth - 1:
                layers.append(up_block(c_in, c_out, norm, act, output_padding=pad))
            else:  # the last stage returns logits at full resolution: no norm, no activation
                layers.append(nn.ConvTranspose2d(c_in, c_out, 3, 2, 1, pad))
        self.layers = nn.Sequential(*layers)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.layers(h)


class ConvAutoencoder(nn.Module):
    """Conv encoder -> code of `latent_dim` floats (dense or spatial) -> conv decoder -> sigmoid."""

    has_code = True  # encodes to a code (nets/image/unet.py: skips, no code)

    def __init__(self, image_shape: tuple[int, int, int], latent_dim: PositiveInt,
                 depth: PositiveInt, width: PositiveInt, *, norm: Norm, activation: Activation,
                 channels_last: bool, latent: Latent, latent_outputs: int = 1,
                 decoder_channels: int | None = None):
        super().__init__()
        channels, height, width_px = image_shape
        check_depth(height, width_px, depth)
        self.image_shape = tuple(image_shape)
        self.latent_dim = latent_dim
        heights, widths_px = stage_sizes(height, depth), stage_sizes(width_px, depth)
        self.encoder = ConvEncoder(channels, width, depth, norm, activation)
        c = self.encoder.out_channels
        self.feature_shape = (c, heights[-1], widths_px[-1])
        # A dense vector or a spatial map (latent.py); latent_outputs=2 lets a VAE read mean
        # and log-variance from the same encoder.
        self.latent, self.latent_outputs = latent, latent_outputs
        self.to_latent, self.from_latent = code_layers(latent, self.feature_shape, latent_dim,
                                                       latent_outputs, nn.SiLU())
        # decoder_channels: what a likelihood needs per pixel beyond one value per channel
        # (a logistic mixture's weights, means and scales); by default the image's channels.
        self.decoder = ConvDecoder(decoder_channels or channels, width, depth, norm, activation,
                                   heights, widths_px)
        self.channels_last = use_channels_last(self, channels_last)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return to_code(self.latent, self.to_latent, self.encoder(x), self.latent_outputs)

    def decode_logits(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(from_code(self.latent, self.from_latent, z, self.feature_shape))

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.decode_logits(z))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x))
