"""Lightning's three step hooks for models whose work is one `_step(batch, stage, batch_idx)`
(the batch index seeds the fixed noise of a corruption on val/test)."""


class StepsByStage:
    def training_step(self, batch, batch_idx):
        return self._step(batch, "train", batch_idx)

    def validation_step(self, batch, batch_idx):
        self._step(batch, "val", batch_idx)

    def test_step(self, batch, batch_idx):
        self._step(batch, "test", batch_idx)
