"""The deterministic image autoencoder (MSE / PSNR / SSIM): the autoencoder objective
(`aelab.objectives.autoencoder`, shared with the sentence autoencoder) on `ImageModel`
(models/image/base.py, importable from here as before)."""

from collections.abc import Callable
from typing import Literal

import torch

from aelab.errors import AelabError
from aelab.models.image.base import ImageModel, PixelLoss, pixel_loss
from aelab.nets.image.linear_path import WithLinearPath
from aelab.objectives.autoencoder import AutoencoderObjective
from aelab.options import NonNegativeInt


def dihedral_mean(fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """The mean of fn over the 8 flips and quarter turns of x, each output turned back (the
    "self-ensemble" of EDSR+, Lim et al. 2017): a restoration net's errors differ between
    orientations, its answer does not. Non-square images take the 4 flips only."""
    turns = range(4) if x.shape[-1] == x.shape[-2] else (0, 2)
    total = 0
    for k in turns:
        for flip in (False, True):
            t = torch.rot90(x, k, (-2, -1))
            t = t.flip(-1) if flip else t
            out = fn(t)
            out = out.flip(-1) if flip else out
            total = total + torch.rot90(out, -k, (-2, -1))
    return total / (2 * len(turns))


class ImageAutoencoder(AutoencoderObjective, ImageModel):
    """The deterministic autoencoder: the net's reconstruction scored by `loss`.

    Its net either encodes to a vector code (conv, resnet, mlp: every task) or has none
    (unet: skip connections; reconstruct and the corruption's task only). With `residual`,
    the net predicts the difference to its own input, the noisy image or the bicubic
    upsampling (DnCNN, VDSR): the output is input + net output, clipped to [0, 1] when
    scored, and `loss` is not bce. A residual model restores; it does not sample or
    interpolate, since a decoded code is then a correction, not an image. With `linear_path`
    `pca` (the default of conv_ae, mlp_ae and resnet_ae) the net is PCA of the code size plus
    its own encoder and decoder as gated corrections (nets/image/linear_path.py), fitted at fit
    start; its output is then an image too, never below PCA's reconstruction at the start.
    """

    # An evaluation setting (eval.py self_ensemble=true), not trained; a subclass whose step
    # does not go through `output` sets None, and eval.py refuses it.
    self_ensemble: bool | None = False

    def __init__(self, *args, loss: PixelLoss, residual: bool,
                 loss_border: NonNegativeInt, linear_path: Literal["pca", "none"], **kwargs):
        if residual and loss == "bce":
            raise AelabError(f"model.loss={loss} with model.residual=true: a residual output "
                             "is not a probability; use model.loss=mse, l1 or psnr")
        if linear_path == "pca" and (residual or loss == "bce"):
            what = "model.residual=true (the net predicts a difference, not an image)" \
                if residual else "model.loss=bce (its output is an image, not logits)"
            raise AelabError(f"model.linear_path=pca with {what}: set model.linear_path=none")
        super().__init__(*args, **kwargs)
        if 2 * loss_border >= min(self.image_shape[1:]):
            raise AelabError(f"model.loss_border={loss_border} leaves nothing of the "
                             f"{self.image_shape[1]}x{self.image_shape[2]} px images to score; "
                             f"set it below {(min(self.image_shape[1:]) + 1) // 2} (0: every pixel)")
        self.loss_name, self.residual, self.loss_border = loss, residual, loss_border
        self.has_code = type(self.net).has_code
        if linear_path == "pca":
            if not self.has_code:
                raise AelabError(f"model.linear_path=pca: {type(self.net).__name__} has no vector "
                                 "code to add PCA's to; set model.linear_path=none")
            # PCA plus gated nonlinear corrections (nets/image/linear_path.py): training
            # starts at the linear floor instead of below it.
            self.net = WithLinearPath(self.net, self.image_shape, self.latent_dim)
        # The net's output is an image (scored as it is, clipped) rather than logits.
        self.image_output = residual or getattr(self.net, "outputs_image", False)
        if self.code_norm != "none" and (linear_path == "pca" or not self.has_code):
            why = "no vector code" if not self.has_code else "PCA's code, which the sphere would distort"
            raise AelabError(f"model.code_norm={self.code_norm}: {type(self.net).__name__} has "
                             f"{why}; set model.code_norm=none"
                             + ("" if not self.has_code else " (or model.linear_path=none)"))

    def on_fit_start(self) -> None:
        """Fit the linear path's PCA on the whole training split, once: a resumed run has it
        from its checkpoint; every DDP process fits the same split to the same components."""
        linear = getattr(self.net, "linear", None)
        if linear is None or linear.fitted:
            return
        splits = getattr(self.trainer.datamodule, "splits", None)
        if not splits or "train" not in splits:
            raise AelabError("model.linear_path=pca fits PCA on the data module's training "
                             "split, and this data module has none; set model.linear_path=none")
        linear.fit(splits["train"])

    def available_tasks(self) -> frozenset[str]:
        tasks = super().available_tasks()
        if not self.has_code or self.residual:
            tasks -= {"sample", "interpolate"}
        return tasks

    def require(self, task: str) -> None:
        if task in {"sample", "interpolate"} and task in self.tasks and not self.can(task):
            why = (f"its net ({type(self.net).__name__}) has no vector code" if not self.has_code
                   else "it is residual (model.residual=true): a decoded code is a correction")
            raise AelabError(f"task={task}: {why}, so this run cannot {task}; it reconstructs "
                             "and restores. Sample and interpolate with a bottleneck model "
                             "(model=conv_ae, conv_vae, ...)")
        super().require(task)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        if not self.has_code:
            raise AelabError(f"{type(self.net).__name__} has no vector code to encode to")
        return super().encode(x)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return super().decode(self.project(z))

    def output(self, inputs: torch.Tensor) -> torch.Tensor:
        """The net's output for `inputs`: logits, or with `residual` the unclipped image;
        with `self_ensemble` (eval.py self_ensemble=true), outside training, its mean over
        the flips and quarter turns of the input (`dihedral_mean`)."""
        if self.self_ensemble and not self.training:
            return dihedral_mean(self.net_output, inputs)
        return self.net_output(inputs)

    def net_output(self, inputs: torch.Tensor) -> torch.Tensor:
        net = self.net
        out = net.decode_logits(self.encode(inputs)) if self.has_code else net.forward_logits(inputs)
        return inputs + out if self.residual else out

    def to_image(self, out: torch.Tensor) -> torch.Tensor:
        return out.clamp(0, 1) if self.image_output else torch.sigmoid(out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The restored (or reconstructed) image in [0, 1]."""
        return self.to_image(self.output(x))

    def reconstruction_loss(self, out: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """`model.loss` (`pixel_loss`) of the net's output. With `loss_border`, on the pixels
        at least that far from the edge only (SRCNN scores its loss on the central pixels; the
        super-resolution papers' Y-channel PSNR crops a border of `factor` px): the edge,
        where the input has the least context, no longer draws the net's training away from
        the inside."""
        if self.loss_border:
            b = self.loss_border
            out, target = out[..., b:-b, b:-b], target[..., b:-b, b:-b]
        return pixel_loss(self.loss_name, out, target, self.image_output)

    def reconstruct_output(self, inputs: torch.Tensor, images: torch.Tensor) -> torch.Tensor:
        return self.output(inputs)

    def score(self, stage: str, out: torch.Tensor, images: torch.Tensor,
              inputs: torch.Tensor) -> tuple[torch.Tensor, int]:
        self.log_reconstruction(stage, self.to_image(out).detach(), images, inputs)
        return self.reconstruction_loss(out, images), len(images)
