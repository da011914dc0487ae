"""The classical methods a restoration net must beat, on the same test images, with the
same metrics as the models' test split (per-image PSNR in dB, averaged).

    pip install -e ".[restoration]"   # bm3d and scikit-image
    python -m experiments.restoration.classical --data ../shared/datasets/photos
    # (or all of experiments/restoration/run.sh)

- Denoising at each `--sigmas` (0-255 scale; the models' `corruption.sigma` is sigma / 255,
  so 25 is 0.098): the noisy input, BM3D (`bm3d.bm3d_rgb` for RGB, `bm3d.bm3d` for
  grayscale, told the true sigma) and non-local means (scikit-image, told the true sigma,
  h = 0.8 sigma, 5x5 patches within 13x13 windows: its docs' recipe). BM3D takes seconds
  per image on a CPU, so these run on a fixed, seeded subset of `--n` test images (noise
  seeded too).
- Super-resolution by each `--factors`: bicubic upsampling of the antialiased-bicubic
  low-resolution image (the models' `corruption=downsample`), on the whole test split, as
  PSNR over RGB and (RGB data) on the Y channel with `factor` border pixels cropped.

Writes a JSON (--out) and prints a markdown table.
"""

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from torchmetrics.functional.image import peak_signal_noise_ratio

from aelab.data.corruption import Downsample
from aelab.data.image import ImageDataModule
from aelab.metrics.image import YChannelPSNR


def psnr(restored: torch.Tensor, clean: torch.Tensor) -> float:
    """Mean over images of PSNR (dB, peak 1), as the models' test/psnr."""
    return peak_signal_noise_ratio(restored.clamp(0, 1), clean, data_range=1.0,
                                   dim=(1, 2, 3)).item()


def psnr_y(restored: torch.Tensor, clean: torch.Tensor, border: int) -> float:
    """PSNR on the Y channel with `border` pixels cropped, as the models' test/psnr_y."""
    metric = YChannelPSNR(border=border)
    metric.update(restored.clamp(0, 1), clean)
    return metric.compute().item()


def denoisers(channels: int) -> dict:
    """name -> f(noisy HxWxC float array, sigma in [0, 1]) -> restored array."""
    import bm3d
    from skimage.restoration import denoise_nl_means

    def bm3d_one(noisy, sigma):
        if channels == 3:
            return bm3d.bm3d_rgb(noisy, sigma_psd=sigma)
        return bm3d.bm3d(noisy[..., 0], sigma_psd=sigma)[..., None]

    def nlm_one(noisy, sigma):
        out = denoise_nl_means(noisy, h=0.8 * sigma, sigma=sigma, patch_size=5,
                               patch_distance=6, fast_mode=True, channel_axis=-1)
        return out.reshape(noisy.shape)

    return {"bm3d": bm3d_one, "nlm": nlm_one}


def test_subset(data: str, n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(whole test split, the seeded subset of `n` images the denoisers run on), in [0, 1]."""
    test = ImageDataModule(path=data, seed=seed).load_splits()["test"].float() / 255
    order = torch.randperm(len(test), generator=torch.Generator().manual_seed(seed))
    return test, test[order[:n]]


def add_noise(clean: torch.Tensor, sigma255: float, seed: int) -> torch.Tensor:
    """The noisy images every method here (and table.py's nets) restores: seeded, clipped."""
    g = torch.Generator().manual_seed(seed)
    return (clean + sigma255 / 255 * torch.randn(clean.shape, generator=g)).clamp(0, 1)


def denoising(clean: torch.Tensor, sigmas: list[float], seed: int) -> list[dict]:
    rows = []
    methods = denoisers(clean.shape[1])
    for sigma255 in sigmas:
        sigma = sigma255 / 255
        noisy = add_noise(clean, sigma255, seed)
        row = {"task": "denoise", "sigma_255": sigma255, "corruption.sigma": round(sigma, 4),
               "images": len(clean), "psnr_input": psnr(noisy, clean)}
        for name, method in methods.items():
            start = time.perf_counter()
            restored = [method(x.permute(1, 2, 0).numpy().astype(np.float64), sigma)
                        for x in noisy]
            restored = torch.from_numpy(np.stack(restored)).permute(0, 3, 1, 2).float()
            row[f"psnr_{name}"] = psnr(restored, clean)
            row[f"seconds_per_image_{name}"] = (time.perf_counter() - start) / len(clean)
        rows.append(row)
        print(row, flush=True)
    return rows


def super_resolution(clean: torch.Tensor, factors: list[int]) -> list[dict]:
    rows = []
    for factor in factors:
        bicubic = Downsample(factor, "bicubic")(clean)
        row = {"task": "upscale", "factor": factor, "images": len(clean),
               "psnr_bicubic": psnr(bicubic, clean)}
        if clean.shape[1] == 3:
            y = YChannelPSNR(border=factor)
            y.update(bicubic, clean)
            row["psnr_bicubic_y"] = y.compute().item()
        rows.append(row)
        print(row, flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="an image dataset (hub id or folder)")
    parser.add_argument("--sigmas", type=float, nargs="*", default=[15, 25, 50])
    parser.add_argument("--factors", type=int, nargs="*", default=[2, 4])
    parser.add_argument("--n", type=int, default=200, help="test images for the denoisers")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("experiments/restoration/classical.json"))
    args = parser.parse_args()

    test, subset = test_subset(args.data, args.n, args.seed)
    rows = super_resolution(test, args.factors) + denoising(subset, args.sigmas, args.seed)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"data": args.data, "seed": args.seed, "n": args.n, "rows": rows},
                                   indent=2) + "\n")
    print(f"written: {args.out}")
    print("\n| task | setting | images | input / bicubic | BM3D | NLM | Y channel (bicubic) |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        if r["task"] == "denoise":
            print(f"| denoise | sigma {r['sigma_255']:g} | {r['images']} | {r['psnr_input']:.2f} |"
                  f" {r['psnr_bm3d']:.2f} | {r['psnr_nlm']:.2f} | - |")
        else:
            y = f"{r['psnr_bicubic_y']:.2f}" if "psnr_bicubic_y" in r else "-"
            print(f"| upscale | x{r['factor']} | {r['images']} | {r['psnr_bicubic']:.2f} | - | - | {y} |")


if __name__ == "__main__":
    main()
