"""The entry points as a user runs them: real subprocesses (or the script as __main__ in the
test's process, where a process of its own adds nothing), exit codes, messages."""

import json
import os
import subprocess
import sys

from tests.conftest import ROOT
from tests.test_bad_input import run_entry

ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}


def run(script: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, script, *args], cwd=ROOT, env=ENV, text=True,
                          capture_output=True, timeout=300)


def test_train_then_eval_from_the_command_line(tmp_path, capsys):
    """train.py in a process of its own, as a user starts it; eval.py on its run as __main__
    in this process (its own start would add an interpreter and a torch import, not a check)."""
    run_dir = tmp_path / "run"
    done = run("train.py", "trainer=debug", "data.num_train=64", "data.num_val=32",
               "data.num_test=32", "data.batch_size=16", "data.image_size=16", "model.width=8",
               f"paths.cache_dir={tmp_path / 'cache'}", f"hydra.run.dir={run_dir}")
    assert done.returncode == 0, done.stderr[-2000:]
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert (run_dir / ".hydra" / "config.yaml").exists()

    code, output = run_entry("eval", [f"run_dir={run_dir}"], capsys)
    assert code == 0, output[-2000:]
    psnr_line = next(line for line in output.splitlines() if line.startswith("test/psnr"))
    assert abs(float(psnr_line.split()[1]) - metrics["test/psnr"]) < 1e-3
    assert not (run_dir / ".hydra" / "overrides.yaml").read_text().count("run_dir")


def test_unknown_model_lists_the_valid_names():
    done = run("train.py", "model=transformer_xl")
    assert done.returncode != 0
    assert "Available options in 'model'" in done.stderr and "conv_ae" in done.stderr


# The two below run the script as __main__ in this process (run_entry: its exit status and
# output, one interpreter start and torch import less), as eval.py above does.
def test_missing_data_path_is_one_clear_line(tmp_path, capsys):
    code, output = run_entry("train", ["data=images", f"hydra.run.dir={tmp_path}"], capsys)
    assert code == 2
    assert "data.path=<value>" in output
    assert "Traceback" not in output


def test_eval_of_a_folder_that_is_not_a_run(tmp_path, capsys):
    code, output = run_entry("eval", [f"run_dir={tmp_path}"], capsys)
    assert code == 2
    assert "is not a training run dir" in output
    assert "Traceback" not in output


def test_sweep_job_names_keep_only_the_swept_keys():
    from aelab.cli import name_jobs_by_swept_keys

    argv = ["train.py", "-m", "model=lstm_vae", "data.path=/data/wordnet", "+trainer.profiler=simple",
            "model.latent_dim=16,32", "optimizer=adam,sgd", "model.width=range(8,32,8)"]
    extended = name_jobs_by_swept_keys(argv)
    assert extended[:-1] == argv
    excluded = extended[-1].split("=", 1)[1]
    for fixed in ("'model'", "'data.path'", "'trainer.profiler'", "'ckpt_path'"):
        assert fixed in excluded
    for swept in ("latent_dim", "'optimizer'", "width"):
        assert swept not in excluded
    # Nothing fixed, or the user chose the excluded keys: argv stays as it is.
    assert name_jobs_by_swept_keys(["train.py", "-m", "model.latent_dim=1,2"]) == [
        "train.py", "-m", "model.latent_dim=1,2"]
    own = ["train.py", "model=mlp_ae", "hydra.job.config.override_dirname.exclude_keys=[seed]"]
    assert name_jobs_by_swept_keys(own) == own


def test_relative_data_path_is_found_from_the_launch_dir(tmp_path, monkeypatch, make_cfg):
    """eval.py / generate.py / the notebook may run elsewhere than train.py did."""
    from omegaconf import OmegaConf

    from aelab.run import load_run_config

    launch, run = tmp_path / "repo", tmp_path / "repo" / "outputs" / "run"
    (launch / "data" / "fmnist").mkdir(parents=True)
    (run / ".hydra").mkdir(parents=True)
    cfg = make_cfg("data=fashion_mnist", "data.path=data/fmnist", fast=False)
    (run / ".hydra" / "config.yaml").write_text(OmegaConf.to_yaml(cfg))
    (run / ".hydra" / "hydra.yaml").write_text(f"hydra:\n  runtime:\n    cwd: {launch}\n")
    monkeypatch.chdir(tmp_path)  # not the launch dir
    assert load_run_config(run).data.path == str(launch / "data" / "fmnist")
    cfg.data.path = "zalando-datasets/fashion_mnist"  # a hub id is left alone
    (run / ".hydra" / "config.yaml").write_text(OmegaConf.to_yaml(cfg))
    assert load_run_config(run).data.path == "zalando-datasets/fashion_mnist"
