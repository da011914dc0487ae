"""LSTM/GRU sentence encoder and decoder (`cell: lstm | gru`), with an optional latent code.

The decoder is conditioned on z twice (Bowman et al., 2016; He et al., 2019): z sets the
initial hidden state of every layer and is concatenated to every input embedding, so the
decoder cannot easily forget it. With latent_dim=0 the decoder is a plain language model.
With skip=add, z also adds to the output layer's input at every step (a generative skip
connection, Dieng et al., 2019): the code can raise the score of the words it holds directly,
and the recurrence only has to decide when to write them. The same vote at every step also
invites repetition (a word the code holds keeps its vote after it is written); skip=gated
lets the decoder's state scale the vote per unit, o_t = h_t + sigmoid(G h_t) * (W z), so
that it can switch off what it has written.
"""

from typing import Literal

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

CELLS = {"lstm": nn.LSTM, "gru": nn.GRU}


def make_rnn(cell: str, input_size: int, hidden: int, layers: int, dropout: float,
             bidirectional: bool = False) -> nn.RNNBase:
    return CELLS[cell](input_size, hidden, layers, batch_first=True, bidirectional=bidirectional,
                       dropout=dropout if layers > 1 else 0.0)


Cell = Literal["lstm", "gru"]


class RNNEncoder(nn.Module):
    """Token ids (B, T) + lengths -> a sentence vector (B, out_dim).

    pool="last": the final hidden state of the top layer (both directions).
    pool="last_max": that, concatenated with the element-wise max of the top layer's outputs
    over time (as in InferSent, Conneau et al., 2017). Why: the final state must carry every
    word through the whole recurrence, and a 1-layer LSTM keeps the middle of a sentence worst;
    the max keeps a feature of each word wherever it stands.
    """

    def __init__(self, vocab_size: int, embed_dim: int, width: int, depth: int, dropout: float,
                 *, cell: Cell, bidirectional: bool, pool: Literal["last", "last_max"]):
        super().__init__()
        self.pool = pool
        self.embed = nn.Embedding(vocab_size, embed_dim, padding_idx=0)
        self.rnn = make_rnn(cell, embed_dim, width, depth, dropout, bidirectional)
        self.dropout = nn.Dropout(dropout)
        self.out_dim = width * (2 if bidirectional else 1) * (2 if pool == "last_max" else 1)

    def forward(self, tokens: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        packed = pack_padded_sequence(self.dropout(self.embed(tokens)), lengths.cpu(),
                                      batch_first=True, enforce_sorted=False)
        output, state = self.rnn(packed)
        h = state[0] if isinstance(state, tuple) else state  # LSTM: (h, c)
        h = h.view(self.rnn.num_layers, 2 if self.rnn.bidirectional else 1, *h.shape[1:])[-1]
        last = h.transpose(0, 1).flatten(1)  # both directions of the top layer
        if self.pool == "last":
            return last
        # Padding is filled with -inf so that it never wins the max.
        output, _ = pad_packed_sequence(output, batch_first=True, padding_value=float("-inf"))
        return torch.cat([last, output.max(1).values], -1)

    def token_states(self, tokens: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """The top layer's output at every token (B, T, width x directions), 0 at padding:
        what a sentence's features are averaged from (aelab.metrics.text_features)."""
        packed = pack_padded_sequence(self.dropout(self.embed(tokens)), lengths.cpu(),
                                      batch_first=True, enforce_sorted=False)
        output, _ = self.rnn(packed)
        return pad_packed_sequence(output, batch_first=True, total_length=tokens.shape[1])[0]


class RNNDecoder(nn.Module):
    """Teacher-forced logits (B, T, V), or one step at a time for generation: implements
    the decoder interface of `aelab.nets.text.interface`."""

    def __init__(self, vocab_size: int, latent_dim: int, embed_dim: int, width: int, depth: int,
                 dropout: float, *, cell: Cell, tie_embeddings: bool,
                 skip: Literal["none", "add", "gated"]):
        super().__init__()
        hidden, layers = width, depth
        self.vocab_size = vocab_size
        self.latent_dim, self.layers, self.hidden, self.cell = latent_dim, layers, hidden, cell
        self.embed = nn.Embedding(vocab_size, embed_dim, padding_idx=0)
        self.rnn = make_rnn(cell, embed_dim + latent_dim, hidden, layers, dropout)
        self.dropout = nn.Dropout(dropout)
        if latent_dim:
            self.init_state = nn.Linear(latent_dim, hidden * layers)
        if skip != "none" and not latent_dim:
            raise ValueError(f"model.decoder.skip={skip} votes with the code, and this model has "
                             "none (a language model); set model.decoder.skip=none")
        self.skip = nn.Linear(latent_dim, hidden) if skip != "none" else None
        self.skip_gate = nn.Linear(hidden, hidden) if self.skip is not None and skip == "gated" else None
        # Tied embeddings: project to the embedding size, score against the input embeddings.
        self.project = nn.Linear(hidden, embed_dim) if tie_embeddings else nn.Identity()
        self.out = nn.Linear(embed_dim if tie_embeddings else hidden, vocab_size)
        if tie_embeddings:
            self.out.weight = self.embed.weight

    def start(self, z: torch.Tensor | None, batch: int) -> tuple | torch.Tensor:
        device = self.embed.weight.device
        if z is None or not self.latent_dim:
            h = torch.zeros(self.layers, batch, self.hidden, device=device)
        else:
            h = torch.tanh(self.init_state(z)).view(batch, self.layers, self.hidden)
            h = h.transpose(0, 1).contiguous()
        return (h, torch.zeros_like(h)) if self.cell == "lstm" else h

    def _inputs(self, tokens: torch.Tensor, z: torch.Tensor | None) -> torch.Tensor:
        x = self.dropout(self.embed(tokens))
        if self.latent_dim:
            x = torch.cat([x, z.unsqueeze(1).expand(-1, tokens.shape[1], -1)], -1)
        return x

    def forward(self, tokens: torch.Tensor, lengths: torch.Tensor,
                z: torch.Tensor | None = None) -> torch.Tensor:
        """tokens are the inputs <bos> w1 .. wn (padded); returns logits for w1 .. <eos>."""
        return self._logits(self.dropout(self.token_states(tokens, lengths, z)), z)

    def token_states(self, tokens: torch.Tensor, lengths: torch.Tensor,
                     z: torch.Tensor | None = None) -> torch.Tensor:
        """The top layer's output (B, T, width) after each input token, 0 at padding."""
        state = self.start(z, tokens.shape[0])
        packed = pack_padded_sequence(self._inputs(tokens, z), lengths.cpu(), batch_first=True,
                                      enforce_sorted=False)
        output, _ = self.rnn(packed, state)
        return pad_packed_sequence(output, batch_first=True, total_length=tokens.shape[1])[0]

    def step(self, token: torch.Tensor, state, z: torch.Tensor | None = None):
        """One generation step: token (B,) -> (log-probabilities (B, V), new state)."""
        output, state = self.rnn(self._inputs(token.unsqueeze(1), z), state)
        return self._logits(output, z)[:, 0].log_softmax(-1), state

    def reorder(self, state, index: torch.Tensor):
        """Rows `index` of the state (the batch is dim 1 of an RNN's state)."""
        if isinstance(state, tuple):
            return tuple(s.index_select(1, index) for s in state)
        return state.index_select(1, index)

    def _logits(self, output: torch.Tensor, z: torch.Tensor | None) -> torch.Tensor:
        """(B, T, hidden) RNN outputs -> (B, T, V) logits."""
        return self.out(self.project(code_vote(output, z, self.skip, self.skip_gate)))


def code_vote(output: torch.Tensor, z: torch.Tensor | None, skip: nn.Module | None,
              gate: nn.Module | None) -> torch.Tensor:
    """The decoder's output plus the code's vote for the words it holds (`skip`: W z, the
    same at every step), scaled per unit by the output itself when gated:
    o_t = h_t + sigmoid(G h_t) * (W z). No `skip`: the output as it is."""
    if skip is None:
        return output
    vote = skip(z).unsqueeze(1)
    if gate is not None:
        vote = vote * torch.sigmoid(gate(output))
    return output + vote
