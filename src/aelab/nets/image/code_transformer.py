"""Autoregressive transformer over a flattened grid of discrete codes (raster order)."""

import torch
from torch import nn


class CodeTransformer(nn.Module):
    """Predicts code i from codes < i; a learned start token stands before the first."""

    def __init__(self, num_codes: int, length: int, width: int = 128, depth: int = 4,
                 heads: int = 4, dropout: float = 0.1):
        super().__init__()
        self.num_codes, self.length = num_codes, length
        self.embed = nn.Embedding(num_codes + 1, width)  # index num_codes is the start token
        self.position = nn.Parameter(torch.randn(length, width) * 0.02)
        layer = nn.TransformerEncoderLayer(width, heads, 4 * width, dropout, activation="gelu",
                                           batch_first=True, norm_first=True)
        self.blocks = nn.TransformerEncoder(layer, depth, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(width)
        self.head = nn.Linear(width, num_codes)
        self.register_buffer("causal", nn.Transformer.generate_square_subsequent_mask(length),
                             persistent=False)

    def forward(self, codes: torch.Tensor) -> torch.Tensor:
        """codes (N, L) -> logits (N, L, num_codes) for each position given the ones before."""
        start = torch.full_like(codes[:, :1], self.num_codes)
        tokens = torch.cat([start, codes[:, :-1]], 1)
        h = self.embed(tokens) + self.position[: tokens.shape[1]]
        n = tokens.shape[1]
        h = self.blocks(h, mask=self.causal[:n, :n], is_causal=True)
        return self.head(self.norm(h))

    @torch.no_grad()
    def sample(self, n: int, temperature: float = 1.0,
               generator: torch.Generator | None = None) -> torch.Tensor:
        codes = torch.zeros(n, self.length, dtype=torch.long, device=self.position.device)
        for i in range(self.length):
            logits = self.forward(codes[:, : i + 1])[:, i] / temperature
            codes[:, i] = torch.multinomial(logits.softmax(-1), 1, generator=generator).squeeze(1)
        return codes
