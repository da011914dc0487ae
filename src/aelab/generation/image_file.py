"""Restore an image file of any size with a trained denoiser or upscaler:
`python generate.py run_dir=RUN task=denoise|upscale input=photo.png`.

The model sees what it was trained on: tiles of its training size, overlapping by half, each
output weighted by a window that is highest at the tile's centre (a tile's border pixels
see the least context), so no seams show where tiles meet. Images smaller than a tile are
padded by repeating their edge. `upscale` enlarges the file by the run's
`corruption.factor`, first by bicubic interpolation (the net's input, as in training, and
written beside the result as the baseline), then through the net.
"""

import logging
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F

from aelab.errors import AelabError
from aelab.files import atomic_save_image, free_name

log = logging.getLogger(__name__)


def load_image(path: Path, channels: int) -> torch.Tensor:
    """A file as (1, channels, H, W) floats in [0, 1] (RGB or grayscale as the model needs)."""
    from PIL import Image, UnidentifiedImageError

    if not path.is_file():
        raise AelabError(f"input={path}: no such file")
    try:
        image = Image.open(path).convert("L" if channels == 1 else "RGB")
    except UnidentifiedImageError:
        raise AelabError(f"input={path}: not an image file PIL can read") from None
    except OSError as err:  # a truncated or corrupt file: PIL reads its header, then fails
        raise AelabError(f"input={path}: the image cannot be read whole ({err}); the file "
                         "may be truncated: copy it again") from None
    pixels = torch.frombuffer(bytearray(image.tobytes()), dtype=torch.uint8)
    return pixels.view(image.height, image.width, channels).permute(2, 0, 1)[None].float() / 255


def save_image(image: torch.Tensor, path: Path) -> None:
    from PIL import Image

    pixels = (image[0].clamp(0, 1) * 255).round().byte().permute(1, 2, 0).cpu().numpy()
    atomic_save_image(Image.fromarray(pixels[..., 0] if pixels.shape[-1] == 1 else pixels), path)


def _starts(length: int, tile: int, step: int) -> list[int]:
    starts = list(range(0, length - tile + 1, step))
    return starts if starts[-1] == length - tile else [*starts, length - tile]


class Progress:
    """A line every few seconds while a large file is restored (a 12-megapixel photo is
    thousands of tiles: minutes on a CPU), so a long run does not look like a hung one."""

    def __init__(self, total: int, every_s: float = 5.0):
        self.total, self.every_s, self.start = total, every_s, time.monotonic()
        self.last = self.start

    def show(self, done: int) -> None:
        now = time.monotonic()
        if done and now - self.last >= self.every_s:
            rate = done / (now - self.start)
            log.info("restored %d of %d tiles (%.0f%%), about %.0f s left", done, self.total,
                     100 * done / self.total, (self.total - done) / rate)
            self.last = now


@torch.no_grad()
def tiled(fn: Callable[[torch.Tensor], torch.Tensor], image: torch.Tensor,
          tile: tuple[int, int], batch: int = 64) -> torch.Tensor:
    """fn applied to overlapping `tile`-sized crops of `image` (1, C, H, W), blended."""
    _, _, height, width = image.shape
    th, tw = tile
    padded = F.pad(image, (0, max(0, tw - width), 0, max(0, th - height)), mode="replicate")
    ph, pw = padded.shape[-2:]
    boxes = [(y, x) for y in _starts(ph, th, max(1, th // 2)) for x in _starts(pw, tw, max(1, tw // 2))]
    # Hann window, floored so a pixel covered by tile borders only still gets a weight.
    window = (torch.hann_window(th + 2, periodic=False, device=image.device)[1:-1, None]
              * torch.hann_window(tw + 2, periodic=False, device=image.device)[None, 1:-1])
    total, weight = torch.zeros_like(padded), torch.zeros_like(padded[:, :1])
    log.info("%dx%d pixels in %d tiles of %dx%d", width, height, len(boxes), tw, th)
    progress = Progress(len(boxes))
    for i in range(0, len(boxes), batch):
        progress.show(i)
        chunk = boxes[i:i + batch]
        out = fn(torch.cat([padded[..., y:y + th, x:x + tw] for y, x in chunk]))
        for (y, x), restored in zip(chunk, out, strict=True):
            total[..., y:y + th, x:x + tw] += restored * window
            weight[..., y:y + th, x:x + tw] += window
    return (total / weight)[..., :height, :width]


def restore_file(model, task: str, path: Path, out_dir: Path) -> Path:
    """Denoise or upscale the image at `path`; write the result (and, for upscale, the
    bicubic baseline) to `out_dir`; return the result's path."""
    model.require(task)
    channels, *tile = model.image_shape
    image = load_image(Path(path), channels).to(model.device)
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = Path(path).stem
    if task == "upscale":
        factor = model.corruption.factor
        image = model.corruption.upsample(image, (image.shape[-2] * factor,
                                                  image.shape[-1] * factor))
        save_image(image, free_name(out_dir / f"{stem}_bicubic_x{factor}.png"))
        out = free_name(out_dir / f"{stem}_upscale_x{factor}.png")
    else:
        out = free_name(out_dir / f"{stem}_denoise.png")
    save_image(tiled(lambda x: model(x).clamp(0, 1), image, tuple(tile)), out)
    return out
