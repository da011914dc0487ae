"""Gather the super-resolution runs' plain and self-ensembled test scores into one file.

    python experiments/restoration/self_ensemble.py outputs/experiments/restoration/upscale4_{aug,l1} \\
        > experiments/restoration/self_ensemble.json

Each run needs its metrics.json (train.py) and eval_metrics_self_ensemble.json
(`python eval.py run_dir=RUN self_ensemble=true`: the output averaged over the 8 flips and
quarter turns of each input).
"""

import argparse
import json
from pathlib import Path

KEYS = ("test/psnr", "test/psnr_y", "test/psnr_bicubic", "test/psnr_bicubic_y")


def scores(file: Path) -> dict:
    if not file.exists():
        raise SystemExit(f"{file} is missing; run `python eval.py run_dir={file.parent} "
                         "self_ensemble=true` (or train.py) first")
    metrics = json.loads(file.read_text())
    return {key: metrics[key] for key in KEYS}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path)
    runs = parser.parse_args().runs
    print(json.dumps({run.name: {"plain": scores(run / "metrics.json"),
                                 "self_ensemble": scores(run / "eval_metrics_self_ensemble.json")}
                      for run in runs}, indent=1))


if __name__ == "__main__":
    main()
