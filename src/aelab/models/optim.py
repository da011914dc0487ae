"""Optimizer and LR-scheduler wiring shared by every model family."""

import math
from collections.abc import Callable
from typing import Literal

import torch

from aelab.errors import AelabError
from aelab.options import Probability


class WarmupDecay(torch.optim.lr_scheduler.LambdaLR):
    """Stepped every optimizer step: the learning rate rises linearly from 0 to its peak
    (`optimizer.lr`) over the first `warmup` of the run (a fraction), then stays there
    (`decay=constant`) or falls to `final` x the peak, linearly or along a cosine (`horizon`
    > 1: the decay of a run that many times as long, cut where this one ends, as a cosine with
    `T_max` beyond the run's epochs does, but in fractions of the run): how
    Transformers are usually trained (Vaswani et al., 2017; nanoGPT), since Adam's first steps
    at the full rate can diverge in large ones. (The small CPU Transformers of
    experiments/text_wordnet trained better without it: there a 5% warm-up cost more than it
    gave. The sentence VAE is the exception: at the full rate from the first step where its
    runs ended swung with the seed, and a 5% warm-up held them together;
    experiments/robustness.)"""

    per_step = True  # configure() gives it the run's length and steps it every batch

    def __init__(self, optimizer: torch.optim.Optimizer, *, run_steps: float,
                 warmup: Probability, decay: Literal["constant", "linear", "cosine"],
                 final: Probability, horizon: float = 1.0):
        if math.isinf(run_steps):
            raise AelabError("scheduler=warmup is set in fractions of the run, and this run has "
                             "no end (neither trainer.max_epochs nor trainer.max_steps); give "
                             "it one")
        if not horizon >= 1.0:
            raise AelabError(f"scheduler.horizon={horizon}: the decay spans this multiple of the "
                             "run, at least 1 (1: it ends with the run)")
        self.horizon = horizon
        self.run_steps, self.warmup, self.decay, self.final = run_steps, warmup, decay, final
        super().__init__(optimizer, self.factor)

    def factor(self, step: int) -> float:
        warmup_steps = self.warmup * self.run_steps
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        decay_steps = max(1.0, self.run_steps - warmup_steps) * self.horizon
        progress = min(1.0, (step - warmup_steps) / decay_steps)
        if self.decay == "constant":
            return 1.0
        shape = 1 - progress if self.decay == "linear" else 0.5 * (1 + math.cos(math.pi * progress))
        return self.final + (1 - self.final) * shape


def is_per_step(scheduler: Callable) -> bool:
    """Does this scheduler partial want the run's length and a step every batch?"""
    return getattr(getattr(scheduler, "func", scheduler), "per_step", False)


def configure(params, optimizer: Callable, scheduler: Callable | None, monitor: str,
              run_steps: Callable[[], float]) -> dict:
    """What `LightningModule.configure_optimizers` returns, from Hydra partials. `run_steps`
    gives the run's optimizer steps (the trainer's estimate) to a per-step schedule."""
    opt = optimizer(params=params)
    if scheduler is None:
        return {"optimizer": opt}
    if is_per_step(scheduler):
        return {"optimizer": opt, "lr_scheduler": {
            "scheduler": scheduler(optimizer=opt, run_steps=float(run_steps())),
            "interval": "step"}}
    sched = scheduler(optimizer=opt)
    # ReduceLROnPlateau needs a metric; the others ignore `monitor`.
    config = {"scheduler": sched, "interval": "epoch"}
    if isinstance(sched, torch.optim.lr_scheduler.ReduceLROnPlateau):
        config["monitor"] = monitor
    return {"optimizer": opt, "lr_scheduler": config}
