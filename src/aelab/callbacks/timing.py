"""Wall-clock seconds of a run, logged for run comparisons and the startup benchmark.

`time/epoch_s` is the latest training epoch, `time/mean_epoch_s` the mean over the run so
far (kept across resumes); validation is not included. `time/startup_s` is the seconds from
the launch of the process to the first training batch (imports, config, data, model), so
slow startup shows in every run's metrics.json; for a later job of a sweep that shares the
process, from that job's start.
"""

import os
import time

import lightning as L


def seconds_since_process_start() -> float | None:
    """From /proc (Linux): counts the interpreter's own start-up too. None elsewhere."""
    try:
        with open("/proc/self/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()  # the name may hold spaces
        with open("/proc/uptime") as f:
            uptime = float(f.read().split()[0])
        return uptime - int(fields[19]) / os.sysconf("SC_CLK_TCK")  # field 22: starttime
    except (OSError, ValueError, IndexError):
        return None


_runs_in_process = 0
_run_started: float | None = None


def run_started() -> None:
    """Called as a run starts. Jobs of a sweep under the basic launcher share one process: from
    the second on, start-up counts from the job's own start, not from the process launch
    (which would add every earlier job's time)."""
    global _runs_in_process, _run_started
    _runs_in_process += 1
    _run_started = time.monotonic()


def startup_seconds() -> float | None:
    if _runs_in_process > 1 and _run_started is not None:
        return time.monotonic() - _run_started
    return seconds_since_process_start()


class EpochTimer(L.Callback):
    def __init__(self):
        self.durations: list[float] = []
        self.startup: float | None = None
        self.start: float | None = None

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx: int) -> None:
        if self.startup is None and trainer.global_step == 0:
            self.startup = startup_seconds()

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.start = time.perf_counter()

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self.start is None:
            # A run resumed from an epoch-end checkpoint with trainer.max_steps set: Lightning
            # ends that (already timed) epoch again without starting it. Nothing to time.
            return
        self.durations.append(time.perf_counter() - self.start)
        self.start = None
        pl_module.log("time/epoch_s", self.durations[-1], on_epoch=True)
        pl_module.log("time/mean_epoch_s", sum(self.durations) / len(self.durations),
                      on_epoch=True)
        if self.startup is not None:
            pl_module.log("time/startup_s", self.startup, on_epoch=True)

    def state_dict(self) -> dict:
        return {"durations": self.durations, "startup": self.startup}

    def load_state_dict(self, state_dict: dict) -> None:
        self.durations = list(state_dict["durations"])
        self.startup = state_dict.get("startup")
