"""Lightning's three step hooks for models whose work is one `_step(batch, stage)`."""


class StepsByStage:
    def training_step(self, batch, batch_idx):
        return self._step(batch, "train")

    def validation_step(self, batch, batch_idx):
        self._step(batch, "val")

    def test_step(self, batch, batch_idx):
        self._step(batch, "test")
