"""trainer=ddp_cpu: two gloo processes give the test metrics of one process with twice the batch.

Each of the 2 processes takes every other batch of the same seeded permutation, and DDP
averages their gradients, so a step sees the same 2 x 16 images as one process's step with
batch 32. With GroupNorm (no per-process BatchNorm statistics) the runs differ only by the
order of float additions.
"""

import json
import os
import runpy
import subprocess
import sys

import pytest

from tests.conftest import ROOT, train_run


def benchmark_settings() -> list[str]:
    """The runs' shared overrides, from benchmarks/ddp.py, the script of the published figures
    (its folder on sys.path while it loads, as when it is run), so both run the same thing."""
    folder = str(ROOT / "benchmarks")
    sys.path.insert(0, folder)
    try:
        return runpy.run_path(str(ROOT / "benchmarks" / "ddp.py"))["COMMON"]
    finally:
        sys.path.remove(folder)


COMMON = benchmark_settings()
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}


def train(run_dir, *overrides) -> dict:
    done = subprocess.run([sys.executable, "train.py", *COMMON, *overrides,
                           f"hydra.run.dir={run_dir}"], cwd=ROOT, env=ENV, text=True,
                          capture_output=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads((run_dir / "metrics.json").read_text())


@pytest.mark.skipif(sys.platform == "win32", reason="gloo DDP on Windows is not supported here")
def test_two_process_ddp_matches_one_process(tmp_path):
    ddp = train(tmp_path / "ddp", "trainer=ddp_cpu", "data.batch_size=16")
    single = train_run(tmp_path / "single", *COMMON, "trainer=cpu", "data.batch_size=32",
                       fast=False)  # in this process: one interpreter start less
    assert ddp["global_step"] == single["global_step"] == 2 * (256 // 32)
    # 70 test images: batches of 16 split 3/2 between the processes, every image scored once.
    assert abs(ddp["test/psnr"] - single["test/psnr"]) < 0.01
    assert abs(ddp["test/mse"] - single["test/mse"]) < 1e-4
    assert abs(ddp["test/loss"] - single["test/loss"]) < 0.02 * abs(single["test/loss"])
