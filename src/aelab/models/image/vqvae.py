"""VQ-VAE for images: the VQ objective (`aelab.objectives.vq`: reconstruction + commitment
loss, EMA codebook, codebook usage) on `ImageModel`, scored with `model.loss` on the decoded
logits.

New images come from a prior over the code grid, trained as a second run:
`model=code_prior model.vqvae_run=<this run dir>`.
"""

import torch

from aelab.models.image.base import ImageModel, PixelLoss, pixel_loss
from aelab.objectives.vq import VQObjective, vq_charts


class ImageVQVAE(VQObjective, ImageModel):
    instead = {**ImageModel.instead,
               "sample": "a VQ-VAE samples through a prior over its codes: train one with "
                         "`python train.py model=code_prior model.vqvae_run=<this run dir>`, "
                         "then run generate.py task=sample on that run"}
    dashboard = {**ImageModel.dashboard, "codebook": vq_charts()}

    def __init__(self, *args, loss: PixelLoss, **kwargs):
        super().__init__(*args, **kwargs)
        self.loss_name = loss

    def score(self, stage: str, logits: torch.Tensor, images: torch.Tensor,
              inputs: torch.Tensor) -> tuple[torch.Tensor, int]:
        """`model.loss` of the decoder's logits (every pixel scored), and the metrics."""
        self.log_reconstruction(stage, torch.sigmoid(logits).detach(), images, inputs)
        return pixel_loss(self.loss_name, logits, images, image_output=False), len(images)
