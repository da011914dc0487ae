"""compare.py on real runs: swept keys become columns, runs sort by the metric."""

import csv
import shutil

from aelab.curves import read_scalars
from compare import main as compare_main
from tests.conftest import train_run


def test_compare_tables_runs_by_their_swept_values(tmp_path, capsys):
    sweep = tmp_path / "sweep"
    for latent in (4, 16):
        train_run(sweep / f"model.latent_dim={latent}", f"model.latent_dim={latent}",
                  "logger=tensorboard", "trainer.max_epochs=2")
    failed = sweep / "model.latent_dim=64"
    shutil.copytree(sweep / "model.latent_dim=4" / ".hydra", failed / ".hydra")
    (failed / "failure.txt").write_text("AelabError: out of memory\n")
    capsys.readouterr()  # drop what training printed

    assert compare_main([str(sweep), "--metric", "test/psnr", "--metric", "test/ssim"]) == 0
    printed = capsys.readouterr().out
    assert printed.splitlines()[0] == "| run | model.latent_dim | test/psnr | test/ssim | status |"
    with open(sweep / "summary.csv") as f:
        rows = list(csv.DictReader(f))
    assert [r["status"] for r in rows][-1] == "failed: AelabError: out of memory"
    done = [r for r in rows if r["status"] == "done"]
    assert len(done) == 2
    psnrs = [float(r["test/psnr"]) for r in done]
    assert psnrs == sorted(psnrs, reverse=True)  # PSNR: higher first
    assert (sweep / "summary.md").read_text().startswith("| run |")
    assert (sweep / "test_psnr_by_model.latent_dim.png").stat().st_size > 1000
    # Learning curves from the TensorBoard events: the loss and the sort metric per epoch.
    for tag in ("val_loss", "val_psnr"):
        assert (sweep / f"curves_{tag}.png").stat().st_size > 1000
    steps = [step for step, _ in read_scalars(sweep / "model.latent_dim=4", "val/psnr")]
    assert len(steps) == 2 and steps[0] < steps[1]  # one point per epoch


def test_learning_curves_take_the_latest_file_for_a_repeated_step(tmp_path):
    """A resumed run writes a second events file that repeats steps after the checkpoint."""
    from torch.utils.tensorboard import SummaryWriter

    first = SummaryWriter(tmp_path / "tensorboard", filename_suffix=".a")
    for step, value in [(0, 3.0), (1, 2.0), (2, 9.0)]:  # step 2 was lost with the crash
        first.add_scalar("val/loss", value, step)
    first.close()
    second = SummaryWriter(tmp_path / "tensorboard", filename_suffix=".b")
    for step, value in [(2, 1.5), (3, 1.0)]:
        second.add_scalar("val/loss", value, step)
    second.close()
    assert read_scalars(tmp_path, "val/loss") == [(0, 3.0), (1, 2.0), (2, 1.5), (3, 1.0)]
    assert read_scalars(tmp_path, "val/psnr") == []


def test_compare_says_when_there_are_no_runs(tmp_path, capsys):
    assert compare_main([str(tmp_path)]) == 2
    assert "no runs" in capsys.readouterr().err


def fake_run(folder, config: dict, metrics: dict | None):
    """A run folder as train.py leaves it, with given config values and metrics."""
    import json

    from omegaconf import OmegaConf

    (folder / ".hydra").mkdir(parents=True)
    (folder / ".hydra" / "config.yaml").write_text(OmegaConf.to_yaml(config))
    if metrics is not None:
        (folder / "metrics.json").write_text(json.dumps(metrics))


