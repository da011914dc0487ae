"""Where an autoencoder gains on PCA: the test patches split into quarters by PCA's own PSNR
on them (its hardest quarter first: texture; its easiest last: flat sky), the mean PSNR of
each run in each quarter, and the same split by test photo.

    python -m experiments.linear_floor.by_patch PCA_RUN RUN [RUN ...] [--out results/by_patch]

PCA_RUN is a `model=pca` run; every run is scored on its own test split (the same images for
runs of the same data) through its best checkpoint, as its test stage scored it. Writes
<out>.json and <out>.md.
"""

import argparse
import json
import os
from pathlib import Path

import torch

from aelab.compare import markdown
from aelab.data.hub import load_splits
from aelab.run import load_run


@torch.no_grad()
def psnr_per_patch(run: Path) -> tuple[torch.Tensor, list[str] | None]:
    """Each test image's PSNR (dB) under the run, and the photo each came from (None for data
    without a `photo` column)."""
    cfg, datamodule, model, _ = load_run(str(run))
    model.eval()
    datamodule.setup("test")
    clean = torch.cat([datamodule.on_after_batch_transfer(b, 0) for b in datamodule.test_dataloader()])
    restored = torch.cat([model(batch).clamp(0, 1) for batch in clean.split(256)])
    mse = (restored - clean).pow(2).flatten(1).mean(1).clamp_min(1e-10)
    test = load_splits(cfg.data.path)["test"]
    photos = list(test["photo"]) if "photo" in test.column_names else None
    return -10 * mse.log10(), photos


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path, help="the PCA run first")
    parser.add_argument("--out", type=Path, default=Path("experiments/linear_floor/results/by_patch"))
    args = parser.parse_args()
    torch.set_num_threads(1)
    scores = {run: psnr_per_patch(run) for run in args.runs}
    pca, photos = scores[args.runs[0]]
    edges = torch.quantile(pca.double(), torch.tensor([0.25, 0.5, 0.75], dtype=torch.float64))
    quarter = torch.bucketize(pca.double(), edges)  # 0: PCA's hardest quarter ... 3: its easiest
    groups = {f"quarter {q + 1} of PCA's PSNR": quarter == q for q in range(4)}
    groups.update({f"photo {p}": torch.tensor([x == p for x in photos])
                   for p in sorted(set(photos or []))})
    groups["all"] = torch.ones_like(pca, dtype=torch.bool)
    root = Path(os.path.commonpath([run.resolve() for run in args.runs]))
    names = [str(run.resolve().relative_to(root)) for run in args.runs]
    header = ["patches", "n", *names]
    rows, table = [], []
    for group, inside in groups.items():
        means = [round(scores[run][0][inside].double().mean().item(), 2) for run in args.runs]
        rows.append({"patches": group, "n": int(inside.sum()), **dict(zip(names, means, strict=True))})
        table.append([group, int(inside.sum()), *[f"{m:.2f}" for m in means]])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps(rows, indent=1) + "\n")
    args.out.with_suffix(".md").write_text(markdown(header, table))
    print(markdown(header, table))


if __name__ == "__main__":
    main()
