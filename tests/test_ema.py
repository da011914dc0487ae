"""callbacks=ema: an exponential moving average of the weights is what a run validates, saves
and tests, while training goes on from the raw weights."""

import math
from types import SimpleNamespace

import pytest
import torch
from omegaconf import OmegaConf

from aelab.callbacks.ema import EMA
from aelab.errors import AelabError
from aelab.run import evaluate
from tests.conftest import compose_config, train_run

EPOCHS = "trainer.max_epochs=2"
# The plain net with the MSE loss: a net trained from its random initialisation (the linear
# path would start it at PCA, which an average carrying the start would hide).
SCRATCH = ("model.linear_path=none", "model.loss=mse")


def test_the_average_is_saved_and_tested_and_the_raw_weights_train_on(tmp_path):
    plain = train_run(tmp_path / "plain", EPOCHS, *SCRATCH)
    ema = train_run(tmp_path / "ema", EPOCHS, *SCRATCH, "callbacks=ema", "callbacks.ema.decay=0.5")
    plain_last = torch.load(tmp_path / "plain/checkpoints/last.ckpt", weights_only=True)
    ema_last = torch.load(tmp_path / "ema/checkpoints/last.ckpt", weights_only=True)
    # Training is untouched: the raw weights are the plain run's, step for step.
    raw = ema_last["current_model_state"]
    assert all(torch.equal(raw[k], plain_last["state_dict"][k]) for k in raw)
    # The checkpoint's weights are the average: eval.py and generate.py load them.
    averaged = ema_last["state_dict"]
    assert any(not torch.equal(averaged[k], raw[k]) for k in raw if raw[k].is_floating_point())
    # The test stage scored the average (Lightning's own hook would load the raw weights
    # back when trainer.test reads the best checkpoint): eval.py of the saved checkpoint
    # gives the same numbers, and they are not the raw weights' numbers.
    again = evaluate(str(tmp_path / "ema"))
    assert again["test/loss"] == pytest.approx(ema["test/loss"], rel=1e-5)
    assert ema["test/loss"] != pytest.approx(plain["test/loss"], rel=1e-4)


def test_a_resumed_ema_run_ends_where_an_uninterrupted_one_does(tmp_path):
    # At decay 0.5 the warm-up, min(0.5, (1 + n) / (10 + n)), sets every one of the run's 6
    # updates: a resumed run that restarted its count at 0 would average differently.
    args = ("callbacks=ema", "callbacks.ema.decay=0.5")
    whole = train_run(tmp_path / "whole", EPOCHS, *args)
    train_run(tmp_path / "split", "trainer.max_epochs=1", *args)
    resumed = train_run(tmp_path / "split", EPOCHS, "ckpt_path=last", *args)
    assert resumed["test/loss"] == pytest.approx(whole["test/loss"], rel=1e-6)
    last = torch.load(tmp_path / "split/checkpoints/last.ckpt", weights_only=True)
    assert int(last["averaging_state"]["n_averaged"]) == last["global_step"] == 6


def ema(**options) -> EMA:
    defaults = OmegaConf.to_container(compose_config(["callbacks=ema"]).callbacks.ema)
    defaults.pop("_target_")
    return EMA(**{**defaults, **options})


def started(callback: EMA, run_steps: float) -> EMA:
    callback.on_train_start(SimpleNamespace(estimated_stepping_batches=run_steps), None)
    return callback


def test_the_span_is_a_fraction_of_the_run_and_a_decay_overrides_it():
    # 1 / (1 - decay) = span x the planned updates: the same share of 600 steps as of 60,000.
    for steps in (600, 60_000):
        callback = started(ema(span=0.05, warmup=False), steps)
        assert 1 / (1 - callback.target) == pytest.approx(0.05 * steps)
        assert callback.decay_at(10 * steps) == callback.target
    every_4 = started(ema(span=0.05, every_n_steps=4, start_step=200), 4200)
    assert 1 / (1 - every_4.target) == pytest.approx(0.05 * 1000)  # 1,000 updates planned
    assert started(ema(span=0.001), 600).target == 0  # less than an update: the last weights
    assert started(ema(decay=0.999), 600).target == 0.999  # whatever the run's length


def test_the_warm_up_keeps_the_first_weights_out_of_the_average():
    """The share of the first weights (the first update copies them) after n more updates
    is the product of the decays: TensorFlow's num_updates ramp makes it vanish."""
    def share_of_first(callback: EMA, updates: int) -> float:
        return math.prod(callback.decay_at(n) for n in range(1, updates + 1))

    ramped = started(ema(decay=0.999), 648)
    assert ramped.decay_at(1) == pytest.approx(2 / 11) and ramped.decay_at(10**6) == 0.999
    assert share_of_first(ramped, 647) < 1e-6
    fixed = started(ema(decay=0.999, warmup=False), 648)
    assert share_of_first(fixed, 647) == pytest.approx(0.999 ** 647)  # 0.52: the collapse


def test_a_span_needs_a_run_with_an_end_and_one_of_span_or_decay():
    with pytest.raises(AelabError, match="callbacks.ema.span is a fraction of the run"):
        started(ema(), math.inf)
    started(ema(decay=0.99), math.inf)  # a fixed decay needs no end
    with pytest.raises(AelabError, match="set callbacks.ema.span=.* or callbacks.ema.decay="):
        ema(span=None)


# A run of a few hundred optimizer steps (5 epochs of 60), where the old callback's decay of
# 0.999 from the first step left about three quarters of the average at the first weights.
SHORT_RUN = ("trainer.max_epochs=5", "trainer.limit_train_batches=null", "data.num_train=960",
             "data.image_size=16",  # 300 steps, at a quarter of the pixels
             *SCRATCH)


def test_on_a_short_run_the_average_scores_no_worse_than_the_raw_weights(tmp_path):
    """The issue-35 collapse: validation, the best checkpoint and the test all see the average,
    so an average that still carries the initialisation is what the run reports. Training is
    untouched by the callback, so the plain run's scores are the raw weights'."""
    raw = train_run(tmp_path / "plain", *SHORT_RUN)
    averaged = train_run(tmp_path / "ema", *SHORT_RUN, "callbacks=ema")
    assert averaged["global_step"] == raw["global_step"] == 300
    assert averaged["test/loss"] <= raw["test/loss"] * 1.02  # 2%: noise of 32 test images
