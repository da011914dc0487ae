"""Lightning's three step hooks for models whose work is one `_step(batch, stage, batch_idx)`
(the batch index seeds the fixed noise of a corruption on val/test), and the one way a step's
loss is logged."""


class StepsByStage:
    def training_step(self, batch, batch_idx):
        return self._step(batch, "train", batch_idx)

    def validation_step(self, batch, batch_idx):
        self._step(batch, "val", batch_idx)

    def test_step(self, batch, batch_idx):
        self._step(batch, "test", batch_idx)

    def log_loss(self, stage: str, loss, weight: int) -> None:
        """`{stage}/loss`: per step and per epoch in training, the epoch's mean on val/test,
        each batch weighted by `weight` (its images, or its tokens: the split's total over its
        size). on_epoch accumulates on the device, so nothing here forces a host sync per step.
        sync_dist: under DDP val/test losses average over the processes (training: rank 0's,
        to keep the all-reduce off every step); the torchmetrics objects sync themselves."""
        self.log(f"{stage}/loss", loss, on_step=stage == "train", on_epoch=True, prog_bar=True,
                 batch_size=weight, sync_dist=stage != "train")
