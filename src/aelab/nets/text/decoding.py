"""Decoding strategies for any decoder of the interface in `aelab.nets.text.interface`:
greedy, sampling (temperature, top-p), beam. Batched; all return token ids (B, <= max_len)
without <bos>, padded with <pad> (0) after <eos>.
"""

import torch

from aelab.nets.text.interface import SentenceDecoder

PAD_ID, BOS_ID, EOS_ID = 0, 2, 3


def _start(decoder: SentenceDecoder, z: torch.Tensor | None, n: int, device):
    return torch.full((n,), BOS_ID, dtype=torch.long, device=device), decoder.start(z, n)


def _device(decoder: SentenceDecoder) -> torch.device:
    return next(decoder.parameters()).device


def top_p_filter(log_probs: torch.Tensor, top_p: float) -> torch.Tensor:
    """Keep the smallest set of tokens whose probability reaches top_p (nucleus sampling).

    `log_probs` must be normalised (log_softmax), temperature already applied."""
    if top_p >= 1.0:
        return log_probs
    sorted_lp, order = log_probs.sort(-1, descending=True)
    cumulative = sorted_lp.exp().cumsum(-1)
    drop = cumulative - sorted_lp.exp() > top_p  # tokens after the nucleus is full
    sorted_lp = sorted_lp.masked_fill(drop, float("-inf"))
    return torch.full_like(log_probs, float("-inf")).scatter(-1, order, sorted_lp)


@torch.no_grad()
def greedy_or_sample(decoder: SentenceDecoder, z: torch.Tensor | None, n: int, max_len: int,
                     sample: bool = False, temperature: float = 1.0, top_p: float = 1.0,
                     generator: torch.Generator | None = None) -> torch.Tensor:
    device = _device(decoder)
    token, state = _start(decoder, z, n, device)
    out = torch.full((n, max_len), PAD_ID, dtype=torch.long, device=device)
    done = torch.zeros(n, dtype=torch.bool, device=device)
    for t in range(max_len):
        log_probs, state = decoder.step(token, state, z)
        if sample:
            # Renormalise after the temperature: the nucleus is cut on the distribution that
            # is actually sampled, p**(1/T) / sum p**(1/T), not on unnormalised p**(1/T).
            log_probs = top_p_filter((log_probs / temperature).log_softmax(-1), top_p)
            token = torch.multinomial(log_probs.softmax(-1), 1, generator=generator).squeeze(1)
        else:
            token = log_probs.argmax(-1)
        out[:, t] = torch.where(done, PAD_ID, token)
        done |= token == EOS_ID
        if done.all():
            return out[:, : t + 1]
    return out


@torch.no_grad()
def beam_search(decoder: SentenceDecoder, z: torch.Tensor | None, n: int, max_len: int, beam: int = 5,
                length_penalty: float = 0.7) -> torch.Tensor:
    """The highest-scoring of `beam` hypotheses per item, score = log p / length**penalty."""
    device = _device(decoder)
    z_beams = z.repeat_interleave(beam, 0) if z is not None else None
    token, state = _start(decoder, z_beams, n * beam, device)
    scores = torch.full((n, beam), float("-inf"), device=device)
    scores[:, 0] = 0.0  # all beams start identical: expand only the first
    scores = scores.view(-1)
    sequences = torch.zeros(n * beam, 0, dtype=torch.long, device=device)
    finished = torch.zeros(n * beam, dtype=torch.bool, device=device)
    lengths = torch.zeros(n * beam, device=device)
    for _ in range(max_len):
        log_probs, state = decoder.step(token, state, z_beams)
        # A finished hypothesis may only continue with <pad>, at no cost.
        log_probs = torch.where(finished.unsqueeze(1), torch.full_like(log_probs, float("-inf")),
                                log_probs)
        log_probs[:, PAD_ID] = torch.where(finished, 0.0, float("-inf"))
        vocab = log_probs.shape[1]
        total = (scores.unsqueeze(1) + log_probs).view(n, beam * vocab)
        scores, flat = total.topk(beam, dim=1)
        source = (flat // vocab + torch.arange(n, device=device).unsqueeze(1) * beam).view(-1)
        token = (flat % vocab).view(-1)
        scores = scores.view(-1)
        state = decoder.reorder(state, source)
        sequences = torch.cat([sequences[source], token.unsqueeze(1)], 1)
        finished = finished[source] | (token == EOS_ID)
        lengths = lengths[source] + (token != PAD_ID).float()
        if finished.all():
            break
    normalised = (scores / lengths.clamp_min(1) ** length_penalty).view(n, beam)
    best = normalised.argmax(1) + torch.arange(n, device=device) * beam
    return sequences[best]
