"""callbacks=ema: an exponential moving average of the weights is what a run validates, saves
and tests, while training goes on from the raw weights."""

import pytest
import torch

from aelab.run import evaluate
from tests.conftest import train_run

EPOCHS = "trainer.max_epochs=2"


def test_the_average_is_saved_and_tested_and_the_raw_weights_train_on(tmp_path):
    plain = train_run(tmp_path / "plain", EPOCHS)
    ema = train_run(tmp_path / "ema", EPOCHS, "callbacks=ema", "callbacks.ema.decay=0.5")
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
    args = ("callbacks=ema", "callbacks.ema.decay=0.5")
    whole = train_run(tmp_path / "whole", EPOCHS, *args)
    train_run(tmp_path / "split", "trainer.max_epochs=1", *args)
    resumed = train_run(tmp_path / "split", EPOCHS, "ckpt_path=last", *args)
    assert resumed["test/loss"] == pytest.approx(whole["test/loss"], rel=1e-6)
