"""compare.py on real runs: swept keys become columns, runs sort by the metric."""

import csv
import json
import shutil

import pytest

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


def test_a_list_valued_key_is_a_pivot_row_of_its_own(tmp_path):
    """A list in the config (optimizer.no_decay) keys a row by its text."""
    from aelab.compare import pivot_table

    for name, spared in (("plain", []), ("spared", ["to_latent", "decoder.skip*"])):
        hand_run(tmp_path / name, {"optimizer": {"no_decay": spared}, "seed": 0},
                 {"test/ppl": 30.0 if spared else 31.0})
    header, table = pivot_table([tmp_path], "test/ppl", ["optimizer.no_decay"], "seed")
    assert header[0] == "optimizer.no_decay"
    assert sorted(row[:2] for row in table) == [["[]", 31.0],
                                                 ["[to_latent, decoder.skip*]", 30.0]]


# The study layer (compare.py --study): tiny run dirs written by hand, no training.

def hand_run(folder, config: dict, metrics: dict | None, overrides=(), choices=None, **files):
    """A run dir as train.py (and eval.py) leave it: config, overrides, group choices,
    metrics.json and any other JSON file (eval_metrics_self_ensemble={...})."""
    import json

    from omegaconf import OmegaConf

    (folder / ".hydra").mkdir(parents=True)
    (folder / ".hydra" / "config.yaml").write_text(OmegaConf.to_yaml(config))
    (folder / ".hydra" / "overrides.yaml").write_text(OmegaConf.to_yaml(list(overrides)))
    (folder / ".hydra" / "hydra.yaml").write_text(OmegaConf.to_yaml(
        {"hydra": {"runtime": {"choices": choices or {}}}}))
    if metrics is not None:
        (folder / "metrics.json").write_text(json.dumps(metrics))
    for name, content in files.items():
        (folder / f"{name}.json").write_text(json.dumps(content))


def read_csv(file):
    with open(file) as f:
        return list(csv.DictReader(f))


def test_a_runs_row_merges_eval_metrics_and_lists_its_overrides(tmp_path):
    from aelab.compare import flat_table, label_runs, markdown

    hand_run(tmp_path / "out" / "upscale4", {"seed": 0}, {
        "test/psnr": 34.0, "test/psnr_y": 36.1, "test/fid_x": 99.0, "epoch": 5},
        overrides=["experiment=restoration/upscale4", "data.path=photos", "seed=0"],
        eval_metrics={"test/fid_x": 46.0, "test/kid_x": 10.3, "epoch": 3},
        eval_metrics_self_ensemble={"test/psnr": 34.2, "test/psnr_y": 36.3, "epoch": 3})
    [row] = label_runs([(None, tmp_path / "out" / "upscale4")])
    metrics = row["metrics"]
    assert metrics["test/fid_x"] == 46.0 and metrics["test/kid_x"] == 10.3  # eval.py's re-test
    assert metrics["test/psnr"] == 34.0 and metrics["epoch"] == 5           # only test/ keys
    assert metrics["self_ensemble/test/psnr_y"] == 36.3                     # its own column
    assert row["label"] == "upscale4"  # a root that is one run: its name
    header, table = flat_table([row], ["overrides", "test/psnr_y", "self_ensemble/test/psnr_y"])
    assert header == ["label", "overrides", "test/psnr_y", "self_ensemble/test/psnr_y"]
    assert table[0][1] == "experiment=restoration/upscale4 data.path=photos seed=0"
    assert "| `experiment=restoration/upscale4 data.path=photos seed=0` |" in markdown(header, table)


