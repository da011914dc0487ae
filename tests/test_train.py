"""A short real training run: metrics.json, checkpoints, TensorBoard, eval, resume."""

import json
import math

import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from aelab.errors import AelabError
from aelab.run import evaluate, train

IMAGE_METRICS = {"test/mse", "test/psnr", "test/ssim", "val/loss", "epoch", "global_step"}
# The tests that read finished_run: one xdist group, so one worker trains it, once.
SHARED = pytest.mark.xdist_group("train_finished_run")


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    """One short shapes run (2 epochs), shared by the tests that only read its outputs."""
    from tests.conftest import FAST, compose_config

    tmp = tmp_path_factory.mktemp("shared")
    run = tmp / "run"
    cfg = compose_config([f"paths.output_dir={run}", f"paths.cache_dir={tmp / 'cache'}",
                          *FAST, "trainer.max_epochs=2", "hydra.job.name=train"])
    best = train(cfg)
    # eval.py reads the config Hydra saved; write it as a real run would.
    (run / ".hydra").mkdir(exist_ok=True)
    (run / ".hydra" / "config.yaml").write_text(__import__("omegaconf").OmegaConf.to_yaml(cfg))
    return run, best


@SHARED
def test_run_writes_metrics_checkpoints_and_events(finished_run):
    run, best = finished_run
    metrics = json.loads((run / "metrics.json").read_text())
    assert IMAGE_METRICS <= set(metrics)
    assert metrics["epoch"] == 2 and metrics["global_step"] == 6
    assert 0 < metrics["test/ssim"] <= 1 and metrics["test/psnr"] > 5
    assert best == pytest.approx(metrics["best/val/loss"])
    assert (run / "checkpoints" / "last.ckpt").exists() and (run / "checkpoints" / "best.ckpt").exists()


@SHARED
def test_checkpoint_is_plain_data_with_the_config(finished_run):
    run, _ = finished_run
    ckpt = torch.load(run / "checkpoints" / "best.ckpt", weights_only=True)
    assert ckpt["config"]["model"]["latent_dim"] == 32
    # conv_ae's own encoder, inside the linear path (net.linear: PCA's fit, kept too)
    assert any(k.startswith("net.net.encoder") for k in ckpt["state_dict"])
    assert "net.linear.pca.components" in ckpt["state_dict"]


@SHARED
def test_tensorboard_has_scalars_hparams_with_metrics_and_images(finished_run):
    run, _ = finished_run
    events = EventAccumulator(str(run / "tensorboard"), size_guidance={"images": 0})
    events.Reload()
    tags = events.Tags()
    assert {"train/loss_step", "val/loss", "val/psnr", "test/psnr"} <= set(tags["scalars"])
    assert "val/reconstructions" in tags["images"]
    from tensorboard.plugins.hparams import plugin_data_pb2

    content = events.PluginTagToContent("hparams")
    experiment = plugin_data_pb2.HParamsPluginData.FromString(content["_hparams_/experiment"])
    hparam_names = {h.name for h in experiment.experiment.hparam_infos}
    metric_names = {m.name.tag for m in experiment.experiment.metric_infos}
    assert {"model.latent_dim", "optimizer.lr", "seed"} <= hparam_names
    assert {"test/psnr", "test/ssim"} <= metric_names


@SHARED
def test_eval_reproduces_the_test_metrics(finished_run):
    run, _ = finished_run
    trained = json.loads((run / "metrics.json").read_text())
    evaluated = evaluate(str(run))
    for key in ("test/psnr", "test/ssim", "test/mse"):
        assert evaluated[key] == pytest.approx(trained[key], abs=1e-4)
    assert json.loads((run / "eval_metrics.json").read_text())["test/psnr"] == pytest.approx(
        trained["test/psnr"], abs=1e-4)


def test_resume_from_last_continues_the_run(make_cfg, tmp_path):
    run = tmp_path / "resumable"
    train(make_cfg(run_dir=run))
    first = json.loads((run / "metrics.json").read_text())
    train(make_cfg("trainer.max_epochs=2", "ckpt_path=last", run_dir=run))
    resumed = json.loads((run / "metrics.json").read_text())
    # One more epoch on top of the first: the step count continues, not restarts.
    assert first["global_step"] == 3 and resumed["global_step"] == 6
    assert resumed["epoch"] == 2


