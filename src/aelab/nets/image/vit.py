"""Vision Transformer autoencoder (`model=vit_ae`): images as sequences of patches.

Encoder: the image cut into `patch` x `patch` patches, each a token of `width` floats (a
strided convolution, as ViT's patch embedding, Dosovitskiy et al. 2021) plus a learned
position, then `depth` pre-LN Transformer blocks, a final LayerNorm, the mean over the tokens
and a Linear to the code of `latent_dim` floats. Decoder, mirrored (as MAE's decoder, He et al.
2022, without the masking): the code projected to `width` and added to a learned query per
patch position, `depth` blocks, a LayerNorm and a Linear from each token to its patch's
pixels, put back in place. Every token sees every other from the first block, where a conv
net's receptive field grows stage by stage; the price is attention's cost, quadratic in the
number of patches, so `patch` sets both the detail a token holds and the speed.

The net interface is the other image nets' (`encode`, `decode_logits`, `decode`, `has_code`),
so the model's objectives (autoencoder with `linear_path=pca`, VAE through `latent_outputs`
and `decoder_channels`) and every generation task take it unchanged.
"""

import torch
from torch import nn

from aelab.options import PositiveInt


def blocks(width: int, depth: int, heads: int, mlp_ratio: int) -> nn.ModuleList:
    """`depth` pre-LN Transformer blocks (attention, then a GELU MLP of mlp_ratio x width),
    no dropout: the reconstruction is the whole target, nothing to regularise towards."""
    return nn.ModuleList(
        nn.TransformerEncoderLayer(width, heads, mlp_ratio * width, dropout=0.0,
                                   activation="gelu", batch_first=True, norm_first=True)
        for _ in range(depth))


class ViTAutoencoder(nn.Module):
    has_code = True  # encodes to a vector code (nets/image/unet.py: skips, no code)

    def __init__(self, image_shape: tuple[int, int, int], latent_dim: PositiveInt,
                 depth: PositiveInt, width: PositiveInt, *, patch: PositiveInt,
                 heads: PositiveInt, mlp_ratio: PositiveInt, latent_outputs: int = 1,
                 decoder_channels: int | None = None):
        super().__init__()
        channels, height, wide = image_shape
        if height % patch or wide % patch:
            raise ValueError(f"model.net.patch={patch} does not divide the {height}x{wide} "
                             "images into whole patches; set model.net.patch to a divisor of "
                             "both sides")
        if width % heads:
            raise ValueError(f"model.net.heads={heads} does not divide model.width={width}")
        self.image_shape, self.patch = tuple(image_shape), patch
        self.grid = (height // patch, wide // patch)
        self.out_channels = decoder_channels or channels
        tokens = self.grid[0] * self.grid[1]
        self.embed = nn.Conv2d(channels, width, patch, stride=patch)
        self.encoder_positions = nn.Parameter(torch.randn(1, tokens, width) * 0.02)
        self.encoder = blocks(width, depth, heads, mlp_ratio)
        self.encoder_norm = nn.LayerNorm(width)
        self.to_latent = nn.Linear(width, latent_dim * latent_outputs)
        self.from_latent = nn.Linear(latent_dim, width)
        self.decoder_positions = nn.Parameter(torch.randn(1, tokens, width) * 0.02)
        self.decoder = blocks(width, depth, heads, mlp_ratio)
        self.decoder_norm = nn.LayerNorm(width)
        self.to_patch = nn.Linear(width, self.out_channels * patch * patch)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        tokens = self.embed(x).flatten(2).transpose(1, 2) + self.encoder_positions
        for block in self.encoder:
            tokens = block(tokens)
        return self.to_latent(self.encoder_norm(tokens).mean(1))

    def decode_logits(self, z: torch.Tensor) -> torch.Tensor:
        tokens = self.decoder_positions + self.from_latent(z).unsqueeze(1)
        for block in self.decoder:
            tokens = block(tokens)
        patches = self.to_patch(self.decoder_norm(tokens))  # (N, h*w, C*p*p)
        (h, w), p, c = self.grid, self.patch, self.out_channels
        patches = patches.view(-1, h, w, c, p, p).permute(0, 3, 1, 4, 2, 5)
        return patches.reshape(-1, c, h * p, w * p)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.decode_logits(z))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x))
