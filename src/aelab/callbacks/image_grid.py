"""Inputs and reconstructions side by side in TensorBoard, every validation epoch."""

import lightning as L
import torch

from aelab.options import PositiveInt


def make_grid(images: torch.Tensor, nrow: int, pad: int = 2) -> torch.Tensor:
    """(N, C, H, W) in [0, 1] -> one (3, rows*(H+pad)+pad, nrow*(W+pad)+pad) image."""
    n, c, h, w = images.shape
    images = images.expand(n, 3, h, w) if c == 1 else images[:, :3]
    rows = -(-n // nrow)
    grid = images.new_ones(3, rows * (h + pad) + pad, nrow * (w + pad) + pad) * 0.5
    for i, img in enumerate(images):
        r, col = divmod(i, nrow)
        top, left = pad + r * (h + pad), pad + col * (w + pad)
        grid[:, top:top + h, left:left + w] = img
    return grid


def interleave_rows(groups: list[torch.Tensor], nrow: int) -> torch.Tensor:
    """[inputs, outputs, ...] -> rows of nrow: inputs 0-7, outputs 0-7, inputs 8-15, ..."""
    rows = []
    for start in range(0, len(groups[0]), nrow):
        rows += [group[start:start + nrow] for group in groups]
    return torch.cat(rows)


def tensorboard_writers(trainer: L.Trainer) -> list:
    return [lg.experiment for lg in trainer.loggers if hasattr(lg.experiment, "add_image")]


class ReconstructionGrid(L.Callback):
    """Logs `num_images` validation images above their reconstructions.

    With a corruption the rows are: corrupted input, model output, clean target.
    """

    def __init__(self, num_images: PositiveInt = 16, nrow: PositiveInt = 8):
        self.num_images, self.nrow = num_images, nrow

    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        writers = tensorboard_writers(trainer)
        if (trainer.sanity_checking or not writers or pl_module.modality != "image"
                or not pl_module.can("reconstruct")):
            return
        clean = trainer.datamodule.examples("val", self.num_images, pl_module.device)
        with torch.no_grad():
            inputs = pl_module.corrupt(clean, seed=0)
            outputs = pl_module(inputs)
        groups = [inputs, outputs] + ([clean] if pl_module.corruption is not None else [])
        grid = make_grid(interleave_rows(groups, self.nrow).float().clamp(0, 1).cpu(), self.nrow)
        for writer in writers:
            writer.add_image("val/reconstructions", grid, trainer.global_step)


class SampleGrid(L.Callback):
    """Logs `num_images` new images from models with a prior (VAE, code prior); a plain
    autoencoder samples only through generate.py, which fits a density to its codes."""

    def __init__(self, num_images: PositiveInt = 32, nrow: PositiveInt = 8, seed: int = 0):
        self.num_images, self.nrow, self.seed = num_images, nrow, seed

    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        writers = tensorboard_writers(trainer)
        if (trainer.sanity_checking or not writers or pl_module.modality != "image"
                or not (pl_module.has_prior and pl_module.can("sample"))):
            return
        with torch.no_grad(), torch.random.fork_rng(devices=[]):  # leave training's RNG alone
            torch.manual_seed(self.seed)
            images = pl_module.sample(self.num_images)
        grid = make_grid(images.float().clamp(0, 1).cpu(), self.nrow)
        for writer in writers:
            writer.add_image("val/samples", grid, trainer.global_step)
