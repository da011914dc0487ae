"""Skip-connected encoder-decoder for restoration (RED-Net, Mao et al. 2016; U-Net): no
vector code, so what the input already holds reaches the output through the skips.

A stem conv (at full resolution unless `shuffle`, below), then `depth` stride-2 stages
doubling the channels from `width`, `blocks` residual blocks at every resolution on each
side; each decoder stage upsamples to the exact size of the encoder stage it mirrors (odd
sizes work: 28 -> 14 -> 7 -> 4 and back) and merges that stage's features, added
(`skips=add`, RED-Net) or concatenated and mixed by a 1x1 conv (`skips=concat`, U-Net).
Fully convolutional: it restores images of any size, not only the training size.

`shuffle=s` runs the whole net on an s-times smaller grid: the stem folds each s x s block of
pixels into channels (pixel unshuffle, lossless) and the head unfolds them (pixel shuffle,
ESPCN). For x4 upscaling the bicubic input holds no detail finer than its 4x4 blocks, so
full-resolution stages spend much of their compute where the input has nothing new; on the
folded grid the same compute buys a wider, deeper net (EDSR's body runs at the low
resolution). On the photo patches it matched the x4 U-Net at a higher images/s
(experiments/restoration/README.md).

`bias_free=true` drops every additive constant (conv biases) and centres the input on its
per-image, per-channel mean: the net is then homogeneous, f(a x + b) = a f(x) for any a > 0 and
b, as the restoration itself is for a linear degradation (bicubic downsampling, noise scaled with
the image). A faint texture is restored as its strong version, scaled down. Mohan et al. (2020,
"bias-free CNNs") found such denoisers generalise to noise levels outside their training range;
here the aim is contrast levels outside it (the flat sky of a test photo).

The dense-bottleneck nets (conv.py, resnet.py) remain what codes, sampling and interpolation
need; this one has `has_code = False`, and its model serves reconstruct / denoise / upscale.
With `model.residual=true` the model adds the net's output to its input (DnCNN, VDSR).
"""

import math
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from aelab.errors import AelabError
from aelab.nets.image.conv import check_depth, use_channels_last
from aelab.nets.image.layers import Activation, Norm, activation, norm2d
from aelab.options import NonNegativeInt, PositiveFloat, PositiveInt


class ResidualBlock(nn.Module):
    """x + scale * conv(act(norm(conv(x)))): the EDSR block (norm none by default in the yaml,
    since batch statistics shift a restoration net's output by the batch's content). EDSR's
    residual scaling (`scale` 0.1) keeps a deep or wide stack without normalisation from
    diverging: each block starts as a small step from the identity."""

    def __init__(self, channels: int, norm: Norm, act: Activation, scale: float, bias: bool):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(channels, channels, 3, 1, 1, bias=bias),
                                  norm2d(norm, channels), activation(act),
                                  nn.Conv2d(channels, channels, 3, 1, 1, bias=bias))
        self.scale = scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.scale * self.body(x)


class Up(nn.Module):
    """Upsample to the skip's exact size (nearest, then a 3x3 conv), merge the skip."""

    def __init__(self, c_in: int, c_out: int, skips: str, bias: bool):
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, 3, 1, 1, bias=bias)
        self.mix = nn.Conv2d(2 * c_out, c_out, 1, bias=bias) if skips == "concat" else None

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        x = self.conv(F.interpolate(x, size=skip.shape[-2:], mode="nearest"))
        return self.mix(torch.cat([x, skip], 1)) if self.mix is not None else x + skip


class UNet(nn.Module):
    """Image (N, C, H, W) -> logits of the same shape, through skips at every resolution."""

    has_code = False

    def __init__(self, image_shape: tuple[int, int, int], depth: NonNegativeInt,
                 width: PositiveInt, *, blocks: PositiveInt, skips: Literal["add", "concat"],
                 norm: Norm, activation: Activation, channels_last: bool, shuffle: PositiveInt,
                 res_scale: PositiveFloat, bias_free: bool):
        super().__init__()
        channels, height, width_px = image_shape
        if bias_free and norm != "none":
            raise AelabError(f"model.net.bias_free=true with model.net.norm={norm}: a norm "
                             "layer's shift is an additive constant; use model.net.norm=none")
        self.shuffle, self.bias_free = shuffle, bias_free
        bias = not bias_free
        if depth:  # the stages halve the folded grid (a ragged edge is padded: forward_logits)
            check_depth(math.ceil(height / shuffle), math.ceil(width_px / shuffle), depth)
        self.image_shape = tuple(image_shape)
        widths = [width * 2**i for i in range(depth + 1)]

        def stage(c: int) -> nn.Sequential:
            return nn.Sequential(*[ResidualBlock(c, norm, activation, res_scale, bias)
                                   for _ in range(blocks)])

        # fold / unfold hold no weights: checkpoints from before `shuffle` load unchanged
        self.fold, self.unfold = nn.PixelUnshuffle(shuffle), nn.PixelShuffle(shuffle)
        self.stem = nn.Conv2d(channels * shuffle**2, width, 3, 1, 1, bias=bias)
        self.down_stages = nn.ModuleList(stage(c) for c in widths[:-1])
        pairs = list(zip(widths[:-1], widths[1:], strict=True))  # (stage's width, next one's)
        self.downs = nn.ModuleList(nn.Conv2d(a, b, 3, 2, 1, bias=bias) for a, b in pairs)
        self.middle = stage(widths[-1])
        self.ups = nn.ModuleList(Up(b, a, skips, bias) for a, b in pairs)
        self.up_stages = nn.ModuleList(stage(c) for c in widths[:-1])
        self.head = nn.Conv2d(width, channels * shuffle**2, 3, 1, 1, bias=bias)
        # Zero output at the start: a residual model begins as the identity (the noisy or
        # bicubic input, a good first guess) instead of input + random noise.
        nn.init.zeros_(self.head.weight)
        if bias:
            nn.init.zeros_(self.head.bias)
        self.channels_last = use_channels_last(self, channels_last)

    def forward_logits(self, x: torch.Tensor) -> torch.Tensor:
        height, width = x.shape[-2:]
        s = self.shuffle
        if height % s or width % s:  # fold whole blocks: pad the edge by replication, crop after
            x = F.pad(x, (0, -width % s, 0, -height % s), mode="replicate")
        if self.bias_free:  # the mean is the one additive part of the input the net must not see
            x = x - x.mean((-2, -1), keepdim=True)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        h = self.stem(self.fold(x))
        skips = []
        for stage, down in zip(self.down_stages, self.downs, strict=True):
            h = stage(h)
            skips.append(h)
            h = down(h)
        h = self.middle(h)
        for i in reversed(range(len(self.ups))):
            h = self.up_stages[i](self.ups[i](h, skips[i]))
        return self.unfold(self.head(h))[..., :height, :width]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.forward_logits(x))
