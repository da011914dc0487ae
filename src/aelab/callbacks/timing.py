"""Wall-clock seconds per training epoch, logged for run comparisons.

`time/epoch_s` is the latest epoch, `time/mean_epoch_s` the mean over the run so far
(kept across resumes). Validation is not included.
"""

import time

import lightning as L


class EpochTimer(L.Callback):
    def __init__(self):
        self.durations: list[float] = []

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.start = time.perf_counter()

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.durations.append(time.perf_counter() - self.start)
        pl_module.log("time/epoch_s", self.durations[-1], on_epoch=True)
        pl_module.log("time/mean_epoch_s", sum(self.durations) / len(self.durations),
                      on_epoch=True)

    def state_dict(self) -> dict:
        return {"durations": self.durations}

    def load_state_dict(self, state_dict: dict) -> None:
        self.durations = list(state_dict["durations"])