def test_resuming_a_run_that_reached_max_steps_does_not_run_it_again(make_cfg, tmp_path):
    run = tmp_path / "stepped"
    steps = ("trainer.max_epochs=3", "+trainer.max_steps=4")  # ends mid-epoch 2, at step 4
    train(make_cfg(*steps, run_dir=run))
    written = (run / "metrics.json").stat().st_mtime_ns
    train(make_cfg(*steps, "ckpt_path=last", run_dir=run))
    assert (run / "metrics.json").stat().st_mtime_ns == written  # finished: skipped
    train(make_cfg("trainer.max_epochs=3", "+trainer.max_steps=5", "ckpt_path=last", run_dir=run))
    assert json.loads((run / "metrics.json").read_text())["global_step"] == 5  # more steps: goes on


@pytest.mark.parametrize("model", ["mlp_ae", "conv_ae"])
@pytest.mark.parametrize("size", [28, 32])
def test_models_train_on_images_of_any_size(make_cfg, model, size):
    cfg = make_cfg(f"model={model}", f"data.image_size={size}", "logger=csv",
                   "~callbacks.reconstructions", "model.width=16" if model == "mlp_ae" else "seed=1")
    assert math.isfinite(train(cfg))  # the monitored val/loss (negative with the PSNR loss)


def test_schedulers_and_optimizers_run(make_cfg, tmp_path):
    for extra in (["scheduler=cosine", "optimizer=sgd"], ["scheduler=plateau", "optimizer=adamw"]):
        assert math.isfinite(train(make_cfg(*extra, "logger=csv",
                                            run_dir=tmp_path / extra[0].replace("=", "-"))))


def test_warmup_schedule_rises_then_decays_every_step(make_cfg, tmp_path):
    import csv

    # 2 epochs of 3 steps: the rate climbs over the first half, then falls along a cosine
    # (towards 0 at the step after the last).
    cfg = make_cfg("scheduler=warmup", "scheduler.warmup=0.5", "optimizer.lr=0.01",
                   "trainer.max_epochs=2", "logger=csv")
    assert math.isfinite(train(cfg))  # the monitored val/loss (negative with the PSNR loss)
    rows = list(csv.DictReader(next((tmp_path / "run").rglob("metrics.csv")).open()))
    rates = [float(r["lr-Adam"]) for r in rows if r.get("lr-Adam")]
    assert rates == pytest.approx([0.01 / 3, 0.02 / 3, 0.01, 0.01, 0.0075, 0.0025])


def test_a_run_that_stops_mid_epoch_at_max_steps_validates_its_last_step(make_cfg, tmp_path):
    # 3 batches per epoch, 4 steps: the second epoch stops after one batch. Its weights are
    # validated (Lightning alone validates only at epoch ends), so best.ckpt can hold them.
    cfg = make_cfg("trainer.max_epochs=3", "+trainer.max_steps=4", "logger=csv")
    train(cfg)
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["global_step"] == 4
    import csv
    rows = list(csv.DictReader(next((tmp_path / "run").rglob("metrics.csv")).open()))
    assert [int(r["step"]) for r in rows if r.get("val/loss")] == [2, 3]
    best = torch.load(tmp_path / "run" / "checkpoints" / "best.ckpt", weights_only=True)
    last_val = [float(r["val/loss"]) for r in rows if r.get("val/loss")]
    assert best["global_step"] == (4 if last_val[1] < last_val[0] else 3)


def test_warmup_schedule_factors():
    from aelab.models.optim import WarmupDecay

    def schedule(**options):
        optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
        return WarmupDecay(optimizer, run_steps=100, **options)

    linear = schedule(warmup=0.1, decay="linear", final=0.1)
    assert [linear.factor(s) for s in (0, 4, 9, 10, 55, 100)] == pytest.approx(
        [0.1, 0.5, 1.0, 1.0, 0.55, 0.1])
    assert schedule(warmup=0.0, decay="constant", final=0.0).factor(50) == 1.0
    # horizon 1.5: a cosine over 1.5x the run, cut at its end (CosineAnnealingLR's T_max = 6
    # epochs on a 4-epoch run, in fractions): a quarter of the rate left at the last step
    long = schedule(warmup=0.0, decay="cosine", final=0.0, horizon=1.5)
    assert [long.factor(s) for s in (0, 75, 100)] == pytest.approx(
        [1.0, 0.5 * (1 + math.cos(math.pi / 2)), 0.25])
    with pytest.raises(AelabError, match="horizon"):
        schedule(warmup=0.0, decay="cosine", final=0.0, horizon=0.5)
    with pytest.raises(AelabError, match="no end"):
        WarmupDecay(torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0),
                    run_steps=float("inf"), warmup=0.1, decay="cosine", final=0.0)


