"""Wall-clock seconds per training epoch, logged as `time/epoch_s` for run comparisons."""

import time

import lightning as L


class EpochTimer(L.Callback):
    """Times the training part of each epoch (validation excluded)."""

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.start = time.perf_counter()

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        pl_module.log("time/epoch_s", time.perf_counter() - self.start, on_epoch=True)
