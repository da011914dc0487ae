"""Optimizer and LR-scheduler wiring shared by every model family."""

from collections.abc import Callable

import torch


def configure(params, optimizer: Callable, scheduler: Callable | None, monitor: str) -> dict:
    """What `LightningModule.configure_optimizers` returns, from Hydra partials."""
    opt = optimizer(params=params)
    if scheduler is None:
        return {"optimizer": opt}
    sched = scheduler(optimizer=opt)
    # ReduceLROnPlateau needs a metric; the others ignore `monitor`.
    config = {"scheduler": sched, "interval": "epoch"}
    if isinstance(sched, torch.optim.lr_scheduler.ReduceLROnPlateau):
        config["monitor"] = monitor
    return {"optimizer": opt, "lr_scheduler": config}