def test_runs_that_differ_only_in_seed_are_one_cell_with_a_confidence_interval(tmp_path, capsys):
    import math

    from scipy import stats

    values = {(16, 0): 18.0, (16, 1): 18.2, (16, 2): 18.1,     # far below the best
              (32, 0): 19.30, (32, 1): 19.45, (32, 2): 19.40,  # best
              (64, 0): 19.25, (64, 1): 19.50, (64, 2): 19.35}  # as good, within noise
    for (latent, seed), psnr in values.items():
        fake_run(tmp_path / f"latent{latent}_seed{seed}", {"seed": seed, "model": {
            "latent_dim": latent}}, {"test/psnr": psnr})
    fake_run(tmp_path / "latent64_seed3", {"seed": 3, "model": {"latent_dim": 64}}, None)
    capsys.readouterr()
    assert compare_main([str(tmp_path), "--metric", "test/psnr"]) == 0
    printed = capsys.readouterr().out
    assert printed.splitlines()[0] == ("| run | model.latent_dim | test/psnr | test/psnr ci95 | "
                                       "test/psnr sd | seeds | vs best | status |")
    with open(tmp_path / "summary.csv") as f:
        rows = {int(r["model.latent_dim"]): r for r in csv.DictReader(f)}
    best = [19.30, 19.45, 19.40]
    assert float(rows[32]["test/psnr"]) == sum(best) / 3
    sd = stats.tstd(best)
    assert math.isclose(float(rows[32]["test/psnr sd"]), sd)
    assert math.isclose(float(rows[32]["test/psnr ci95"]), stats.t.ppf(0.975, 2) * sd / math.sqrt(3))
    assert rows[32]["vs best"] == "best"
    assert rows[64]["vs best"].startswith("~ best (p=")  # not distinguishable
    assert rows[16]["vs best"].startswith("p=") and float(rows[16]["vs best"][2:]) < 0.05
    assert rows[64]["seeds"] == "0,1,2,3" and rows[64]["status"] == "3 of 4 done"
    assert list(rows) == [32, 64, 16]  # sorted by the mean, best first
    assert (tmp_path / "test_psnr_by_model.latent_dim.png").stat().st_size > 1000


def fake_pivot_run(folder, model: str, latent: int, data: str, psnr: float) -> None:
    """A finished run's record without the training: its saved config and metrics."""
    import json

    (folder / ".hydra").mkdir(parents=True)
    (folder / ".hydra" / "config.yaml").write_text(
        f"model:\n  latent_dim: {latent}\ndata:\n  path: {data}\n")
    (folder / ".hydra" / "hydra.yaml").write_text(
        f"hydra:\n  runtime:\n    choices:\n      model: {model}\n")
    (folder / "metrics.json").write_text(json.dumps({"test/psnr": psnr}))


def test_a_pivot_table_lays_runs_out_by_rows_and_columns_beside_a_baseline_row(tmp_path, capsys):
    values = {("a", "pca", 16): 17.5, ("a", "pca", 32): 19.0, ("a", "conv_ae", 16): 21.0,
              ("a", "conv_ae", 32): 22.25, ("b", "pca", 16): 30.0, ("b", "conv_ae", 16): 29.5}
    for (data, model, latent), psnr in values.items():
        fake_pivot_run(tmp_path / "runs" / data / model / str(latent), model, latent, data, psnr)
    out = tmp_path / "tables"
    assert compare_main([str(tmp_path / "runs"), "--metric", "test/psnr", "--rows", "data.path",
                         "--rows", "model", "--cols", "model.latent_dim", "--baseline",
                         "model=pca", "--out", str(out)]) == 0
    with open(out / "pivot_test_psnr.csv") as f:
        rows = {(r["data.path"], r["model"]): r for r in csv.DictReader(f)}
    assert rows["a", "conv_ae"]["model.latent_dim=32"] == "22.25 (+3.25)"
    assert rows["b", "conv_ae"]["model.latent_dim=16"] == "29.50 (-0.50)"  # below: negative
    assert rows["b", "conv_ae"]["model.latent_dim=32"] == ""               # no run: empty
    assert rows["a", "pca"]["model.latent_dim=16"] == "17.5"               # the baseline itself
    assert (out / "pivot_test_psnr.md").read_text().startswith("| data.path | model |")
    # Two runs in one cell are refused, naming the key that would tell them apart.
    fake_pivot_run(tmp_path / "runs" / "again", "pca", 16, "a", 17.0)
    capsys.readouterr()
    assert compare_main([str(tmp_path / "runs"), "--metric", "test/psnr", "--rows", "model",
                         "--cols", "model.latent_dim"]) == 2
    assert "add the key that tells them apart" in capsys.readouterr().err
