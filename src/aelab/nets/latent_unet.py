"""The denoiser of the latent diffusion prior for spatial codes: a small U-Net over the code map.

A spatial code (conv / resnet autoencoders with `model.net.latent=spatial`, a VQ-VAE's
pre-quantisation grid) is a map of k channels at h x w, where every float belongs to one
place of the image; the U-Net keeps that shape, so it sees neighbourhoods as the MLP over
the flattened code cannot, with the same weights at every place (the latent diffusion
U-Net of Rombach et al., 2022, made small: code maps here are 4x4 to 8x8).

`levels` resolutions: the code map's, then each halved (rounding up: a 7x7 map goes to
4x4), `channels` doubling per level; `blocks` ResBlocks (GroupNorm, SiLU, 3x3 convs) per
level on the way down and on the way up, the way up taking the way down's features through
concatenated skips. Time (and, with `num_classes`, a class label with one extra index for
"no label", classifier-free guidance's unconditional model) enters every ResBlock as a
per-channel scale and shift of its second norm (the "scale-shift norm" of Dhariwal &
Nichol, 2021). The output has the input's shape.
"""

import torch
import torch.nn.functional as F
from torch import nn

from aelab.nets.latent_denoiser import sinusoidal


def group_norm(channels: int, groups: int) -> nn.GroupNorm:
    # The largest group count <= `groups` that divides the channels (a 1-channel map: 1 group).
    return nn.GroupNorm(next(g for g in range(min(groups, channels), 0, -1) if channels % g == 0),
                        channels)


class ResBlock(nn.Module):
    def __init__(self, channels_in: int, channels: int, emb_width: int, groups: int,
                 dropout: float):
        super().__init__()
        self.norm1 = group_norm(channels_in, groups)
        self.conv1 = nn.Conv2d(channels_in, channels, 3, padding=1)
        self.emb = nn.Linear(emb_width, 2 * channels)  # scale and shift from time (+ class)
        self.norm2, self.dropout = group_norm(channels, groups), nn.Dropout(dropout)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)
        nn.init.zeros_(self.conv2.weight)  # each block starts as its skip: a deep stack trains
        nn.init.zeros_(self.conv2.bias)
        self.skip = nn.Conv2d(channels_in, channels, 1) if channels_in != channels else nn.Identity()

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        scale, shift = self.emb(emb)[:, :, None, None].chunk(2, 1)
        h = self.norm2(h) * (1 + scale) + shift
        return self.skip(x) + self.conv2(self.dropout(F.silu(h)))


class LatentUNet(nn.Module):
    def __init__(self, shape: tuple[int, int, int], channels: int = 64, levels: int = 2,
                 blocks: int = 2, groups: int = 8, dropout: float = 0.0, num_classes: int = 0):
        super().__init__()
        self.shape, self.num_classes = tuple(shape), num_classes
        self.blocks, self.levels = blocks, levels
        self.dim = shape[0] * shape[1] * shape[2]  # floats per code, as the MLP denoiser's
        width = 4 * channels  # the time / class embedding's width
        self.emb_in = channels
        self.time = nn.Sequential(nn.Linear(2 * (channels // 2), width), nn.SiLU(),
                                  nn.Linear(width, width))
        # Index num_classes is "no label" (classifier-free guidance's unconditional model).
        self.label = nn.Embedding(num_classes + 1, width) if num_classes else None
        widths = [channels * 2 ** i for i in range(levels)]
        self.inp = nn.Conv2d(shape[0], channels, 3, padding=1)
        self.down, self.downsample = nn.ModuleList(), nn.ModuleList()
        # The channels of each feature the way down keeps for the way up, in forward's order.
        skip_channels, c = [channels], channels
        for i, w in enumerate(widths):
            for _ in range(blocks):
                self.down.append(ResBlock(c, w, width, groups, dropout))
                c = w
                skip_channels.append(c)
            if i < levels - 1:  # stride 2, padding 1: ceil(h / 2), so odd maps halve too
                self.downsample.append(nn.Conv2d(c, c, 3, stride=2, padding=1))
                skip_channels.append(c)
        self.middle = ResBlock(c, c, width, groups, dropout)
        self.up, self.upsample = nn.ModuleList(), nn.ModuleList()
        for i, w in reversed(list(enumerate(widths))):
            for _ in range(blocks + 1):  # one more: it takes the downsampled skip too
                self.up.append(ResBlock(c + skip_channels.pop(), w, width, groups, dropout))
                c = w
            if i > 0:
                self.upsample.append(nn.Conv2d(c, c, 3, padding=1))
        self.out_norm = group_norm(c, groups)
        self.out = nn.Conv2d(c, shape[0], 3, padding=1)

    def embedding(self, t: torch.Tensor, labels: torch.Tensor | None, n: int) -> torch.Tensor:
        emb = self.time(sinusoidal(t, self.emb_in))
        if self.label is not None:
            if labels is None:
                labels = torch.full((n,), self.num_classes, device=emb.device)
            emb = emb + self.label(labels)
        return F.silu(emb)

    def forward(self, x: torch.Tensor, t: torch.Tensor,
                labels: torch.Tensor | None = None) -> torch.Tensor:
        emb = self.embedding(t, labels, len(x))
        h = self.inp(x)
        skips, down = [h], iter(self.down)
        for level in range(self.levels):
            for _ in range(self.blocks):
                h = next(down)(h, emb)
                skips.append(h)
            if level < self.levels - 1:
                h = self.downsample[level](h)
                skips.append(h)
        h = self.middle(h, emb)
        up = iter(self.up)
        for level in reversed(range(self.levels)):
            for _ in range(self.blocks + 1):
                h = next(up)(torch.cat([h, skips.pop()], 1), emb)
            if level > 0:  # back to the size of the skip it meets next (7x7 from 4x4)
                size = skips[-1].shape[-2:]
                h = self.upsample[self.levels - 1 - level](F.interpolate(h, size=size, mode="nearest"))
        return self.out(F.silu(self.out_norm(h)))
