"""Image metrics the restoration literature reports that torchmetrics does not have as such.

`YChannelPSNR`: the super-resolution protocol's PSNR (SRCNN, VDSR, EDSR tables): on the
luma channel Y of YCbCr (ITU-R BT.601, studio range 16-235, as MATLAB's `rgb2ycbcr`), with
a border of `border` pixels (the scale factor) cropped, per image and averaged.
"""

import torch
from torchmetrics import Metric

# Y of BT.601 studio-swing YCbCr for RGB in [0, 1], itself scaled to [0, 1] (Y' = 16..235 / 255).
_LUMA = (65.481 / 255, 128.553 / 255, 24.966 / 255)
_LUMA_OFFSET = 16 / 255


def rgb_to_y(images: torch.Tensor) -> torch.Tensor:
    """(N, 3, H, W) RGB in [0, 1] -> (N, 1, H, W) luma in [16/255, 235/255]."""
    weights = images.new_tensor(_LUMA).view(1, 3, 1, 1)
    return (images * weights).sum(1, keepdim=True) + _LUMA_OFFSET


def psnr_y_per_image(preds: torch.Tensor, target: torch.Tensor, border: int) -> torch.Tensor:
    """(N,) PSNR (dB, peak 1) of each image on Y, `border` pixels cropped on each side."""
    if preds.shape[1] != 3:
        raise ValueError(f"Y-channel PSNR needs RGB images, got {preds.shape[1]} channels")
    b = border
    crop = (slice(None), slice(None), slice(b, -b or None), slice(b, -b or None))
    mse = (rgb_to_y(preds.float())[crop] - rgb_to_y(target.float())[crop]).pow(2).mean((1, 2, 3))
    return -10 * torch.log10(mse.clamp_min(1e-10))


class YChannelPSNR(Metric):
    """Mean over images of PSNR (dB, peak 1) on Y with `border` pixels cropped on each side."""

    higher_is_better = True
    full_state_update = False

    def __init__(self, border: int, **kwargs):
        super().__init__(**kwargs)
        self.border = border
        self.add_state("total", torch.tensor(0.0, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("count", torch.tensor(0), dist_reduce_fx="sum")

    def update(self, preds: torch.Tensor, target: torch.Tensor) -> None:
        per_image = psnr_y_per_image(preds, target, self.border)
        self.total += per_image.sum().double()
        self.count += len(per_image)

    def compute(self) -> torch.Tensor:
        return (self.total / self.count).float()
