"""Hierarchical VAE net: a bottom-up ResNet encoder and a shared top-down path that carries
several latent groups (a small NVAE / VDVAE, Vahdat & Kautz 2020, Child 2021).

Levels are the resolutions of `conv.py`'s stages: level 0 is the image size, each level
below halves it (28 -> 14 -> 7 for depth 2), with `width * 2**level` channels. The encoder
runs up the levels and keeps each level's features. The top-down path starts from a learned
map at the coarsest level and goes back down; at each of the `latent_groups` coarsest levels
it holds one latent group, a map of `latent_dim` channels at that level's resolution:

    prior      p(z_g | z_<g)    = N(mean, var) read from the top-down state h
    posterior  q(z_g | x, z_<g) = N(mean, var) read from h and the encoder's features there
    h         <- h + conv(z_g)  (a sample of q in training, of p when generating)

then `blocks` ResBlocks, then upsampling to the next level. The last level's state gives the
likelihood's parameters per pixel. Every group's prior is conditioned on the groups above it,
so the code is as expressive as its coarsest map is small: that is what a single Gaussian
vector (conv_vae) lacks.

The code handed to the rest of the repo (interpolation, `encode`/`decode`) is every group's
map, flattened and concatenated, coarsest first.
"""

from dataclasses import dataclass

import torch
from torch import nn

from aelab.nets.image.conv import check_depth, stage_sizes
from aelab.nets.image.resnet import ResBlock, Upsample, group_norm
from aelab.objectives.gaussian import DiagonalGaussian
from aelab.options import PositiveInt


@dataclass
class GroupSample:
    """One latent group's draw: the code map, its prior and (given an image) its posterior."""

    z: torch.Tensor                      # (B, latent_dim, h, w)
    prior: DiagonalGaussian              # flat (B, latent_dim * h * w)
    posterior: DiagonalGaussian | None   # None when generating


def flat_gaussian(params: torch.Tensor) -> DiagonalGaussian:
    """A diagonal Gaussian over a whole map from (B, 2c, h, w) parameters: mean maps, then
    log-variance maps, each flattened to (B, c*h*w), so log_prob sums over the map."""
    mean, logvar = params.chunk(2, dim=1)
    return DiagonalGaussian(torch.cat([mean.flatten(1), logvar.flatten(1)], 1))


class LatentGroup(nn.Module):
    def __init__(self, channels: int, latent_dim: int, groups: int):
        super().__init__()
        self.latent_dim = latent_dim
        self.prior = nn.Sequential(group_norm(channels, groups), nn.SiLU(),
                                   nn.Conv2d(channels, 2 * latent_dim, 3, 1, 1))
        self.posterior = nn.Sequential(group_norm(2 * channels, groups), nn.SiLU(),
                                       nn.Conv2d(2 * channels, 2 * latent_dim, 3, 1, 1))
        self.inject = nn.Conv2d(latent_dim, channels, 1)
        # Start every prior at N(0, I) and every group's injection at zero: the untrained
        # model is a plain decoder of the learned top map, and no group starts with KL to pay.
        for conv in (self.prior[-1], self.inject):
            nn.init.zeros_(conv.weight)
            nn.init.zeros_(conv.bias)

    def forward(self, h: torch.Tensor, features: torch.Tensor | None, z: torch.Tensor | None,
                temperature: float, sample: bool) -> tuple[torch.Tensor, GroupSample]:
        """h <- h + inject(z): z given, else drawn from the posterior (features given) or from
        the prior at `temperature`; `sample=False` takes the mean instead of a draw."""
        prior = flat_gaussian(self.prior(h))
        posterior = (flat_gaussian(self.posterior(torch.cat([h, features], 1)))
                     if features is not None else None)
        if z is None:
            source = posterior or prior
            if not sample:
                flat = source.mode()
            elif posterior is None:
                flat = prior.mean + temperature * prior.std * torch.randn_like(prior.mean)
            else:
                flat = posterior.sample()
            z = flat.view(len(h), self.latent_dim, *h.shape[2:])
        return h + self.inject(z), GroupSample(z, prior, posterior)


