"""Transformer sentence encoder and decoder, the decoder conditioned on a code (Optimus-style).

Both are pre-LayerNorm stacks of `depth` blocks of `width` units and `heads` heads, with
attention through `F.scaled_dot_product_attention` (the GPU's fused kernels), and learned
or rotary positions (`positions`). Tokens are embedded in `embed_dim` and projected to
`width` when the two differ.

The encoder reads a padded sentence (padding masked out of attention) and pools it:
`mean` over its tokens, a learned `<cls>` token put in front (`cls`), or both, concatenated.

The decoder is causal. With a code z (`latent_dim` > 0) it is injected as `inject` says
(Li et al., 2020, Optimus): `memory`, projected to `memory_slots` vectors per layer that
every position attends to beside the words before it; `embedding`, projected and added to
every input embedding; or `both`. `skip` adds its vote to the output layer, as the RNN
decoder's does. Decoding keeps a key/value cache (the memory's keys and
values are computed once from z), so a step costs one token's work: greedy, sampling and
beam search run through the decoder interface (`aelab.nets.text.interface`) as the RNN's do.
"""

from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from aelab.nets.text.rnn import code_vote

Positions = Literal["learned", "rotary"]


def rotate(x: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
    """Rotary position embedding (Su et al., 2021) of x (B, H, T, d) at `positions` (T,)."""
    half = x.shape[-1] // 2
    freqs = 10_000 ** (-torch.arange(half, device=x.device, dtype=torch.float32) / half)
    angles = positions.float().unsqueeze(1) * freqs  # (T, d/2)
    cos, sin = angles.cos().to(x.dtype), angles.sin().to(x.dtype)
    x1, x2 = x[..., :half], x[..., half:2 * half]
    return torch.cat([x1 * cos - x2 * sin, x1 * sin + x2 * cos, x[..., 2 * half:]], -1)


class Attention(nn.Module):
    def __init__(self, width: int, heads: int, dropout: float, rotary: bool):
        super().__init__()
        if width % heads:
            raise ValueError(f"model.width={width} must be a multiple of model.decoder.heads / "
                             f"model.encoder.heads={heads}")
        self.heads, self.head_dim, self.dropout, self.rotary = heads, width // heads, dropout, rotary
        self.qkv = nn.Linear(width, 3 * width)
        self.out = nn.Linear(width, width)

    def split(self, x: torch.Tensor) -> torch.Tensor:
        """(B, T, width) -> (B, heads, T, width / heads)."""
        return x.view(x.shape[0], x.shape[1], self.heads, -1).transpose(1, 2)

    def keys_values(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Keys and values of position-free vectors (the code's memory slots)."""
        _, k, v = self.qkv(x).chunk(3, -1)
        return self.split(k), self.split(v)

    def forward(self, x: torch.Tensor, positions: torch.Tensor, mask: torch.Tensor | None = None,
                past: tuple[torch.Tensor, torch.Tensor] | None = None):
        """x (B, T, width) at `positions`; `past`: keys and values to attend to before x's
        own (memory slots, earlier tokens). Returns the output and the keys and values."""
        q, k, v = (self.split(t) for t in self.qkv(x).chunk(3, -1))
        if self.rotary:
            q, k = rotate(q, positions), rotate(k, positions)
        if past is not None:
            k, v = torch.cat([past[0], k], 2), torch.cat([past[1], v], 2)
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask,
                                           dropout_p=self.dropout if self.training else 0.0)
        return self.out(y.transpose(1, 2).flatten(2)), (k, v)


class Block(nn.Module):
    """Pre-LayerNorm: x + attention(norm(x)), then x + MLP(norm(x))."""

    def __init__(self, width: int, heads: int, dropout: float, rotary: bool):
        super().__init__()
        self.norm1, self.norm2 = nn.LayerNorm(width), nn.LayerNorm(width)
        self.attention = Attention(width, heads, dropout, rotary)
        self.mlp = nn.Sequential(nn.Linear(width, 4 * width), nn.GELU(), nn.Linear(4 * width, width))
        self.dropout = nn.Dropout(dropout)

    def forward(self, x, positions, mask=None, past=None):
        y, keys_values = self.attention(self.norm1(x), positions, mask, past)
        x = x + self.dropout(y)
        return x + self.dropout(self.mlp(self.norm2(x))), keys_values


class TokenEmbedding(nn.Module):
    """Token ids -> `width` vectors: an `embed_dim` table (projected if the sizes differ),
    plus learned positions unless they are rotary (applied inside attention)."""

    def __init__(self, vocab_size: int, embed_dim: int, width: int, positions: Positions,
                 max_positions: int, dropout: float):
        super().__init__()
        self.table = nn.Embedding(vocab_size, embed_dim, padding_idx=0)
        self.project = nn.Linear(embed_dim, width) if embed_dim != width else nn.Identity()
        self.position = nn.Embedding(max_positions, width) if positions == "learned" else None
        self.max_positions = max_positions
        self.dropout = nn.Dropout(dropout)

    def forward(self, tokens: torch.Tensor, start: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Tokens (B, T) standing at positions start .. start + T - 1 -> their vectors and
        those positions (the bound is checked on the host: no device sync per step)."""
        end = start + tokens.shape[1]
        positions = torch.arange(start, end, device=tokens.device)
        x = self.project(self.table(tokens))
        if self.position is not None:
            if end > self.max_positions:
                raise ValueError(f"a sentence of {end} tokens is longer than "
                                 f"model.*.max_positions={self.max_positions}; raise it or use "
                                 "positions=rotary")
            x = x + self.position(positions)
        return self.dropout(x), positions


class TransformerEncoder(nn.Module):
    """Token ids (B, T) + lengths -> a sentence vector (B, out_dim)."""

    def __init__(self, vocab_size: int, embed_dim: int, width: int, depth: int, dropout: float,
                 *, heads: int, pool: Literal["mean", "cls", "both"], positions: Positions,
                 max_positions: int):
        super().__init__()
        self.pool = pool
        self.embed = TokenEmbedding(vocab_size, embed_dim, width, positions, max_positions + 1,
                                    dropout)
        self.cls = nn.Parameter(torch.randn(1, 1, width) * 0.02) if pool != "mean" else None
        self.blocks = nn.ModuleList(Block(width, heads, dropout, positions == "rotary")
                                    for _ in range(depth))
        self.norm = nn.LayerNorm(width)
        self.out_dim = width * (2 if pool == "both" else 1)

    def forward(self, tokens: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        x, real, offset = self._top(tokens, lengths)
        pooled = []
        if self.pool in ("cls", "both"):
            pooled.append(x[:, 0])
        if self.pool in ("mean", "both"):
            words = real[:, offset:].unsqueeze(-1).to(x.dtype)
            pooled.append((x[:, offset:] * words).sum(1) / words.sum(1))
        return torch.cat(pooled, -1)

    def token_states(self, tokens: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """The top block's normalised vector of every token (B, T, width), the <cls> vector
        left out: what a sentence's features are averaged from (aelab.metrics.text_features)."""
        x, _, offset = self._top(tokens, lengths)
        return x[:, offset:]

    def _top(self, tokens: torch.Tensor, lengths: torch.Tensor):
        """(the top block's normalised vectors, which of them are real, where the words start)."""
        batch, length = tokens.shape
        offset = 1 if self.cls is not None else 0  # the <cls> vector stands at position 0
        x, positions = self.embed(tokens, offset)
        real = torch.arange(length, device=tokens.device) < lengths.to(tokens.device).unsqueeze(1)
        if self.cls is not None:
            x = torch.cat([self.cls.expand(batch, -1, -1), x], 1)
            real = torch.cat([real.new_ones(batch, 1), real], 1)
            positions = torch.arange(length + 1, device=tokens.device)
        mask = real[:, None, None, :]  # (B, 1, 1, T): every query sees the sentence's tokens
        for block in self.blocks:
            x, _ = block(x, positions, mask)
        return self.norm(x), real, offset


class TransformerDecoder(nn.Module):
    """Causal: teacher-forced logits (B, T, V), or one token at a time with a key/value cache
    for generation (the decoder interface)."""

    def __init__(self, vocab_size: int, latent_dim: int, embed_dim: int, width: int, depth: int,
                 dropout: float, *, heads: int, inject: Literal["memory", "embedding", "both"],
                 memory_slots: int, positions: Positions, max_positions: int,
                 tie_embeddings: bool, skip: Literal["none", "add", "gated"]):
        super().__init__()
        self.vocab_size, self.latent_dim, self.depth = vocab_size, latent_dim, depth
        self.embed = TokenEmbedding(vocab_size, embed_dim, width, positions, max_positions, dropout)
        self.blocks = nn.ModuleList(Block(width, heads, dropout, positions == "rotary")
                                    for _ in range(depth))
        self.norm = nn.LayerNorm(width)
        self.slots = memory_slots if latent_dim and inject in ("memory", "both") else 0
        # The code as `slots` vectors per layer (Optimus' memory), and/or one added to every
        # input embedding.
        self.memory = nn.Linear(latent_dim, depth * self.slots * width) if self.slots else None
        self.code_embedding = (nn.Linear(latent_dim, width)
                               if latent_dim and inject in ("embedding", "both") else None)
        # The code's vote in the output layer, as the RNN decoder's (`skip`, Dieng et al., 2019).
        if skip != "none" and not latent_dim:
            raise ValueError(f"model.decoder.skip={skip} votes with the code, and this model has "
                             "none (a language model); set model.decoder.skip=none")
        self.skip = nn.Linear(latent_dim, width) if skip != "none" else None
        self.skip_gate = nn.Linear(width, width) if skip == "gated" else None
        self.project = nn.Linear(width, embed_dim) if tie_embeddings else nn.Identity()
        self.out = nn.Linear(embed_dim if tie_embeddings else width, vocab_size)
        if tie_embeddings:
            self.out.weight = self.embed.table.weight

    def _memory(self, z: torch.Tensor | None) -> list[tuple[torch.Tensor, torch.Tensor] | None]:
        """Each layer's keys and values of the code's memory slots (or None)."""
        if self.memory is None or z is None:
            return [None] * self.depth
        slots = self.memory(z).view(len(z), self.depth, self.slots, -1)
        return [block.attention.keys_values(slots[:, i]) for i, block in enumerate(self.blocks)]

    def _inputs(self, tokens: torch.Tensor, start: int, z: torch.Tensor | None):
        """Input vectors (the code added, if injected so) and their positions."""
        x, positions = self.embed(tokens, start)
        if self.code_embedding is not None and z is not None:
            x = x + self.code_embedding(z).unsqueeze(1)
        return x, positions

    def _logits(self, x: torch.Tensor, z: torch.Tensor | None) -> torch.Tensor:
        return self.out(self.project(code_vote(self.norm(x), z, self.skip, self.skip_gate)))

    def forward(self, tokens: torch.Tensor, lengths: torch.Tensor,
                z: torch.Tensor | None = None) -> torch.Tensor:
        """tokens are the inputs <bos> w1 .. wn (right-padded; a causal position never sees
        the padding after it); returns logits for w1 .. <eos>."""
        return self._logits(self._top(tokens, z), z)

    def token_states(self, tokens: torch.Tensor, lengths: torch.Tensor,
                     z: torch.Tensor | None = None) -> torch.Tensor:
        """The last block's normalised vector (B, T, width) after each input token (those
        after a sentence's end are the padding's: mask them by `lengths`)."""
        return self.norm(self._top(tokens, z))

    def _top(self, tokens: torch.Tensor, z: torch.Tensor | None) -> torch.Tensor:
        """The last block's output (B, T, width), teacher-forced, before the final norm."""
        length = tokens.shape[1]
        x, positions = self._inputs(tokens, 0, z)
        causal = torch.ones(length, length, dtype=torch.bool, device=tokens.device).tril()
        mask = torch.cat([causal.new_ones(length, self.slots), causal], 1) if self.slots else causal
        for block, memory in zip(self.blocks, self._memory(z), strict=True):
            x, _ = block(x, positions, mask, memory)
        return x

    # -- the decoder interface ---------------------------------------------------------------
    def start(self, z: torch.Tensor | None, batch: int) -> dict:
        """The cache: per layer, the keys and values so far (at first: the code's memory)."""
        attention = self.blocks[0].attention
        empty = torch.zeros(batch, attention.heads, 0, attention.head_dim, device=self.out.weight.device)
        cache = [memory if memory is not None else (empty, empty) for memory in self._memory(z)]
        return {"cache": cache, "position": 0}

    def step(self, token: torch.Tensor, state: dict, z: torch.Tensor | None = None):
        x, positions = self._inputs(token.unsqueeze(1), state["position"], z)
        cache = []
        for block, past in zip(self.blocks, state["cache"], strict=True):
            x, keys_values = block(x, positions, None, past)
            cache.append(keys_values)
        log_probs = self._logits(x, z)[:, 0].float().log_softmax(-1)
        return log_probs, {"cache": cache, "position": state["position"] + 1}

    def reorder(self, state: dict, index: torch.Tensor) -> dict:
        return {"cache": [(k.index_select(0, index), v.index_select(0, index))
                          for k, v in state["cache"]], "position": state["position"]}
