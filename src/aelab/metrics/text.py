"""Sentence likelihood metrics: NLL per sentence and perplexity over a split."""

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
