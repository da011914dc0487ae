"""The KL regulariser of every VAE: its weight over training and its floor.

Weight (`schedule`): `none` (beta throughout), `linear` (0 -> beta over the warm-up, then
beta; Bowman et al., 2016) or `cyclical` (Fu et al., 2019: repeats every cycle, rising over
the first `cycle_ratio` of it and holding beta for the rest, so the encoder can re-learn
codes after each reset). The warm-up (or the cycle) is `anneal`, a fraction of the run's
optimisation steps, so a schedule means the same on 600 steps as on 60,000; `anneal_steps`
sets it in absolute steps instead.

Floor (`floor`, `floor_nats`): `per_dim` is free bits (Kingma et al., 2016): each
dimension's batch-mean KL counts as at least `floor_nats`, so nothing is gained by
collapsing it below that, which spreads the code over every dimension. `total` is free nats
(as in PlaNet and Dreamer, Hafner et al., 2019, 2020): the batch-mean total KL counts as at
least `floor_nats`, which leaves the encoder free to put its nats in a few dimensions, the
choice for large codes. `none`: the plain KL (`floor_nats` is then unused, so
`model.kl_floor=none` alone turns a model's floor off).
"""

from typing import Annotated, Literal

import torch

from aelab.options import NonNegativeFloat, PositiveInt, Probability, Range

KLSchedule = Literal["none", "linear", "cyclical"]
KLFloor = Literal["none", "per_dim", "total"]
CycleRatio = Annotated[float, Range(gt=0, le=1)]  # the rising part of a cycle: never empty


class KLRegulariser:
    def __init__(self, beta: NonNegativeFloat, schedule: KLSchedule, anneal: Probability,
                 anneal_steps: PositiveInt | None, cycle_ratio: CycleRatio, floor: KLFloor,
                 floor_nats: NonNegativeFloat):
        self.beta, self.schedule, self.anneal, self.anneal_steps = beta, schedule, anneal, anneal_steps
        self.cycle_ratio, self.floor, self.floor_nats = cycle_ratio, floor, floor_nats

    def period(self, total_steps: int | float) -> float:
        """Steps of the warm-up (linear) or of one cycle (cyclical)."""
        if self.anneal_steps is not None:
            return self.anneal_steps
        return self.anneal * total_steps

    def weight(self, step: int, total_steps: int | float) -> float:
        """The weight of the KL term at optimisation step `step` of `total_steps`."""
        steps = self.period(total_steps)
        if self.schedule == "none" or steps <= 0:
            return self.beta
        if self.schedule == "linear":
            return self.beta * min(1.0, step / steps)
        position = (step % steps) / steps  # cyclical
        return self.beta * min(1.0, position / self.cycle_ratio)

    def penalty(self, kl_dims: torch.Tensor) -> torch.Tensor:
        """The KL term of the training loss from per-example, per-dimension KLs (B, D)."""
        if self.floor == "per_dim":
            return kl_dims.mean(0).clamp_min(self.floor_nats).sum()
        kl = kl_dims.sum(1).mean()
        return kl.clamp_min(self.floor_nats) if self.floor == "total" else kl
