"""Y-channel PSNR of super-resolution runs split by test photo (Kite: mostly sky; OneStandsOut:
spiky plants), bicubic against the net, border = the run's factor.

    python experiments/restoration/per_photo.py outputs/experiments/restoration/upscale4_{aug,psnr}

With `--bins 45,48,50`, each photo's patches are also split by how well bicubic already does on
them (its Y PSNR: below 45 dB, 45-48, ...): where the net gains, structure or flat sky.

The test split is the run's own (its test stage's degradation); the photo of each patch comes
from the dataset's `photo` column, in the split's order.
"""

import argparse
import json
from pathlib import Path

import torch

from aelab.data.hub import load_splits
from aelab.metrics.image import psnr_y_per_image
from aelab.run import load_run


def by_bicubic_psnr(bicubic: torch.Tensor, net: torch.Tensor, edges: list[float]) -> list[dict]:
    """Patches grouped by bicubic's own Y PSNR; each group's size and mean dB."""
    rows, bounds = [], [float("-inf"), *edges, float("inf")]
    for lo, hi in zip(bounds[:-1], bounds[1:], strict=True):
        inside = (bicubic >= lo) & (bicubic < hi)
        if inside.any():
            rows.append({"bicubic_db": f"{lo:g} to {hi:g}", "patches": int(inside.sum()),
                         "bicubic": round(bicubic[inside].mean().item(), 2),
                         "gain": round((net[inside] - bicubic[inside]).mean().item(), 2)})
    return rows


@torch.no_grad()
def per_photo(run: Path, bins: list[float]) -> dict:
    cfg, datamodule, model, _ = load_run(str(run))
    model.eval()
    datamodule.setup("test")
    clean = torch.cat([datamodule.on_after_batch_transfer(b, 0) for b in datamodule.test_dataloader()])
    inputs = model.step_source(clean, "test", 0)  # the bicubic upsampling of the downsampled image
    restored = torch.cat([model(batch) for batch in inputs.split(256)])
    photos = load_splits(cfg.data.path)["test"]["photo"]  # the loader the run's data went through
    if len(photos) != len(clean):
        raise SystemExit(f"{run}: {len(clean)} test images but {len(photos)} photo names")
    border = cfg.corruption.factor  # each patch's Y PSNR once; YChannelPSNR averages these
    psnr = {"bicubic": psnr_y_per_image(inputs.clamp(0, 1), clean, border),
            "net": psnr_y_per_image(restored, clean, border)}
    scores = {}
    for photo in sorted(set(photos)):
        mask = torch.tensor([p == photo for p in photos])
        row = {name: round(per_image[mask].double().mean().item(), 2)
               for name, per_image in psnr.items()}
        row["gain"] = round(row["net"] - row["bicubic"], 2)
        if bins:
            row["by_bicubic_psnr"] = by_bicubic_psnr(psnr["bicubic"][mask], psnr["net"][mask], bins)
        scores[photo] = row
    return scores


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--bins", type=lambda s: [float(x) for x in s.split(",")], default=[],
                        help="bicubic Y PSNR edges (dB) to split each photo's patches at")
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(json.dumps({run.name: per_photo(run, args.bins) for run in args.runs}, indent=1))


if __name__ == "__main__":
    main()
