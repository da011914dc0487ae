"""Callbacks that keep a run's state trustworthy: exact resumes, no silent NaNs."""

import random

import lightning as L
import numpy as np
import torch

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
        callback = trainer.checkpoint_callback
        last = callback.last_model_path if callback else ""
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
