"""aelab's Optuna sweeper: one study shared by workers running at the same time, a killed
worker's trial marked failed, pruned trials recorded as pruned."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from compare import main as compare_main
from tests.conftest import ROOT
from tests.test_bad_input import run_entry
from tests.test_sweeps import ENV, TINY

optuna = pytest.importorskip("optuna", reason="the sweeps extra: pip install -e '.[sweeps]'")


def arguments(tmp_path, storage, overrides) -> list[str]:
    return ["-m", "sweep=optuna_latent_lr", *TINY, "threads=1",
            f"hydra.sweeper.storage={storage}", f"hydra.sweep.dir={tmp_path / 'sweep'}",
            f"paths.cache_dir={tmp_path / 'cache'}", *overrides]


def launch(tmp_path, storage, *overrides, wait=True):
    """A worker in a process of its own: for workers at the same time, or one to kill."""
    process = subprocess.Popen([sys.executable, "train.py", *arguments(tmp_path, storage, overrides)],
                               cwd=ROOT, env=ENV, text=True, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, start_new_session=True)
    if not wait:
        return process
    _, err = process.communicate(timeout=600)
    assert process.returncode == 0, err[-3000:]
    return process


def launch_here(tmp_path, storage, capsys, *overrides):
    """The same launch run as __main__ in this process (one interpreter start and torch import
    less), where no other worker runs beside it."""
    code, output = run_entry("train", arguments(tmp_path, storage, overrides), capsys)
    assert code == 0, output[-3000:]


def load(storage):
    from aelab.optuna_sweeper import make_storage

    return optuna.load_study(study_name="latent_lr", storage=make_storage(storage, None)[0])


def test_two_workers_share_one_study(tmp_path, capsys):
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    workers = [launch(tmp_path, storage, "hydra.sweeper.n_trials=2", wait=False) for _ in range(2)]
    for worker in workers:
        _, err = worker.communicate(timeout=600)
        assert worker.returncode == 0, err[-3000:]
    trials = load(storage).trials
    assert sorted(t.number for t in trials) == [0, 1, 2, 3]  # the sum, no number twice
    assert all(t.state.name == "COMPLETE" for t in trials)
    dirs = sorted(p.name for p in (tmp_path / "sweep").iterdir() if p.name.startswith("trial_"))
    assert dirs == ["trial_0", "trial_1", "trial_2", "trial_3"]
    # A third launch resumes the study: it adds its trials after the others.
    launch_here(tmp_path, storage, capsys, "hydra.sweeper.n_trials=1")
    assert len(load(storage).trials) == 5


def test_a_killed_workers_trial_is_marked_failed_and_the_next_launch_goes_on(tmp_path, capsys):
    storage = f"journal:{tmp_path / 'study.log'}"  # the shared-filesystem storage
    slow = launch(tmp_path, storage, "hydra.sweeper.n_trials=1", "trainer.max_epochs=500",
                  "trainer.limit_train_batches=4", wait=False)
    deadline = time.time() + 300
    while not (tmp_path / "sweep" / "trial_0" / "checkpoints").exists():
        assert time.time() < deadline and slow.poll() is None, slow.communicate()[1][-3000:]
        time.sleep(1)
    os.killpg(slow.pid, signal.SIGKILL)  # the worker and its job, mid-trial
    slow.wait()
    assert load(storage).trials[0].state.name == "RUNNING"
    time.sleep(3)
    launch_here(tmp_path, storage, capsys, "hydra.sweeper.n_trials=1", "hydra.sweeper.grace_s=2")
    states = [t.state.name for t in load(storage).trials]
    assert states == ["FAIL", "COMPLETE"]


def test_a_pruned_trial_is_recorded_as_pruned(tmp_path, capsys):
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    # A finished trial that reached a val/loss no run can (-1000: the PSNR loss is minus
    # the dB) at every epoch: the median pruner stops any new trial after its first epoch.
    study = optuna.create_study(study_name="latent_lr", storage=storage)
    from optuna.distributions import CategoricalDistribution

    study.add_trial(optuna.trial.create_trial(
        params={"model.latent_dim": 8}, distributions={"model.latent_dim":
                                                       CategoricalDistribution([8, 16, 32, 64, 128])},
        value=-1000.0, intermediate_values={0: -1000.0, 1: -1000.0, 2: -1000.0}))
    launch_here(tmp_path, storage, capsys, "hydra.sweeper.n_trials=1",
                "hydra.sweeper.pruner.name=median", "hydra.sweeper.pruner.n_startup_trials=1",
                "hydra.sweeper.pruner.n_warmup_steps=0", "trainer.max_epochs=3")
    trial = load(storage).trials[1]
    assert trial.state.name == "PRUNED" and list(trial.intermediate_values) == [0]
    metrics = json.loads((tmp_path / "sweep" / "trial_1" / "metrics.json").read_text())
    assert metrics["pruned"] == 1.0 and metrics["epoch"] == 0
    capsys.readouterr()
    assert compare_main([str(tmp_path / "sweep"), "--metric", "val/loss"]) == 0
    assert "| pruned |" in capsys.readouterr().out
