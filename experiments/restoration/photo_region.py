"""A whole region of a test photo, restored through `generate.py input=FILE` (tiles of the
training size, blended), scored against the original region.

The photos dataset cuts each photo into non-overlapping 32x32 patches, row by row, first at
1/2 scale; this script finds the row length (the one that makes the patches' edges meet),
puts a block of patches back together, and degrades it as training did: noise of `sigma`
for a denoiser, antialiased bicubic downsampling for an upscaler. The degraded region is
written as a PNG file and restored by `aelab.run.generate(..., input=...)`, the code behind
`python generate.py run_dir=RUN task=denoise|upscale input=FILE`. BM3D runs on the whole
region too: on a large image it finds more similar blocks than on a 32x32 patch, so this is
the comparison that favours it.

    python experiments/restoration/photo_region.py --denoise RUN --upscale RUN [--upscale RUN]

It shares classical.py's noise, BM3D, PSNR and Y-channel PSNR.
"""

import argparse
import io
import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import torch
from PIL import Image

from aelab.generation.image_file import load_image, save_image
from aelab.run import generate, load_run
from experiments.restoration.classical import add_noise, denoisers, psnr, psnr_y

HERE = Path(__file__).parent


def patch_grid(data: Path, photo: str) -> tuple[np.ndarray, int]:
    """The photo's patches (N, 32, 32, 3) in their order, and the row length at 1/2 scale."""
    table = pq.read_table(data / "test-00000-of-00001.parquet").to_pandas()
    rows = table[table.photo == photo]
    if rows.empty:
        raise SystemExit(f"no test patches of photo {photo!r}; photos: {sorted(set(table.photo))}")
    patches = np.stack([np.asarray(Image.open(io.BytesIO(r["bytes"])).convert("RGB"))
                        for r in rows.image]).astype(np.float32)

    def seam(w: int) -> float:  # bottom edge of patch i against top edge of patch i + w
        m = min(len(patches) - w, 3 * w)
        return float(np.abs(patches[:m, -1] - patches[w:w + m, 0]).mean())

    return patches, min(range(4, len(patches) // 4), key=seam)


def region(patches: np.ndarray, per_row: int, top: int, left: int, rows: int, cols: int) -> torch.Tensor:
    block = [np.concatenate([patches[(top + r) * per_row + left + c] for c in range(cols)], 1)
             for r in range(rows)]
    return torch.from_numpy(np.concatenate(block, 0)).permute(2, 0, 1)[None] / 255


def most_detail(patches: np.ndarray, per_row: int, rows: int, cols: int) -> list[int]:
    """The rows x cols block of the 1/2-scale grid whose patches vary most (mean pixel std)."""
    # The 1/2-scale grid (R rows) comes first, then the 1/4-scale one (about R/2 rows of
    # per_row/2): n ~ 1.25 R per_row. Rounded down, to stay inside the first grid.
    grid_rows = int(len(patches) / (1.25 * per_row))
    spread = patches[:grid_rows * per_row].std((1, 2, 3)).reshape(grid_rows, per_row)
    best = max((spread[t:t + rows, c:c + cols].mean(), t, c)
                for t in range(grid_rows - rows + 1) for c in range(per_row - cols + 1))
    return [best[1], best[2], rows, cols]


def scores(out: torch.Tensor, clean: torch.Tensor, border: int) -> dict:
    return {"psnr": psnr(out, clean), "psnr_y": psnr_y(out, clean, border)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/datasets/photos"))
    parser.add_argument("--photo", default="OneStandsOut")  # Kite is mostly sky
    parser.add_argument("--box", type=int, nargs=4, default=None,
                        help="top, left (in patches), rows, columns (default: the 6 x 10 block "
                             "with the most detail, by the patches' pixel spread)")
    parser.add_argument("--denoise", type=Path, nargs="*", default=[], help="denoising runs")
    parser.add_argument("--upscale", type=Path, nargs="*", default=[], help="upscaling runs")
    parser.add_argument("--out", type=Path, default=HERE / "region")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)

    patches, per_row = patch_grid(args.data, args.photo)
    args.box = args.box or most_detail(patches, per_row, 6, 10)
    clean = region(patches, per_row, *args.box)
    save_image(clean, args.out / "original.png")
    clean = load_image(args.out / "original.png", 3)  # exactly what the file holds
    results = {"photo": args.photo, "patches_per_row": per_row, "box": args.box,
               "size": list(clean.shape[-2:]), "rows": []}
    for run in args.denoise:
        _, _, model, _ = load_run(str(run))
        sigma = model.corruption.sigma
        noisy = add_noise(clean, sigma * 255, seed=0)
        noisy_file = args.out / f"noisy{round(sigma * 255)}.png"
        save_image(noisy, noisy_file)
        noisy = load_image(noisy_file, 3)  # what the file holds: clipped, 8-bit
        out_file = generate(str(run), "denoise", input=str(noisy_file))
        out = load_image(out_file, 3)
        save_image(out, args.out / f"noisy{round(sigma * 255)}_{run.name}.png")
        bm3d = denoisers(channels=3)["bm3d"]  # classical.py's: bm3d_rgb, told the true sigma
        bm3d_out = torch.from_numpy(bm3d(noisy[0].permute(1, 2, 0).double().numpy(),
                                         sigma)).permute(2, 0, 1)[None].float()
        save_image(bm3d_out, args.out / f"noisy{round(sigma * 255)}_bm3d.png")
        row = {"task": "denoise", "sigma_255": round(sigma * 255), "run": run.name,
               "input": scores(noisy, clean, 0), "bm3d": scores(bm3d_out, clean, 0),
               "net": scores(out, clean, 0)}
        results["rows"].append(row)
        print(row, flush=True)
    for run in args.upscale:
        _, _, model, _ = load_run(str(run))
        factor = model.corruption.factor
        low = model.corruption.low_resolution(clean)
        low_file = args.out / f"low_x{factor}.png"
        save_image(low, low_file)
        out_file = generate(str(run), "upscale", input=str(low_file))  # beside: the bicubic
        out = load_image(out_file, 3)
        bicubic = load_image(out_file.parent / f"{low_file.stem}_bicubic_x{factor}.png", 3)
        save_image(out, args.out / f"low_x{factor}_{run.name}.png")
        save_image(bicubic, args.out / f"low_x{factor}_bicubic.png")
        row = {"task": "upscale", "factor": factor, "run": run.name,
               "bicubic": scores(bicubic, clean, factor), "net": scores(out, clean, factor)}
        results["rows"].append(row)
        print(row, flush=True)
    (args.out / "region.json").write_text(json.dumps(results, indent=2) + "\n")
    side_by_side(args.out, results["rows"])


def side_by_side(out: Path, rows: list[dict], box: tuple[int, int, int, int] = (100, 50, 96, 96),
                 scale: int = 3) -> None:
    """A 96 x 96 window of every result, enlarged 3x, one row per run: input (bicubic for an
    upscaler), BM3D (denoisers), the net, the original. Written as side_by_side.png."""
    x, y, w, h = box
    lines = []
    for row in rows:
        if row["task"] == "denoise":
            stem = f"noisy{row['sigma_255']}"
            names = [f"{stem}.png", f"{stem}_bm3d.png", f"{stem}_{row['run']}.png"]
        else:
            names = [f"low_x{row['factor']}_bicubic.png", f"low_x{row['factor']}_{row['run']}.png"]
        lines.append([Image.open(out / n).convert("RGB") for n in [*names, "original.png"]])
    cell, gap = w * scale, 4
    columns = max(len(line) for line in lines)
    sheet = Image.new("RGB", (columns * (cell + gap), len(lines) * (cell + gap)), (128, 128, 128))
    for r, line in enumerate(lines):
        for c, image in enumerate(line):
            crop = image.crop((x, y, x + w, y + h)).resize((cell, cell), Image.Resampling.NEAREST)
            sheet.paste(crop, (c * (cell + gap), r * (cell + gap)))
    sheet.save(out / "side_by_side.png")


if __name__ == "__main__":
    main()
