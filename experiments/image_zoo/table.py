"""The code-size table of experiments/image_zoo: test PSNR / SSIM of every model at 16, 32, 64
and 128 floats, against PCA's at the same size, with each run's training seconds.

    python experiments/image_zoo/table.py outputs/experiments/image_zoo/{pca,mlp_ae,...} \
        --out experiments/image_zoo/code_sizes

Reads each sweep's runs (`.hydra/config.yaml` for the code size, `metrics.json` for the
results) and writes <out>.md (the tables) and <out>.json (every number in them).
"""

import argparse
import json
from pathlib import Path

from omegaconf import OmegaConf


def read_sweep(folder: Path) -> dict[int, dict]:
    """{code size: the run's metrics plus its training seconds} for one model's sweep."""
    runs = {}
    for config_file in sorted(folder.glob("*/.hydra/config.yaml")):
        run = config_file.parent.parent
        metrics_file = run / "metrics.json"
        if not metrics_file.exists():
            continue  # unfinished
        metrics = json.loads(metrics_file.read_text())
        cfg = OmegaConf.load(config_file)
        epochs = int(metrics["epoch"])
        metrics["train_s"] = metrics["time/mean_epoch_s"] * epochs  # validation included
        runs[int(cfg.model.latent_dim)] = metrics
    return runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sweeps", nargs="+", type=Path,
                        help="one sweep folder per model (its name labels the row)")
    parser.add_argument("--floor", default="pca", help="the sweep every other model is compared with")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()

    results = {folder.name: read_sweep(folder) for folder in args.sweeps}
    sizes = sorted({size for runs in results.values() for size in runs})
    floor = results.get(args.floor, {})
    lines = []
    for metric, unit, digits in (("test/psnr", "dB", 2), ("test/ssim", "", 3)):
        lines += [f"**{metric}{f' ({unit})' if unit else ''}**, and against {args.floor} at the "
                  "same code size", "",
                  "| model | " + " | ".join(f"{s} floats" for s in sizes) + " |",
                  "|---|" + "---:|" * len(sizes)]
        for name, runs in results.items():
            cells = []
            for size in sizes:
                if size not in runs:
                    cells.append("")
                    continue
                value = runs[size][metric]
                cell = f"{value:.{digits}f}"
                if name != args.floor and size in floor:
                    cell += f" ({value - floor[size][metric]:+.{digits}f})"
                cells.append(cell)
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
        lines.append("")
    lines += ["**Training seconds** (epochs x mean seconds per epoch, validation included; one "
              "CPU thread, two runs sharing the 2 cores)", "",
              "| model | " + " | ".join(f"{s} floats" for s in sizes) + " |",
              "|---|" + "---:|" * len(sizes)]
    for name, runs in results.items():
        cells = [f"{runs[s]['train_s']:.0f}" if s in runs else "" for s in sizes]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    keep = ("test/psnr", "test/ssim", "test/mse", "train_s", "model/code_size", "epoch")
    args.out.with_suffix(".json").write_text(json.dumps(
        {name: {size: {k: m[k] for k in keep if k in m} for size, m in runs.items()}
         for name, runs in results.items()}, indent=1) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
