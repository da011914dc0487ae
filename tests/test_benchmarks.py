"""The benchmark scripts still run (tiny sizes; their figures are not checked here: speed is
measured in benchmarks/, never in timed tests)."""

import json
import runpy
import sys

import torch

from tests.conftest import ROOT


def run_script(name: str, args: list[str], monkeypatch) -> int:
    """benchmarks/<name> as __main__ in this process, as `python benchmarks/<name> ...` runs
    it (its folder first on sys.path); its exit status. An interpreter start and a torch import
    less than a subprocess; the thread count it sets is restored."""
    script = ROOT / "benchmarks" / name
    monkeypatch.syspath_prepend(str(script.parent))
    monkeypatch.setattr(sys, "argv", [str(script), *args])
    for key in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"):  # the scripts set these for themselves
        monkeypatch.setenv(key, "1")
    threads = torch.get_num_threads()
    try:
        runpy.run_path(str(script), run_name="__main__")
    except SystemExit as exit_:
        return exit_.code if isinstance(exit_.code, int) else 1
    finally:
        torch.set_num_threads(threads)
    return 0


def test_throughput_benchmark_runs_and_writes_its_figures(tmp_path, monkeypatch):
    out = tmp_path / "throughput.json"
    assert run_script("throughput.py", ["--cases", "28,text,transformer", "--images", "256",
                                        "--text-sentences", "128", "--text-data", "toy",
                                        "--epochs", "1", "--rounds", "1", "--threads", "1",
                                        "--out", str(out)], monkeypatch) == 0
    results = json.loads(out.read_text())["results"]
    assert [r["unit"] for r in results] == ["img/s", "tokens/s", "tokens/s"]
    for r in results:
        assert r["ours"] > 0 and r["bare"] > 0 and r["loader"] > 0
        pairs = [b / o for o, b in zip(r["ours_epoch_s"], r["bare_epoch_s"], strict=True)]
        assert r["ours_over_bare"] in pairs  # the median pair
        assert len(r["ours_epoch_s"]) == len(r["bare_epoch_s"]) == 1
    table = out.with_suffix(".md").read_text()  # its table, written with the JSON
    assert all(f"| {r['case']} |" in table for r in results)


def test_committed_benchmark_tables_are_what_their_json_makes(tmp_path, monkeypatch):
    """benchmarks/results/<name>.md is rendered from <name>.json (benchmarks/tables.py), never
    typed: re-rendering the committed JSON gives the committed table."""
    import shutil

    names = ["throughput", "startup", "memory", "sampling", "ddp"]
    for name in names:
        shutil.copy(ROOT / "benchmarks" / "results" / f"{name}.json", tmp_path)
    assert run_script("tables.py", [str(tmp_path / f"{n}.json") for n in names], monkeypatch) == 0
    for name in names:
        committed = (ROOT / "benchmarks" / "results" / f"{name}.md").read_text()
        assert (tmp_path / f"{name}.md").read_text() == committed, name


def test_image_speed_benchmark_runs_each_case_at_its_recipes_batch_size(tmp_path, monkeypatch):
    out = tmp_path / "image_speed.json"
    assert run_script("image_speed.py", ["conv:model=conv_ae,model.width=8,data.batch_size=8",
                                         "mlp:model=mlp_ae,model.width=32,data.batch_size=4",
                                         "--images", "16", "--rounds", "2", "--train-images", "100",
                                         "--out", str(out)], monkeypatch) == 0
    conv, mlp = json.loads(out.read_text())["results"]
    assert (conv["batch_size"], mlp["batch_size"]) == (8, 4)
    assert conv["ratio"] == 1.0 and len(mlp["rounds"]) == 2
    # the figures are rounded: recomputed from the rounded rates they agree to that rounding
    assert abs(mlp["ratio"] - mlp["images_per_s"] / conv["images_per_s"]) < 2e-3
    assert abs(conv["train_s_per_epoch"] - 100 / conv["images_per_s"]) < 0.1
