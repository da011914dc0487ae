"""Multiruns end to end: parallel jobs, a failing job, resuming a sweep, Optuna, submitit."""

import importlib.util
import json
import os
import subprocess
import sys

import pytest

from compare import main as compare_main
from tests.conftest import ROOT
from tests.test_bad_input import run_entry

ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
TINY = ["trainer=debug", "trainer.detect_anomaly=false", "data.num_train=64", "data.num_val=32",
        "data.num_test=32", "data.batch_size=16", "model.width=8", "logger=csv",
        "callbacks.progress_bar=null", "data.image_size=16"]
IMAGE_ONLY = ("data.image_size=",)  # left out for a text model's data


def sweep_args(tmp_path, overrides, text=False) -> list[str]:
    tiny = [o for o in TINY if not (text and o.startswith(IMAGE_ONLY))]
    return ["-m", *tiny, *overrides, f"hydra.sweep.dir={tmp_path / 'sweep'}",
            f"paths.cache_dir={tmp_path / 'cache'}"]


def multirun(tmp_path, *overrides, text=False):
    """`python train.py -m ...` in a process of its own: for launchers that start processes."""
    done = subprocess.run([sys.executable, "train.py", *sweep_args(tmp_path, overrides, text)],
                          cwd=ROOT, env=ENV, text=True, capture_output=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return tmp_path / "sweep"


def multirun_here(tmp_path, capsys, *overrides, text=False):
    """The same command run as __main__ in this process (one interpreter start and torch
    import less): for sweeps whose jobs run one after the other in the launching process."""
    code, output = run_entry("train", sweep_args(tmp_path, overrides, text), capsys)
    assert code == 0, output[-3000:]
    return tmp_path / "sweep"


def jobs(sweep):
    return sorted(p for p in sweep.iterdir() if p.is_dir())


def needs(plugin: str):
    return pytest.mark.skipif(importlib.util.find_spec(plugin) is None,
                              reason=f"{plugin} not installed: pip install -e '.[sweeps]'")


@needs("hydra_plugins.hydra_joblib_launcher")
def test_parallel_sweep_survives_a_failing_job_and_resumes(tmp_path, capsys):
    # depth 9 cannot fit 16-px images: that job fails, the other, beside it, must finish.
    swept = ["hydra/launcher=joblib", "hydra.launcher.n_jobs=2", "model.latent_dim=8",
             "model.depth=2,9"]
    sweep = multirun(tmp_path, *swept)
    folders = jobs(sweep)
    assert [f.name for f in folders] == ["0_model.depth=2", "1_model.depth=9"]
    finished = [f for f in folders if (f / "metrics.json").exists()]
    failed = [f for f in folders if (f / "failure.txt").exists()]
    assert finished == folders[:1] and failed == folders[1:]
    assert "does not fit 16x16 images" in (failed[0] / "failure.txt").read_text()

    capsys.readouterr()
    assert compare_main([str(sweep), "--metric", "test/psnr"]) == 0
    table = capsys.readouterr().out
    assert table.count("| done |") == 1 and table.count("failed: AelabError") == 1
    assert (sweep / "summary.csv").exists()

    # Resuming the sweep does not run the finished job again (resumed here, in this process,
    # with the basic launcher: the same job folders, without starting three interpreters).
    stamps = {f: (f / "metrics.json").stat().st_mtime_ns for f in finished}
    multirun_here(tmp_path, capsys, *swept[2:], "ckpt_path=last")
    assert {f: (f / "metrics.json").stat().st_mtime_ns for f in finished} == stamps
    assert (failed[0] / "failure.txt").exists()  # the failed job is still recorded as failed


def test_grid_preset_sweeps_a_text_model_and_names_jobs_by_swept_keys(tmp_path, capsys):
    # The preset's grid, narrowed on the command line: latent size x optimizer for lstm_vae.
    sweep = multirun_here(tmp_path, capsys, "sweep=latent_depth_optimizer", "model=lstm_vae",
                          "data=toy_text", "model.embed_dim=8", "model.iw_samples=4",
                          "model.latent_dim=4,8", "model.depth=1", "optimizer=adam,sgd", text=True)
    names = [f.name for f in jobs(sweep)]
    # Fixed settings (model, data, model.depth=1, ...) stay out of the folder names.
    assert names == ["0_model.latent_dim=4,optimizer=adam", "1_model.latent_dim=4,optimizer=sgd",
                     "2_model.latent_dim=8,optimizer=adam", "3_model.latent_dim=8,optimizer=sgd"]
    assert all(json.loads((f / "metrics.json").read_text())["global_step"] > 0 for f in jobs(sweep))
    capsys.readouterr()
    assert compare_main([str(sweep), "--metric", "test/ppl"]) == 0
    table = capsys.readouterr().out
    assert table.splitlines()[0] == "| run | model.latent_dim | optimizer | test/ppl | status |"
    assert table.count("| done |") == 4


@needs("optuna")
def test_optuna_preset_optimises_the_returned_metric(tmp_path, capsys):
    sweep = multirun_here(tmp_path, capsys, "sweep=optuna_latent_lr", "hydra.sweeper.n_trials=2")
    assert len(jobs(sweep)) == 2
    best = (sweep / "optimization_results.yaml").read_text()
    assert "best_value" in best


@needs("hydra_plugins.hydra_submitit_launcher")
def test_submitit_local_executor_runs_the_jobs(tmp_path):
    sweep = multirun(tmp_path, "hydra/launcher=submitit_local", "hydra.launcher.timeout_min=5",
                     "model.latent_dim=8,16")
    assert sum((f / "metrics.json").exists() for f in jobs(sweep)) == 2