class HierarchicalVAENet(nn.Module):
    has_code = True  # every group's map, flattened: see the module docstring

    def __init__(self, image_shape: tuple[int, int, int], latent_dim: PositiveInt,
                 depth: PositiveInt, width: PositiveInt, *, latent_groups: PositiveInt,
                 blocks: PositiveInt, groups: PositiveInt, decoder_channels: int | None = None):
        super().__init__()
        channels, height, width_px = image_shape
        check_depth(height, width_px, depth)
        if latent_groups > depth + 1:
            raise ValueError(f"model.net.latent_groups={latent_groups} with model.depth={depth}: "
                             f"one group per level and there are {depth + 1} levels; use "
                             f"model.net.latent_groups<={depth + 1} or a larger model.depth")
        self.image_shape, self.latent_dim = tuple(image_shape), latent_dim
        self.sizes = list(zip(stage_sizes(height, depth), stage_sizes(width_px, depth), strict=True))
        widths = [width * 2**level for level in range(depth + 1)]
        self.depth = depth
        # The levels holding a group, coarsest first (the order of the code).
        self.group_levels = list(range(depth, depth - latent_groups, -1))

        self.stem = nn.Conv2d(channels, widths[0], 3, 1, 1)
        self.up_blocks = nn.ModuleList(
            nn.Sequential(*(ResBlock(c, c, groups) for _ in range(blocks))) for c in widths)
        self.down = nn.ModuleList(nn.Conv2d(widths[i], widths[i + 1], 3, 2, 1)
                                  for i in range(depth))

        self.top = nn.Parameter(torch.zeros(1, widths[-1], *self.sizes[-1]))
        self.latent_groups = nn.ModuleDict({str(level): LatentGroup(widths[level], latent_dim, groups)
                                            for level in self.group_levels})
        self.down_blocks = nn.ModuleList(
            nn.Sequential(*(ResBlock(c, c, groups) for _ in range(blocks))) for c in widths)
        self.up = nn.ModuleList(Upsample(widths[i + 1], widths[i], self.sizes[i])
                                for i in range(depth))
        self.head = nn.Sequential(group_norm(widths[0], groups), nn.SiLU(),
                                  nn.Conv2d(widths[0], decoder_channels or channels, 3, 1, 1))

    @property
    def group_shapes(self) -> list[tuple[int, int, int]]:
        """(latent_dim, h, w) of each group's map, coarsest first."""
        return [(self.latent_dim, *self.sizes[level]) for level in self.group_levels]

    @property
    def code_size(self) -> int:
        return sum(c * h * w for c, h, w in self.group_shapes)

    def bottom_up(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The encoder's features at every level (level 0: full size)."""
        features, h = [], self.stem(x)
        for level, blocks in enumerate(self.up_blocks):
            h = blocks(h)
            features.append(h)
            if level < self.depth:
                h = self.down[level](h)
        return features

    def top_down(self, n: int, features: list[torch.Tensor] | None = None,
                 codes: list[torch.Tensor] | None = None, temperature: float = 1.0,
                 sample: bool = True) -> tuple[torch.Tensor, list[GroupSample]]:
        """The likelihood's parameters (N, decoder_channels, H, W) and each group's draw.
        With `features`, z comes from the posterior; with `codes` (maps, coarsest first),
        from them; with neither, from the prior."""
        h = self.top.expand(n, -1, -1, -1)
        draws: list[GroupSample] = []
        for level in reversed(range(self.depth + 1)):
            if str(level) in self.latent_groups:
                z = codes[len(draws)] if codes is not None else None
                h, draw = self.latent_groups[str(level)](
                    h, features[level] if features is not None else None, z, temperature, sample)
                draws.append(draw)
            h = self.down_blocks[level](h)
            if level > 0:
                h = self.up[level - 1](h)
        return self.head(h), draws

    def forward_posterior(self, x: torch.Tensor, sample: bool = True
                          ) -> tuple[torch.Tensor, list[GroupSample]]:
        """Encode x and decode through its posterior draws (means with sample=False)."""
        return self.top_down(len(x), self.bottom_up(x), sample=sample)

    def flatten_codes(self, codes: list[torch.Tensor]) -> torch.Tensor:
        return torch.cat([z.flatten(1) for z in codes], 1)

    def split_code(self, code: torch.Tensor) -> list[torch.Tensor]:
        """A flat code (N, code_size) back into the groups' maps."""
        sizes = [c * h * w for c, h, w in self.group_shapes]
        return [part.view(len(code), *shape)
                for part, shape in zip(code.split(sizes, 1), self.group_shapes, strict=True)]

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """The posterior means of every group, flat (N, code_size)."""
        return self.flatten_codes([d.z for d in self.forward_posterior(x, sample=False)[1]])

    def decode_logits(self, code: torch.Tensor) -> torch.Tensor:
        return self.top_down(len(code), codes=self.split_code(code))[0]

    def decode(self, code: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.decode_logits(code))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.forward_posterior(x, sample=False)[0])
