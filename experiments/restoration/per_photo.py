"""Y-channel PSNR of super-resolution runs split by test photo (Kite: mostly sky; OneStandsOut:
spiky plants), bicubic against the net, border = the run's factor.

    python experiments/restoration/per_photo.py outputs/experiments/restoration/upscale4_{aug,psnr}

The test split is the run's own (its test stage's degradation); the photo of each patch comes
from the dataset's `photo` column, in the split's order.
"""

import argparse
import json
from pathlib import Path

import torch

from aelab.data.hub import load_splits
from aelab.metrics.image import YChannelPSNR
from aelab.run import load_run


@torch.no_grad()
def per_photo(run: Path) -> dict:
    cfg, datamodule, model, _ = load_run(str(run))
    model.eval()
    datamodule.setup("test")
    clean = torch.cat([datamodule.on_after_batch_transfer(b, 0) for b in datamodule.test_dataloader()])
    inputs = model.step_inputs(clean, "test", 0)  # the bicubic upsampling of the downsampled image
    restored = torch.cat([model(batch) for batch in inputs.split(256)])
    photos = load_splits(cfg.data.path)["test"]["photo"]  # the loader the run's data went through
    if len(photos) != len(clean):
        raise SystemExit(f"{run}: {len(clean)} test images but {len(photos)} photo names")
    scores = {}
    for photo in sorted(set(photos)):
        mask = torch.tensor([p == photo for p in photos])
        row = {}
        for name, images in (("bicubic", inputs.clamp(0, 1)), ("net", restored)):
            metric = YChannelPSNR(border=cfg.corruption.factor)
            metric.update(images[mask], clean[mask])
            row[name] = round(metric.compute().item(), 2)
        row["gain"] = round(row["net"] - row["bicubic"], 2)
        scores[photo] = row
    return scores


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path)
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(json.dumps({run.name: per_photo(run) for run in args.runs}, indent=1))


if __name__ == "__main__":
    main()
