"""Optimizer and LR-scheduler wiring shared by every model family."""

import fnmatch
import math
from collections.abc import Callable, Sequence
from typing import Literal

import torch

from aelab.errors import AelabError
from aelab.options import NonNegativeFloat, PositiveFloat, Probability


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

    per_run = True  # configure() gives it the run's length (run_steps)
    per_step = True  # and steps it every batch

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
    return marked(scheduler, "per_step")


class AdamW(torch.optim.AdamW):
    """torch's AdamW, whose weight decay can also be given as a span of the run.

    A decoupled weight decay shrinks each weight by lr x weight_decay per step, so it forgets
    what a weight learnt over a timescale of 1 / (lr x weight_decay) steps. A fixed
    `weight_decay` is therefore a fixed number of steps: the same setting is strong on a long
    run and weak on a short one. `weight_decay_span` gives that timescale as a fraction of the
    planned run instead (Wang & Aitchison 2024, "How to set AdamW's weight decay as you scale
    model and dataset size"), so a recipe means the same on a corpus of any size: when set,
    weight_decay = 1 / (lr x weight_decay_span x run_steps), lr being the peak rate.
    Everything else is torch.optim.AdamW's."""

    per_run = True  # configure() gives it the run's length (run_steps)
    named = True  # and the parameters with their names, for `no_decay`

    def __init__(self, params, *, run_steps: float | None = None, lr: PositiveFloat = 1e-3,
                 weight_decay: NonNegativeFloat = 1e-2,
                 weight_decay_span: PositiveFloat | None = None,
                 no_decay: Sequence[str] = (), **options):
        if weight_decay_span is not None:
            if run_steps is None:
                raise AelabError("optimizer.weight_decay_span needs the run's length: build "
                                 "the optimizer through aelab.models.optim.configure")
            if math.isinf(run_steps):
                raise AelabError("optimizer.weight_decay_span is a fraction of the run, and this "
                                 "run has no end (neither trainer.max_epochs nor "
                                 "trainer.max_steps); give it one, or set "
                                 "optimizer.weight_decay instead")
            weight_decay = 1.0 / (lr * weight_decay_span * run_steps)
        super().__init__(spare(params, no_decay), lr=lr, weight_decay=weight_decay, **options)


def spare(params, no_decay: Sequence[str]) -> list:
    """`no_decay`: glob patterns of parameter or module names (`to_latent`, `*norm*`) that
    weight decay leaves alone. `params` as configure() gives them, (name, parameter) pairs,
    become two parameter groups, the second with weight_decay 0; with no pattern they are
    one group, as torch's AdamW makes. A pattern that names no parameter is an error (a typo
    would otherwise silently decay everything)."""
    params = list(params)
    named = bool(params) and isinstance(params[0], tuple)
    if not no_decay:
        return [p for _, p in params] if named else params
    if not named:
        raise AelabError("optimizer.no_decay needs the parameters' names: build the optimizer "
                         "through aelab.models.optim.configure")

    def spared(name: str, pattern: str) -> bool:  # a module's name spares all its parameters
        return fnmatch.fnmatchcase(name, pattern) or fnmatch.fnmatchcase(name, pattern + ".*")

    unmatched = [pattern for pattern in no_decay
                 if not any(spared(name, pattern) for name, _ in params)]
    if unmatched:
        raise AelabError(f"optimizer.no_decay={list(no_decay)}: {unmatched} name no parameter "
                         f"of this model (its names look like {params[0][0]!r}, "
                         f"{params[-1][0]!r}); fix the pattern or drop it")
    groups = {True: [], False: []}  # spared?
    for name, param in params:
        groups[any(spared(name, pattern) for pattern in no_decay)].append(param)
    # (the names label the groups' learning rates in the logs: lr-AdamW/decayed, .../no_decay)
    return [{"params": groups[False], "name": "decayed"},
            {"params": groups[True], "weight_decay": 0.0, "name": "no_decay"}]


def marked(partial: Callable, flag: str) -> bool:
    """Does the class behind this Hydra partial set `flag` (per_run, per_step, named)?"""
    return getattr(getattr(partial, "func", partial), flag, False)


def takes_names(partial: Callable) -> bool:
    """Does this optimizer partial take (name, parameter) pairs (for AdamW's `no_decay`)?"""
    return marked(partial, "named")


def wants_run_steps(partial: Callable) -> bool:
    """Does this optimizer or scheduler partial want the run's length (`run_steps`)?"""
    return marked(partial, "per_run")


def configure(named_params, optimizer: Callable, scheduler: Callable | None, monitor: str,
              run_steps: Callable[[], float]) -> dict:
    """What `LightningModule.configure_optimizers` returns, from Hydra partials and the
    module's `named_parameters()`. `run_steps` gives the run's optimizer steps (the trainer's
    estimate) to a per-step schedule and to a weight decay set as a span of the run; the names
    go to an optimizer that asks for them (AdamW's `no_decay`), bare parameters to the rest."""
    named_params = list(named_params)
    params = named_params if takes_names(optimizer) else [p for _, p in named_params]
    opt = (optimizer(params=params, run_steps=float(run_steps())) if wants_run_steps(optimizer)
           else optimizer(params=params))
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
