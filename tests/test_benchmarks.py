"""The benchmark scripts still run (tiny sizes; their figures are not checked here: speed is
measured in benchmarks/, never in timed tests)."""

import json
import subprocess
import sys

from tests.conftest import ROOT


def test_throughput_benchmark_runs_and_writes_its_figures(tmp_path):
    out = tmp_path / "throughput.json"
    done = subprocess.run([sys.executable, "benchmarks/throughput.py", "--cases", "28,text,transformer",
                           "--images", "256", "--text-sentences", "128", "--text-data", "toy",
                           "--epochs", "1",
                           "--rounds", "1", "--threads", "1", "--out", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads(out.read_text())["results"]
    assert [r["unit"] for r in results] == ["img/s", "tokens/s", "tokens/s"]
    for r in results:
        assert r["ours"] > 0 and r["bare"] > 0 and r["loader"] > 0
        pairs = [b / o for o, b in zip(r["ours_epoch_s"], r["bare_epoch_s"], strict=True)]
        assert r["ours_over_bare"] in pairs  # the median pair
        assert len(r["ours_epoch_s"]) == len(r["bare_epoch_s"]) == 1


def test_image_speed_benchmark_runs_each_case_at_its_recipes_batch_size(tmp_path):
    out = tmp_path / "image_speed.json"
    done = subprocess.run([sys.executable, "benchmarks/image_speed.py",
                           "conv:model=conv_ae,model.width=8,data.batch_size=8",
                           "mlp:model=mlp_ae,model.width=32,data.batch_size=4",
                           "--images", "16", "--rounds", "2", "--train-images", "100",
                           "--out", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    conv, mlp = json.loads(out.read_text())["results"]
    assert (conv["batch_size"], mlp["batch_size"]) == (8, 4)
    assert conv["ratio"] == 1.0 and len(mlp["rounds"]) == 2
    # the figures are rounded: recomputed from the rounded rates they agree to that rounding
    assert abs(mlp["ratio"] - mlp["images_per_s"] / conv["images_per_s"]) < 2e-3
    assert abs(conv["train_s_per_epoch"] - 100 / conv["images_per_s"]) < 0.1
