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
