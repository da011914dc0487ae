"""Peak resident memory of a CIFAR-10-sized run: 50,000 train + 10,000 test RGB 32x32 images.

    python benchmarks/memory.py

Writes a dataset of that size in the hub's parquet layout (PNG bytes in an `img` column, as
`uoft-cs/cifar10` has; random pixels, made once under --work), then runs
`train.py data=cifar10 data.path=<it>` for --steps training steps twice: the first run decodes
the PNGs into the uint8 cache, the second reads the cache. Peak RSS is the child's maxrss.
"""

import argparse
import io
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

# benchmarks/common.py: the running script's folder is first on sys.path
from common import RESULTS, ROOT, offline_env, write_results


def write_dataset(folder: Path, sizes: dict[str, int]) -> None:
    """PNG bytes in an Image-typed column, written by `datasets` so that the parquet files
    carry the feature types, as the hub's do."""
    from datasets import ClassLabel, Dataset, Features, Image
    from PIL import Image as PILImage

    rng = np.random.default_rng(0)
    folder.mkdir(parents=True, exist_ok=True)
    features = Features({"img": Image(), "label": ClassLabel(num_classes=10)})
    for split, n in sizes.items():
        file = folder / f"{split}-00000-of-00001.parquet"
        if file.exists():
            continue
        images = []
        for _ in range(n):
            buf = io.BytesIO()
            PILImage.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(buf, "PNG")
            images.append({"bytes": buf.getvalue(), "path": None})
        labels = rng.integers(0, 10, n).tolist()
        Dataset.from_dict({"img": images, "label": labels}, features=features).to_parquet(str(file))


def peak_rss_of(cmd: list[str], env: dict) -> tuple[float, float]:
    """(peak RSS in MiB, wall seconds) of a child process, run on its own."""
    code = ("import resource, subprocess, sys, time; t = time.perf_counter(); "
            "r = subprocess.run(sys.argv[1:]).returncode; "
            "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, time.perf_counter() - t, r)")
    done = subprocess.run([sys.executable, "-c", code, *cmd], cwd=ROOT, env=env,
                          capture_output=True, text=True)
    kib, wall, rc = done.stdout.strip().splitlines()[-1].split()
    if rc != "0":
        sys.exit(f"failed: {' '.join(cmd)}\n{done.stderr[-2000:]}")
    return int(kib) / 1024, float(wall)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=ROOT / "outputs" / "benchmarks" / "cifar_sized")
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--out", type=Path, default=RESULTS / "memory.json")
    args = parser.parse_args()
    env = offline_env(AELAB_CACHE_DIR=str(args.work / "cache"))
    start = time.perf_counter()
    write_dataset(args.work / "data", {"train": 50_000, "test": 10_000})
    print(f"dataset ready in {time.perf_counter() - start:.0f} s: {args.work / 'data'}")
    results = {}
    for launch in ("decode", "cached"):
        cmd = [sys.executable, "train.py", "model=conv_ae", "data=cifar10",
               f"data.path={args.work / 'data'}", "trainer.max_epochs=1",
               f"trainer.limit_train_batches={args.steps}", "trainer.limit_val_batches=5",
               "trainer.limit_test_batches=5", "trainer.enable_progress_bar=false",
               f"hydra.run.dir={args.work / ('run_' + launch)}"]
        rss, wall = peak_rss_of(cmd, env)
        results[launch] = {"peak_rss_mib": rss, "wall_s": wall}
        print(f"{launch:7s}: peak RSS {rss:7.0f} MiB, {wall:.0f} s")
    results["train_images_uint8_mib"] = 50_000 * 3 * 32 * 32 / 2**20
    write_results(args.out, results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
