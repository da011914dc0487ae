"""Callbacks that keep a run's state trustworthy: exact resumes, no silent NaNs."""

import random
from pathlib import Path

import lightning as L
import numpy as np
import torch
from lightning.pytorch.callbacks import Checkpoint, ModelCheckpoint

from aelab.errors import AelabError
from aelab.options import PositiveInt


class RngStateInCheckpoint(L.Callback):
    """Saves the torch / numpy / python RNG states with every checkpoint and restores them.

    Lightning restores weights, optimiser and loop counters, but not the random streams
    that draw noise, dropout masks and VAE samples; without them a resumed run drifts
    from the uninterrupted one. States are stored as tensors and ints, so the checkpoint
    still loads with `weights_only=True`.
    """

    def on_save_checkpoint(self, trainer, pl_module, checkpoint: dict) -> None:
        kind, keys, pos, has_gauss, cached = np.random.get_state()
        checkpoint["rng"] = {
            "torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
            "numpy": [torch.from_numpy(keys.astype(np.int64)), int(pos), int(has_gauss),
                      float(cached)],
            "python": random.getstate(),
        }

    def on_load_checkpoint(self, trainer, pl_module, checkpoint: dict) -> None:
        state = checkpoint.get("rng")
        if not state:
            return
        torch.set_rng_state(state["torch"])
        if state["cuda"] and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["cuda"])
        keys, pos, has_gauss, cached = state["numpy"]
        np.random.set_state(("MT19937", keys.numpy().astype(np.uint32), pos, has_gauss, cached))
        version, internal, gauss = state["python"]
        random.setstate((version, tuple(internal), gauss))


class StopOnNonFiniteLoss(L.Callback):
    """Stops training at the first NaN/inf training loss and names the step.

    The check reads the loss on the host only every `check_every` steps and before each
    validation (so a checkpoint never holds weights from after the fault); in between,
    the first bad step is remembered on the device without a synchronisation.
    """

    def __init__(self, check_every: PositiveInt = 50):
        self.check_every = check_every
        self.first_bad: torch.Tensor | None = None

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        loss = outputs.get("loss") if isinstance(outputs, dict) else outputs  # {}: no loss (pca)
        if loss is None:
            return
        step = torch.tensor(trainer.global_step, device=loss.device)
        if self.first_bad is None or self.first_bad.device != loss.device:
            self.first_bad = torch.tensor(-1, device=loss.device)
        bad = ~torch.isfinite(loss.detach())
        self.first_bad = torch.where(bad & (self.first_bad < 0), step, self.first_bad)
        if trainer.global_step % self.check_every == 0:
            self._raise_if_bad(trainer)

    def on_validation_start(self, trainer, pl_module) -> None:
        if not trainer.sanity_checking:
            self._raise_if_bad(trainer)

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        self._raise_if_bad(trainer)

    def _raise_if_bad(self, trainer) -> None:
        if self.first_bad is None or int(self.first_bad) < 0:
            return
        last = last_checkpoint(trainer)
        saved = f"the last good checkpoint is {last}" if last else "no checkpoint was saved yet"
        raise AelabError(
            f"the training loss became NaN or infinite at optimizer step {int(self.first_bad)} "
            f"(epoch {trainer.current_epoch}); training stopped and {saved}. Lower optimizer.lr, "
            "set trainer.gradient_clip_val=1.0, or check the data for NaNs")


class ValidateAtMaxSteps(L.Callback):
    """A run that ends at `trainer.max_steps` in the middle of an epoch is validated there.

    Lightning validates at epoch ends; a run stopped by max_steps mid-epoch would otherwise
    end without validating its last steps, so best.ckpt (and the test, which loads it)
    would miss them. Asking the trainer to stop at that step makes it validate first, as it
    does for early stopping and `max_time`.
    """

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if 0 < trainer.max_steps <= trainer.global_step:
            trainer.should_stop = True


class LastCheckpointEveryEpoch(Checkpoint):
    """checkpoints/last.ckpt at the end of every training epoch, in place of ModelCheckpoint's
    `save_last` (which `takes_over` turns off).

    Since Lightning 2.6, `save_last=True` writes last.ckpt only when a top-k checkpoint is
    written at the same step: after an epoch that did not improve the monitored metric,
    last.ckpt still held an older epoch, so a killed run redid finished epochs and the
    interruption message named a checkpoint that was not the last epoch's. Being a
    `Checkpoint`, this runs after ModelCheckpoint (Lightning orders checkpoint callbacks
    last, in the order given): the file holds the best-model record updated for this epoch.
    """

    def __init__(self, model_checkpoint: ModelCheckpoint):
        self.model_checkpoint = model_checkpoint
        self.path = Path(model_checkpoint.dirpath) / (
            model_checkpoint.CHECKPOINT_NAME_LAST + model_checkpoint.FILE_EXTENSION)

    @classmethod
    def takes_over(cls, callbacks: list) -> "LastCheckpointEveryEpoch | None":
        """For the ModelCheckpoint among `callbacks` that keeps a last.ckpt in a known dir:
        its `save_last` off, and the callback that writes last.ckpt instead (None if none)."""
        found = next((c for c in callbacks if isinstance(c, ModelCheckpoint) and c.save_last
                      and c.dirpath is not None), None)
        if found is None:
            return None
        found.save_last = False
        return cls(found)

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        if trainer.sanity_checking or trainer.fast_dev_run:
            return
        # What Lightning's save_last would record (in the file too, as it does).
        self.model_checkpoint.last_model_path = str(self.path)
        trainer.save_checkpoint(self.path)  # every rank calls it; rank 0 writes


def last_checkpoint(trainer) -> str:
    """The run's last.ckpt, or '' before there is one (a resumed run has it from the start)."""
    for callback in trainer.callbacks:
        if isinstance(callback, LastCheckpointEveryEpoch) and callback.path.exists():
            return str(callback.path)
    callback = trainer.checkpoint_callback  # a config without save_last: Lightning's record
    return callback.last_model_path if callback else ""
