"""The screen behind a recipe: each run's overrides and its validation / test PSNR, as a table.

    python experiments/image_zoo/screen.py RUN_DIR... --out experiments/image_zoo/screen_32floats

Reads every run's `.hydra/overrides.yaml` (what the command line changed; the data path and
the run dir are left out) and `metrics.json`, and writes <out>.md (a table in the order given)
and <out>.json (every number in it). A recipe is picked on validation PSNR: the test split
only reports it.
"""

import argparse
import json
import sys
from pathlib import Path

from omegaconf import OmegaConf

KEYS = ("val/psnr", "test/psnr", "test/ssim", "global_step")


def read_run(run: Path) -> dict:
    overrides = [o for o in OmegaConf.load(run / ".hydra" / "overrides.yaml")
                 if not o.startswith(("data.path=", "hydra."))]
    metrics = json.loads((run / "metrics.json").read_text())
    return {"run": run.name, "overrides": overrides, **{k: metrics[k] for k in KEYS}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    finished = [run for run in args.runs if (run / "metrics.json").exists()]
    if len(finished) < len(args.runs):
        left = ", ".join(str(run) for run in args.runs if run not in finished)
        print(f"left out, no metrics.json (unfinished?): {left}", file=sys.stderr)
    rows = [read_run(run) for run in finished]
    lines = ["| run | overrides | steps | val PSNR | test PSNR | test SSIM |",
             "|---|---|---:|---:|---:|---:|"]
    lines += [f"| {r['run']} | `{' '.join(r['overrides'])}` | {int(r['global_step']):,} | "
              f"{r['val/psnr']:.2f} | {r['test/psnr']:.2f} | {r['test/ssim']:.3f} |" for r in rows]
    args.out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    args.out.with_suffix(".json").write_text(json.dumps(rows, indent=1) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