def test_weight_decay_span_means_the_same_at_any_run_length():
    """optimizer.weight_decay_span: AdamW's decay timescale as a fraction of the run. With no
    gradient, a weight decays to 1/e of itself after that fraction of the run, whether the run
    is 100 steps or 2,000 (a fixed weight_decay would decay it 20x as far on the longer run)."""
    import functools

    from aelab.models.optim import AdamW, configure

    def shrink_after(fraction: float, run_steps: int, **options) -> tuple[float, float]:
        weight = torch.nn.Parameter(torch.ones(1))
        opt = configure([("weight", weight)], functools.partial(AdamW, lr=1e-2, **options), None,
                        "val/loss", lambda: float(run_steps))["optimizer"]
        for _ in range(round(fraction * run_steps)):
            weight.grad = torch.zeros(1)
            opt.step()
        return weight.item(), opt.param_groups[0]["weight_decay"]

    for steps in (100, 2000):
        left, decay = shrink_after(0.25, steps, weight_decay_span=0.25)
        assert decay == pytest.approx(1 / (1e-2 * 0.25 * steps))
        per_step = 1 - 1 / (0.25 * steps)  # AdamW's shrink factor per step, lr x weight_decay
        assert left == pytest.approx(per_step ** (0.25 * steps), rel=1e-4)
        assert left == pytest.approx(math.exp(-1), rel=0.03)
    # unset, the weight decay is the one given, whatever the length
    assert shrink_after(0.0, 2000, weight_decay=0.3)[1] == 0.3
    with pytest.raises(AelabError, match="no end"):
        AdamW([torch.nn.Parameter(torch.ones(1))], run_steps=float("inf"), weight_decay_span=0.5)


def test_no_decay_spares_the_named_parameters_and_names_a_pattern_that_matches_none():
    """optimizer.no_decay: glob patterns of parameter names that AdamW's decay leaves alone
    (the sentence VAE spares its code's path: under the KL's free-bits floor the KL exerts no
    pull, and the decay drew the KL under the floor). With no gradient, a spared weight stays where it is
    and the others shrink; a pattern that names no parameter is refused by name."""
    import functools

    from aelab.models.optim import AdamW, configure

    model = torch.nn.Sequential()
    model.add_module("encoder", torch.nn.Linear(2, 2))
    model.add_module("to_latent", torch.nn.Linear(2, 2))
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    opt = configure(model.named_parameters(),
                    functools.partial(AdamW, lr=1e-2, weight_decay=1.0, no_decay=["to_latent"]),
                    None, "val/loss", lambda: 100.0)["optimizer"]
    for _ in range(10):
        for p in model.parameters():
            p.grad = torch.zeros_like(p)
        opt.step()
    for name, p in model.named_parameters():
        shrunk = before[name] * (1 - 1e-2) ** 10
        assert torch.allclose(p, before[name] if name.startswith("to_latent") else shrunk), name
    with pytest.raises(AelabError, match=r"\['to_lat'\] name no parameter"):
        configure(model.named_parameters(), functools.partial(AdamW, no_decay=["to_lat"]),
                  None, "val/loss", lambda: 100.0)
    # optimizers that take bare parameters still get them
    sgd = configure(model.named_parameters(), functools.partial(torch.optim.SGD, lr=0.1), None,
                    "val/loss", lambda: 100.0)["optimizer"]
    assert len(sgd.param_groups[0]["params"]) == 4


def test_startup_of_a_later_job_in_the_same_process_counts_from_its_own_start():
    import time

    from aelab.callbacks import timing

    timing.run_started()
    timing.run_started()  # a second job in this process (a sweep under the basic launcher)
    time.sleep(0.05)
    assert 0.05 <= timing.startup_seconds() < 5
