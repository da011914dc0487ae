"""Sentence likelihood metrics and the latent mutual information of a text VAE."""

import math

import torch
from torchmetrics import Metric


class SequenceNLL(Metric):
    """Accumulates summed NLL (nats), token counts and sentence counts over a split.

    nll = total NLL / sentences (nats per sentence); ppl = exp(total NLL / tokens), where
    the tokens are the words plus <eos> of each sentence (<bos> and <pad> not counted).
    """

    full_state_update = False

    def __init__(self):
        super().__init__()
        for name in ("total", "tokens", "sentences"):
            self.add_state(name, torch.tensor(0.0, dtype=torch.float64), dist_reduce_fx="sum")

    def update(self, nll_per_sentence: torch.Tensor, tokens_per_sentence: torch.Tensor) -> None:
        self.total += nll_per_sentence.detach().double().sum()
        self.tokens += tokens_per_sentence.double().sum()
        self.sentences += nll_per_sentence.numel()

    def compute(self) -> dict[str, torch.Tensor]:
        return {"nll": (self.total / self.sentences).float(),
                "ppl": torch.exp(self.total / self.tokens).float()}


def mutual_information(mean: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """I(x; z) under q, estimated on one batch as in He et al. (2019):
    E_x E_q(z|x)[log q(z|x)] - E_q(z)[log q(z)], with q(z) the batch's mixture of posteriors."""
    batch, dim = mean.shape
    neg_entropy = (-0.5 * dim * math.log(2 * math.pi) - 0.5 * (1 + logvar).sum(-1)).mean()
    z = mean + (0.5 * logvar).exp() * torch.randn_like(mean)
    deviation = z.unsqueeze(1) - mean.unsqueeze(0)  # (B samples, B posteriors, dim)
    log_density = -0.5 * (deviation**2 / logvar.exp().unsqueeze(0)).sum(-1) - 0.5 * (
        dim * math.log(2 * math.pi) + logvar.sum(-1).unsqueeze(0))
    log_qz = torch.logsumexp(log_density, dim=1) - math.log(batch)
    return neg_entropy - log_qz.mean()
