"""KL weight over training: constant, linear warm-up, or cyclical (Fu et al., 2019)."""

from typing import Literal

import torch

KLSchedule = Literal["none", "linear", "cyclical"]


def kl_weight(step: int, beta: float, schedule: str, steps: int, ratio: float = 0.5) -> float:
    """The weight of the KL term at optimisation step `step`.

    linear: 0 -> beta over `steps` steps, then beta (Bowman et al., 2016).
    cyclical: repeats every `steps` steps, rising 0 -> beta over the first `ratio` of each
    cycle and holding beta for the rest, which lets the encoder re-learn codes after
    each reset.
    """
    if schedule == "none" or steps <= 0:
        return beta
    if schedule == "linear":
        return beta * min(1.0, step / steps)
    if schedule == "cyclical":
        position = (step % steps) / steps
        return beta * min(1.0, position / ratio)
    raise ValueError(f"unknown KL schedule {schedule!r}; choose none, linear or cyclical")


def kl_penalty(kl_dims: torch.Tensor, free_bits: float, free_nats: float = 0.0) -> torch.Tensor:
    """The KL term of a training loss from per-example, per-dimension KLs (B, D).

    With free bits (Kingma et al., 2016) each dimension's batch-mean KL counts as at least
    `free_bits` nats, so the optimiser gains nothing by collapsing it below that. That
    spreads the code over every dimension. `free_nats` floors the batch-mean total KL
    instead (as in PlaNet and Dreamer, Hafner et al., 2019, 2020), which leaves the encoder
    free to put its nats in a few dimensions and let the others collapse: the choice for
    large codes.
    """
    kl = kl_dims.mean(0).clamp_min(free_bits).sum() if free_bits else kl_dims.sum(1).mean()
    return kl.clamp_min(free_nats) if free_nats else kl
