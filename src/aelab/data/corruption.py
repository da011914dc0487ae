"""Corruptions applied to an image batch on the device: noise, masking, downsampling.

With one of these, any image model becomes a denoising, inpainting or super-resolution
model: it sees `corrupt(x)` and is scored against the clean `x`. Each corruption also
names the trivial baseline logged beside the model's score (the corrupted input itself,
or bicubic upsampling), so a result can be read against doing nothing clever.
"""

from typing import Literal

import torch
import torch.nn.functional as F
from torchmetrics import Metric
from torchmetrics.image import PeakSignalNoiseRatio

from aelab.errors import AelabError
from aelab.metrics.image import YChannelPSNR
from aelab.options import NonNegativeFloat, PositiveInt, Probability


def step_generator(stage: str, batch_idx: int, device) -> torch.Generator | None:
    """The noise source of a corruption at a step, for images and text alike: training draws
    fresh noise (the global RNG); a val/test batch always gets the same noise, so scores
    repeat. Generation passes its own seed."""
    return None if stage == "train" else seeded_generator(10_000 + batch_idx, device)


def seeded_generator(seed: int | None, device) -> torch.Generator | None:
    return None if seed is None else torch.Generator(device=device).manual_seed(seed)


class Corruption:
    """Base: `__call__(clean, generator)` -> corrupted images in [0, 1], same shape.

    `task` is what a model trained on it can then do (generate.py task=denoise / upscale);
    `modality` what it corrupts (text has `aelab.data.text_noise.WordNoise`)."""

    modality = "image"
    task = "denoise"
    baselines: tuple[str, ...] = ("psnr_input",)

    def __call__(self, clean: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        raise NotImplementedError

    def baseline_metrics(self, channels: int) -> dict[str, Metric]:
        """The trivial baselines' metrics, scored on the corrupted input against the clean
        image (val/test): PSNR per image, averaged."""
        return {name: PeakSignalNoiseRatio(data_range=1.0, dim=(1, 2, 3)) for name in self.baselines}

    def model_metrics(self, channels: int) -> dict[str, Metric]:
        """Metrics of the model's output this task adds to PSNR / SSIM / MSE (val/test)."""
        return {}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v}" for k, v in vars(self).items())
        return f"{type(self).__name__}({args})"


class GaussianNoise(Corruption):
    """Additive white noise of standard deviation `sigma`, clipped back to [0, 1]."""

    def __init__(self, sigma: NonNegativeFloat):
        self.sigma = sigma

    def __call__(self, clean, generator=None):
        noise = torch.randn(clean.shape, generator=generator, device=clean.device, dtype=clean.dtype)
        return (clean + self.sigma * noise).clamp(0, 1)


class SaltPepper(Corruption):
    """Each pixel (all channels together) becomes black or white with probability `p`."""

    def __init__(self, p: Probability):
        self.p = p

    def __call__(self, clean, generator=None):
        n, _, h, w = clean.shape
        u = torch.rand((n, 1, h, w), generator=generator, device=clean.device)
        salt = torch.rand((n, 1, h, w), generator=generator, device=clean.device) < 0.5
        hit = u < self.p
        return torch.where(hit, salt.to(clean.dtype).expand_as(clean), clean)


class Mask(Corruption):
    """Zero out a fraction `p` of the image: single pixels, or `block`-sized squares."""

    def __init__(self, p: Probability, mode: Literal["pixels", "blocks"], block: PositiveInt):
        self.p, self.mode, self.block = p, mode, block

    def __call__(self, clean, generator=None):
        n, _, h, w = clean.shape
        cell = self.block if self.mode == "blocks" else 1
        grid = (n, 1, -(-h // cell), -(-w // cell))
        keep = torch.rand(grid, generator=generator, device=clean.device) >= self.p
        keep = keep.repeat_interleave(cell, 2).repeat_interleave(cell, 3)[:, :, :h, :w]
        return clean * keep.to(clean.dtype)


class Downsample(Corruption):
    """Downsampling by `factor`, then bicubic back to full size.

    `mode=bicubic` is the super-resolution papers' degradation (antialiased bicubic, as
    MATLAB's and PIL's `imresize`); `area` averages factor x factor boxes. The model's input
    holds only the low-resolution information; upsampling it first keeps every architecture
    unchanged (the SRCNN / VDSR convention). The input is therefore the bicubic baseline
    itself, logged as `psnr_bicubic` (and, for RGB images, on the Y channel with `factor`
    border pixels cropped as those papers report it: `psnr_bicubic_y`, beside the model's
    `psnr_y`).
    """

    task = "upscale"
    baselines = ("psnr_input", "psnr_bicubic")

    def __init__(self, factor: Literal[2, 3, 4, 8], mode: Literal["bicubic", "area"]):
        self.factor, self.mode = factor, mode

    def baseline_metrics(self, channels: int) -> dict[str, Metric]:
        y = {"psnr_bicubic_y": YChannelPSNR(border=self.factor)} if channels == 3 else {}
        return {**super().baseline_metrics(channels), **y}

    def model_metrics(self, channels: int) -> dict[str, Metric]:
        return {"psnr_y": YChannelPSNR(border=self.factor)} if channels == 3 else {}

    def low_resolution(self, clean: torch.Tensor) -> torch.Tensor:
        h, w = clean.shape[-2:]
        if h < 2 * self.factor or w < 2 * self.factor:
            raise AelabError(f"images of {h}x{w} px are too small for corruption.factor="
                             f"{self.factor}")
        size = (h // self.factor, w // self.factor)
        if self.mode == "area":
            return F.interpolate(clean, size=size, mode="area")
        return F.interpolate(clean, size=size, mode="bicubic", antialias=True,
                             align_corners=False).clamp(0, 1)

    def upsample(self, low: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        """Bicubic to `size`: the net's input for a low-resolution image (and the baseline)."""
        return F.interpolate(low, size=size, mode="bicubic", align_corners=False).clamp(0, 1)

    def __call__(self, clean, generator=None):
        return self.upsample(self.low_resolution(clean), clean.shape[-2:])