def test_a_text_runs_row_holds_the_quality_of_its_samples(tmp_path):
    """generate.py task=sample writes generated/sample_metrics.json (a second draw:
    sample-1_metrics.json); the row carries both, the second draw under its own prefix."""
    from aelab.compare import label_runs

    run = tmp_path / "lm"
    hand_run(run, {"seed": 0}, {"test/ppl": 40.0, "epoch": 3})
    (run / "generated").mkdir()
    (run / "generated" / "sample_metrics.json").write_text(json.dumps(
        {"sample/distinct_2": 0.61, "real/distinct_2": 0.66, "sample/fd_ae": 12.5}))
    (run / "generated" / "sample-1_metrics.json").write_text(json.dumps({"sample/distinct_2": 0.7}))
    [row] = label_runs([(None, run)])
    assert row["metrics"]["sample/distinct_2"] == 0.61 and row["metrics"]["real/distinct_2"] == 0.66
    assert row["metrics"]["sample/fd_ae"] == 12.5 and row["metrics"]["test/ppl"] == 40.0
    assert row["metrics"]["sample-1/sample/distinct_2"] == 0.7


def image_zoo_runs(out):
    """Two models' code-size sweeps and a two-run screen, as image_zoo's run.sh leaves them."""
    psnr = {("pca", 16): 17.5, ("pca", 32): 19.0, ("conv_ae", 16): 21.0, ("conv_ae", 32): 22.25}
    for (model, size), value in psnr.items():
        hand_run(out / model / f"{size // 16 - 1}_model.latent_dim={size}",
                 {"model": {"latent_dim": size}, "data": {"batch_size": 128}},
                 {"test/psnr": value, "test/ssim": value / 30, "epoch": 5,
                  "time/mean_epoch_s": 10.0 if model == "pca" else 100.0},
                 overrides=[f"experiment=image_zoo/{model}", f"model.latent_dim={size}"],
                 choices={"model": model})
    for name, batch, val in (("b32", 32, 23.0), ("b16", 16, 23.2)):
        hand_run(out / "screen" / name, {"model": {"latent_dim": 32}, "data": {"batch_size": batch}},
                 {"val/psnr": val, "test/psnr": val + 0.02, "global_step": 8435 * 32 // batch},
                 overrides=["experiment=image_zoo/resnet", f"data.batch_size={batch}",
                            "data.path=../fashion"])


STUDY = """
tables:
  - name: code_sizes
    runs: {pca: pca, conv_ae: conv_ae}
    derived: {train_s: time/mean_epoch_s * epoch}
    metrics: [test/psnr, test/ssim, train_s]
    rows: [label]
    cols: model.latent_dim
    baseline: label=pca
    absolute: [train_s]
    col_title: "{} floats"
    keep_order: true
    titles: {label: model}
    formats: {test/psnr: .2f, test/ssim: .3f, train_s: .0f}
    by: []
    curves: []
  - name: screen
    runs: [screen]
    columns: [overrides, global_step, val/psnr, test/psnr]
    where: {data.batch_size: [16, 32]}
    sort: val/psnr
    baseline: label=b32
    absolute: [global_step]
    titles: {label: run, global_step: steps}
    formats: {global_step: ",.0f", val/psnr: .2f, test/psnr: .2f}
"""


def test_a_study_yaml_regenerates_every_table_it_declares(tmp_path, capsys):
    image_zoo_runs(tmp_path / "out")
    study = tmp_path / "experiments" / "zoo"
    study.mkdir(parents=True)
    (study / "study.yaml").write_text(STUDY)
    assert compare_main(["--study", str(study), "--out-root", str(tmp_path / "out")]) == 0
    results = study / "results"
    # The pivot: labelled rows in the order given, beside PCA's row, seconds without it.
    assert (results / "code_sizes" / "pivot_test_psnr.md").read_text().splitlines()[:4] == [
        "| model | 16 floats | 32 floats |", "|---|---|---|", "| pca | 17.50 | 19.00 |",
        "| conv_ae | 21.00 (+3.50) | 22.25 (+3.25) |"]
    seconds = read_csv(results / "code_sizes" / "pivot_train_s.csv")
    assert seconds[1] == {"label": "conv_ae", "16 floats": "500", "32 floats": "500"}
    assert (results / "code_sizes" / "summary.csv").exists()
    # The flat table: sorted by validation PSNR, overrides as code, the difference from b32.
    lines = (results / "screen.md").read_text().splitlines()
    assert lines[0] == "| run | overrides | steps | val/psnr | test/psnr |"
    assert lines[2] == ("| b16 | `experiment=image_zoo/resnet data.batch_size=16 data.path=../fashion`"
                        " | 16,870 | 23.20 (+0.20) | 23.22 (+0.20) |")
    assert read_csv(results / "screen.csv")[1]["val/psnr"] == "23.0"  # the baseline, as it is
    # One table only, into another folder.
    assert compare_main(["--study", str(study / "study.yaml"), "--out-root", str(tmp_path / "out"),
                         "--results", str(tmp_path / "elsewhere"), "--table", "screen"]) == 0
    assert sorted(p.name for p in (tmp_path / "elsewhere").iterdir()) == ["screen.csv", "screen.md"]


def test_labels_filters_totals_and_natural_order(tmp_path):
    from aelab.compare import derive, flat_table, keep_where, label_runs

    for trial, (latent, epoch, pruned) in enumerate([(8, 3, 0), (16, 1, 1), (8, 3, 0)] * 4):
        metrics = {"epoch": epoch, "time/mean_epoch_s": 10.0, "best/val/loss": 0.1 + trial / 100}
        hand_run(tmp_path / "optuna" / f"trial_{trial}",
                 {"model": {"latent_dim": latent}, "trainer": {"max_epochs": 3}},
                 {**metrics, **({"pruned": 1} if pruned else {})}, choices={"optimizer": "adam"})
    rows = label_runs([(None, tmp_path / "optuna")])
    derive(rows, {"run_s": "epochs_run * time/mean_epoch_s",
                  "saved_s": "(trainer.max_epochs - epochs_run) * time/mean_epoch_s"})
    header, table = flat_table(rows, ["status", "model.latent_dim", "epochs_run", "saved_s"],
                               sort_by="label", total=["saved_s"])
    assert [line[0] for line in table] == [f"trial_{i}" for i in range(12)] + ["total"]
    assert table[1] == ["trial_1", "pruned", 16, 2, 10.0]  # pruned after its 2nd epoch
    assert table[-1][-1] == 40.0                           # 4 pruned trials, 10 s each
    assert [r["label"] for r in label_runs([(None, tmp_path / "optuna")], "model.latent_dim")][:2] == [
        "8", "16"]
    assert {r["label"] for r in label_runs([("tpe", tmp_path / "optuna")], "root")} == {"tpe"}
    assert len(keep_where(rows, {"model.latent_dim": 16, "optimizer": "adam"})) == 4


@pytest.mark.parametrize("change,says", [
    (lambda s: s.replace("absolute:", "absolut:"),
     "table 'code_sizes': unknown key 'absolut' (known:"),
    (lambda s: s.replace("runs: [screen]", "runs: [screens]"),
     "table 'screen': run root OUT/screens does not exist"),
    (lambda s: s.replace("sort: val/psnr", "rows: [label]"),
     "table 'screen': unknown key 'rows'"),
    (lambda s: s.replace("train_s: time/mean_epoch_s * epoch", "train_s: time/mean_epoch_s ** ("),
     "table 'code_sizes': derived train_s:"),
    (lambda s: "table:\n" + s, "the study: unknown key 'table'"),
])
def test_a_bad_study_yaml_is_one_line_naming_the_mistake(tmp_path, capsys, change, says):
    image_zoo_runs(tmp_path / "out")
    (tmp_path / "study.yaml").write_text(change(STUDY))
    capsys.readouterr()
    assert compare_main(["--study", str(tmp_path), "--out-root", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"error: {tmp_path / 'study.yaml'}: ")
    assert says.replace("OUT", str(tmp_path / "out")) in err
    assert not (tmp_path / "results").exists()


def test_every_study_yaml_in_experiments_is_valid():
    from aelab.study import load_study
    from tests.conftest import ROOT

    studies = sorted(ROOT.glob("experiments/*/study.yaml"))
    assert {p.parent.name for p in studies} >= {
        "image_zoo", "restoration", "latent_depth_optimizer", "linear_floor", "fashion_mnist_conv_ae",
        "image_generation", "generation", "robustness"}
    for file in studies:
        assert load_study(file)["tables"]
