"""The denoiser of the latent diffusion prior: a residual MLP over flat codes.

A code (a vector, or a spatial code map flattened: the MLP sees no neighbourhoods, which
suits the small code maps of these autoencoders) and a time t in [0, 1] go in; the
objective's prediction (noise, v or velocity) of the same size comes out. Time enters
every block through a sinusoidal embedding and an adaptive LayerNorm scale and shift
(as DiT's adaLN, Peebles & Xie, 2023), so every block knows the noise level; an optional
class label is added to the time embedding, with one extra index for "no label", which
classifier-free guidance trains and samples with (Ho & Salimans, 2022).
"""

import math

import torch
from torch import nn


def sinusoidal(t: torch.Tensor, dim: int) -> torch.Tensor:
    """Transformer-style features of t (N,) in [0, 1]: (N, dim), periods up to 10,000 x 2pi
    of t * 1000 (the DDPM step-index scale, so low frequencies still resolve nearby t)."""
    half = dim // 2
    freqs = torch.exp(-math.log(10_000) * torch.arange(half, device=t.device) / half)
    angles = 1000 * t.float().unsqueeze(1) * freqs
    return torch.cat([angles.sin(), angles.cos()], 1)


class Block(nn.Module):
    def __init__(self, width: int, dropout: float):
        super().__init__()
        self.norm = nn.LayerNorm(width, elementwise_affine=False)
        self.modulation = nn.Linear(width, 3 * width)  # scale, shift, gate from the time
        self.mlp = nn.Sequential(nn.Linear(width, 2 * width), nn.SiLU(), nn.Dropout(dropout),
                                 nn.Linear(2 * width, width))
        # Zero gates: each block starts as the identity, so a deep stack trains from the start.
        nn.init.zeros_(self.modulation.weight)
        nn.init.zeros_(self.modulation.bias)

    def forward(self, h: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        scale, shift, gate = self.modulation(emb).chunk(3, -1)
        return h + gate * self.mlp(self.norm(h) * (1 + scale) + shift)


class LatentDenoiser(nn.Module):
    def __init__(self, dim: int, width: int, depth: int, dropout: float = 0.0,
                 num_classes: int = 0):
        super().__init__()
        self.dim, self.num_classes = dim, num_classes
        self.inp = nn.Linear(dim, width)
        self.time = nn.Sequential(nn.Linear(2 * (width // 2), width), nn.SiLU(), nn.Linear(width, width))
        # Index num_classes is "no label" (classifier-free guidance's unconditional model).
        self.label = nn.Embedding(num_classes + 1, width) if num_classes else None
        self.blocks = nn.ModuleList(Block(width, dropout) for _ in range(depth))
        self.out_norm = nn.LayerNorm(width)
        self.out = nn.Linear(width, dim)

    def forward(self, x: torch.Tensor, t: torch.Tensor,
                labels: torch.Tensor | None = None) -> torch.Tensor:
        emb = self.time(sinusoidal(t, self.inp.out_features))
        if self.label is not None:
            if labels is None:
                labels = torch.full((len(x),), self.num_classes, device=x.device)
            emb = emb + self.label(labels)
        emb = nn.functional.silu(emb)
        h = self.inp(x)
        for block in self.blocks:
            h = block(h, emb)
        return self.out(self.out_norm(h))
