"""The decoder interface that decoding (greedy, sampling, beam) talks to.

Any sentence decoder that implements it decodes with the same code, batched: the LSTM/GRU
decoder here, a Transformer decoder with a key/value cache as well. `state` is whatever the
decoder carries from step to step (an RNN's hidden state, a cache); decoding only passes it
back and reorders it along the batch for beam search.
"""

from typing import Any, Protocol

import torch


class SentenceDecoder(Protocol):
    vocab_size: int
    latent_dim: int  # 0: an unconditional decoder (a language model)

    def forward(self, tokens: torch.Tensor, lengths: torch.Tensor,
                z: torch.Tensor | None = None) -> torch.Tensor:
        """Teacher forcing: inputs <bos> w1 .. wn (B, T) -> logits for w1 .. <eos> (B, T, V)."""

    def start(self, z: torch.Tensor | None, batch: int) -> Any:
        """The state before the first token, from the code z (B, latent_dim) or none."""

    def step(self, token: torch.Tensor, state: Any,
             z: torch.Tensor | None = None) -> tuple[torch.Tensor, Any]:
        """One token per row (B,) -> (log-probabilities of the next (B, V), the new state)."""

    def reorder(self, state: Any, index: torch.Tensor) -> Any:
        """The state of rows `index` (beam search keeps the best hypotheses)."""
