"""`model=pca`: PCA as a model, with every image model's metrics, corruptions and tasks.

"Training" is one pass over the training split that accumulates the covariance; at the end
of the first epoch the components are solved for in closed form (nets/image/pca.py). Later
epochs change nothing, so `trainer.max_epochs=1` is all a PCA run needs. Validation and test
score the projection exactly as an autoencoder's reconstruction (`val/psnr`, `test/ssim`,
...), so a table by code size reads PCA beside the nets.
"""

import torch
import torch.nn.functional as F

from aelab.errors import AelabError
from aelab.models.image.base import ImageModel


class ImagePCA(ImageModel):
    dashboard = {"reconstruction": {
        "loss": [r"^val/loss$"],
        "PSNR (dB), with the trivial baselines": [r"^val/psnr(_input|_bicubic)?(_y)?$"],
        "SSIM": [r"^val/ssim$"],
        "variance kept by the components": [r"^train/explained_variance$"]}}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.automatic_optimization = False  # nothing to optimise: a closed-form fit

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).clamp(0, 1)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.net.decode(z).clamp(0, 1)

    def training_step(self, batch: torch.Tensor, batch_idx: int) -> None:
        if not self.net.fitted:  # PCA of the clean images; a corruption acts at test time
            self.net.accumulate(batch)
            # Each batch taken into the fit counts as a step (global_step): Lightning saves
            # checkpoints only after steps, and max_steps / the step-based callbacks count them.
            progress = self.trainer.fit_loop.epoch_loop.manual_optimization.optim_step_progress
            progress.increment_ready()
            progress.increment_completed()

    def on_validation_epoch_start(self) -> None:
        # Lightning validates inside the training epoch, before on_train_epoch_end: solve as
        # soon as the first pass is over (the sanity check before training has no sums yet).
        if not self.net.fitted and not self.trainer.sanity_checking:
            self.net.fit()

    def on_train_epoch_end(self) -> None:
        if not self.net.fitted:  # a run without validation
            self.net.fit()
        self.log("train/explained_variance", self.net.explained.float())

    def _step(self, images: torch.Tensor, stage: str, batch_idx: int) -> None:
        if not self.net.fitted and self.trainer.sanity_checking:
            return  # nothing to check yet
        if not self.net.fitted:
            raise AelabError("model=pca is scored before it was fitted: train it first "
                             "(one epoch over the training split)")
        inputs = self.step_source(images, stage, batch_idx)
        out = self(inputs)
        self.log_reconstruction(stage, out, images, inputs)
        self.log_loss(stage, F.mse_loss(out, images), len(images))  # val and test only

    def configure_optimizers(self) -> None:
        return None
