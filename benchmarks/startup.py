"""Start-up time: `train.py --help`, and launch -> first training step of a real run.

    python benchmarks/startup.py [--data ../shared/datasets/fashion_mnist]

The run is Fashion-MNIST (conv_ae) from the local copy in the hub's layout. It is launched
twice: the first launch decodes the images into the cache, the second is the warm-cache
figure that matters day to day. The seconds to the first step come from the run itself
(`time/startup_s` in metrics.json: from the process's start, interpreter included, to the
first training batch); the whole one-step run's wall time is printed beside it.
"""

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# benchmarks/common.py: the running script's folder is first on sys.path
from common import RESULTS, ROOT, offline_env, write_results


def timed(cmd: list[str], env: dict) -> float:
    start = time.perf_counter()
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{done.stderr[-2000:]}")
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "datasets" / "fashion_mnist"))
    parser.add_argument("--out", type=Path, default=RESULTS / "startup.json")
    args = parser.parse_args()
    env = offline_env()

    results = {"help_s": min(timed([sys.executable, "train.py", "--help"], env) for _ in range(3))}
    with tempfile.TemporaryDirectory() as tmp:
        env["AELAB_CACHE_DIR"] = str(Path(tmp) / "cache")
        for launch in ("cold_cache", "warm_cache"):
            run = Path(tmp) / launch
            wall = timed([sys.executable, "train.py", "model=conv_ae", "data=fashion_mnist",
                          f"data.path={args.data}", "trainer.max_epochs=1",
                          "trainer.limit_train_batches=1", "trainer.limit_val_batches=1",
                          "test=false", "trainer.enable_progress_bar=false",
                          f"hydra.run.dir={run}"], env)
            first_step = json.loads((run / "metrics.json").read_text()).get("time/startup_s")
            results[launch] = {"first_step_s": first_step, "one_step_run_wall_s": wall}
    print(f"train.py --help: {results['help_s']:.2f} s")
    for launch in ("cold_cache", "warm_cache"):
        r = results[launch]
        print(f"{launch:10s}: first training step {r['first_step_s']:.2f} s after launch; "
              f"the whole one-step run {r['one_step_run_wall_s']:.2f} s")
    write_results(args.out, results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
