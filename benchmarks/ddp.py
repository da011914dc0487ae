"""DDP against one process: `trainer=ddp_cpu` (two gloo processes, batch 16 each) against one
process with batch 32, on the same seeded data, and their test metrics side by side.

    python benchmarks/ddp.py [--out benchmarks/results/ddp.json]

Each of the two processes takes every other batch of the same seeded permutation and DDP
averages their gradients, so a step sees the same 32 images as the single process's step; with
GroupNorm (no per-process BatchNorm statistics) the runs differ only in the order of float
additions. tests/test_ddp.py asserts the agreement on a smaller run; this writes the figures
(experiments/performance links the table).
"""

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

# benchmarks/common.py: the running script's folder is first on sys.path
from common import RESULTS, ROOT, offline_env, write_results

COMMON = ["data=shapes", "data.image_size=16", "data.num_train=256", "data.num_val=64",
          "data.num_test=70", "model.width=8", "model.depth=2", "model.net.norm=group",
          "trainer.max_epochs=2", "trainer.enable_progress_bar=false",
          "trainer.enable_model_summary=false", "logger=csv", "threads=1", "seed=3"]
CASES = {"1 process, batch 32": ["trainer=cpu", "data.batch_size=32"],
         "2 processes, batch 16 each": ["trainer=ddp_cpu", "data.batch_size=16"]}
METRICS = ["global_step", "test/psnr", "test/mse", "test/loss"]


def run(run_dir: Path, overrides: list[str]) -> dict:
    cmd = [sys.executable, "train.py", *COMMON, *overrides, f"hydra.run.dir={run_dir}"]
    done = subprocess.run(cmd, cwd=ROOT, env=offline_env(), capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{done.stderr[-2000:]}")
    metrics = json.loads((run_dir / "metrics.json").read_text())
    return {key: metrics[key] for key in METRICS}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=RESULTS / "ddp.json")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        results = [{"case": case, "overrides": overrides, **run(Path(tmp) / str(i), overrides)}
                   for i, (case, overrides) in enumerate(CASES.items())]
    write_results(args.out, {"common": COMMON, "results": results})
    return 0


if __name__ == "__main__":
    sys.exit(main())
