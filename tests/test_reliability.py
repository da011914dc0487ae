"""Runs survive interruption, checkpoints are safe to load, and faults are named."""

import os
import signal

import pytest
import torch

from aelab.checkpoint import load_checkpoint
from aelab.errors import AelabError
from aelab.models.image.autoencoder import ImageAutoencoder
from aelab.run import evaluate
from tests.conftest import train_run


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """The runs compared here agree to the last bit only at the same thread count, and the
    forked child of run_killed must use one (under pytest-xdist every test does already)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def comparable(metrics: dict) -> dict:
    """Everything but wall-clock timings, which differ between any two runs."""
    return {k: v for k, v in metrics.items() if not k.startswith("time/")}


def test_same_seed_gives_the_same_metrics(tmp_path):
    first = train_run(tmp_path / "a", "trainer.max_epochs=2", "corruption=gaussian")
    second = train_run(tmp_path / "b", "trainer.max_epochs=2", "corruption=gaussian")
    assert comparable(first) == comparable(second)
    other = train_run(tmp_path / "c", "trainer.max_epochs=2", "corruption=gaussian", "seed=1")
    assert comparable(other) != comparable(first)


def test_resume_gives_the_same_result_as_an_uninterrupted_run(tmp_path):
    # The corruption draws noise and the VAE samples: both need the restored RNG streams.
    # The KL warm-up in steps: one set as a fraction of the run (the default) follows the
    # run's planned length, and extending a run (max_epochs 1 -> 2) stretches it.
    extra = ["model=conv_vae", "model.iw_samples=4", "corruption=gaussian",
             "model.kl_anneal_steps=4"]
    whole = train_run(tmp_path / "whole", "trainer.max_epochs=2", *extra)
    train_run(tmp_path / "split", "trainer.max_epochs=1", *extra)
    resumed = train_run(tmp_path / "split", "trainer.max_epochs=2", "ckpt_path=last", *extra)
    assert comparable(resumed) == comparable(whole)


def test_a_run_with_max_steps_resumes_from_its_epoch_end_checkpoint(tmp_path):
    # Under trainer.max_steps Lightning restarts "on the epoch end" and ends that epoch again
    # without starting it (the epoch timer used to crash there); it also counts that epoch
    # a second time, so such a resume needs one epoch more than planned (README, "Resume").
    extra = ["+trainer.max_steps=100"]
    first = train_run(tmp_path / "run", "trainer.max_epochs=1", *extra)
    resumed = train_run(tmp_path / "run", "trainer.max_epochs=3", "ckpt_path=last", *extra)
    assert first["global_step"] == 3 and resumed["global_step"] > 3


# -- kill -9 at any moment: the resumed run's metrics.json is the uninterrupted one's ----------
KILLED = ["trainer.max_epochs=2", "corruption=gaussian"]  # noise: the RNG streams must resume too


def in_the_second_epoch(trainer, batch_idx) -> bool:
    """After the second epoch's second batch (of 3): its first batches trained, not saved."""
    return trainer.current_epoch == 1 and batch_idx == 1


def kill_at(point: str) -> None:
    """In a forked child: SIGKILL this process at `point` of its run (no handler, no cleanup)."""
    import aelab.files
    import aelab.run
    from aelab.callbacks.safety import ValidateAtMaxSteps

    def die(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGKILL)

    if point == "mid-epoch":
        def mid_epoch(self, trainer, pl_module, outputs, batch, batch_idx):
            if in_the_second_epoch(trainer, batch_idx):
                die()

        ValidateAtMaxSteps.on_train_batch_end = mid_epoch
    elif point == "saving the last checkpoint":  # the last epoch's last.ckpt written, not renamed
        real, last_saves = os.replace, []

        def replace(src, dst, *args, **kwargs):
            if str(dst).endswith("last.ckpt"):
                last_saves.append(dst)
                if len(last_saves) == 2:  # the second epoch's
                    die()
            return real(src, dst, *args, **kwargs)

        aelab.files.os.replace = replace
    elif point == "after the last checkpoint":  # the fit is over; its metrics not yet written
        aelab.run.fit_metrics = die
    elif point == "in the test stage":
        ValidateAtMaxSteps.on_test_batch_end = lambda self, *a: die()


def run_killed(run_dir, point: str) -> None:
    """`train_run(run_dir, *KILLED)` in a forked child (fast: nothing to import again), which
    kills itself with SIGKILL at `point`."""
    import multiprocessing

    def child():
        torch.set_num_threads(1)  # a forked process must not use the parent's thread pool
        kill_at(point)
        train_run(run_dir, *KILLED)

    process = multiprocessing.get_context("fork").Process(target=child)
    process.start()
    process.join(timeout=120)
    assert process.exitcode == -signal.SIGKILL, f"the run was not killed {point}"


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    return train_run(tmp_path_factory.mktemp("uninterrupted") / "run", *KILLED)


@pytest.mark.xdist_group("killed_at_a_point")  # one worker, one uninterrupted run
@pytest.mark.parametrize("point", ["mid-epoch", "saving the last checkpoint",
                                   "after the last checkpoint", "in the test stage"])
def test_a_run_killed_at_any_point_resumes_to_the_same_metrics(point, uninterrupted, tmp_path):
    """Mid-epoch, the resume trains that epoch again from its start (the RNG streams of the
    noise included). After the last checkpoint a resume has nothing left to train: the train /
    val metrics of metrics.json come from the checkpoint (they used to be lost, or read from a
    file written after it). SIGTERM: test_sigterm_mid_epoch_stops_loudly_and_resumes."""
    run = tmp_path / "run"
    run_killed(run, point)
    assert not (run / "metrics.json").exists()
    if point == "mid-epoch":  # the end-of-epoch-1 state survived the kill
        assert load_checkpoint(run / "checkpoints" / "last.ckpt")["epoch"] == 0
    resumed = train_run(run, *KILLED, "ckpt_path=last")
    assert comparable(resumed) == comparable(uninterrupted)
    assert not list((run / "checkpoints").glob(".*.tmp"))  # a killed save's file is cleared


@pytest.mark.xdist_group("killed_at_a_point")
def test_sigterm_mid_epoch_stops_loudly_and_resumes(uninterrupted, tmp_path, capsys, monkeypatch):
    """train.py as a user runs it, sent SIGTERM (a cluster's time limit, `kill`) mid-epoch:
    exit status 143, the reason and the command to resume in the run dir and on stderr, no
    metrics.json; the resumed run ends where the uninterrupted one does."""
    from aelab.callbacks.safety import ValidateAtMaxSteps
    from tests.conftest import FAST
    from tests.test_bad_input import run_entry

    def terminated(self, trainer, pl_module, outputs, batch, batch_idx):
        if in_the_second_epoch(trainer, batch_idx):
            os.kill(os.getpid(), signal.SIGTERM)

    monkeypatch.setattr(ValidateAtMaxSteps, "on_train_batch_end", terminated)
    run = tmp_path / "run"
    code, output = run_entry("train", [*FAST, "logger=csv", *KILLED, f"hydra.run.dir={run}",
                                       f"paths.cache_dir={tmp_path / 'cache'}"], capsys)
    monkeypatch.undo()
    assert code == 128 + signal.SIGTERM, output[-2000:]
    assert "Traceback" not in output, output[-3000:]
    assert "interrupted by SIGTERM" in (run / "failure.txt").read_text()
    assert "ckpt_path=last" in output
    assert not (run / "metrics.json").exists()
    assert load_checkpoint(run / "checkpoints" / "last.ckpt")["epoch"] == 0
    resumed = train_run(run, *KILLED, "ckpt_path=last")
    assert comparable(resumed) == comparable(uninterrupted)
    assert not (run / "failure.txt").exists()


def test_last_ckpt_is_every_epochs_end_even_one_that_did_not_improve(tmp_path):
    """Lightning 2.6 writes save_last's last.ckpt only with a new best; here the second epoch
    is not one, and last.ckpt used to stay at the first. (monitor.mode=max on a loss that falls
    from the first epoch to the second: only the first can be the best, whatever the net.)"""
    metrics = train_run(tmp_path / "run", "trainer.max_epochs=2", "monitor.mode=max")
    best = load_checkpoint(tmp_path / "run" / "checkpoints" / "best.ckpt")
    last = load_checkpoint(tmp_path / "run" / "checkpoints" / "last.ckpt")
    assert best["fit_metrics"]["val/loss"] > metrics["val/loss"]  # the loss fell...
    assert best["global_step"] < metrics["global_step"]  # ...so no new best at the end
    assert last["global_step"] == metrics["global_step"] == 6
    assert last["fit_metrics"]["val/loss"] == metrics["val/loss"]


class Exploit:
    """Unpickling this would run a shell command."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_a_checkpoint_that_would_run_code_is_refused(tmp_path):
    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.ckpt"
    torch.save({"state_dict": {}, "payload": Exploit(marker)}, evil)
    with pytest.raises(AelabError, match="refusing to load .*could run code"):
        load_checkpoint(evil)
    assert not marker.exists()


def test_eval_and_resume_refuse_an_unsafe_checkpoint(tmp_path):
    run = tmp_path / "run"
    train_run(run)
    marker = tmp_path / "pwned"
    for name in ("best.ckpt", "last.ckpt"):
        torch.save({"state_dict": {}, "payload": Exploit(marker)}, run / "checkpoints" / name)
    with pytest.raises(AelabError, match="refusing to load"):
        evaluate(str(run))
    with pytest.raises(AelabError, match="refusing to load"):
        train_run(run, "ckpt_path=last", "trainer.max_epochs=2")
    assert not marker.exists()


def test_a_truncated_checkpoint_is_named(tmp_path):
    broken = tmp_path / "broken.ckpt"
    torch.save({"state_dict": {"w": torch.zeros(1000)}}, broken)
    broken.write_bytes(broken.read_bytes()[:200])
    with pytest.raises(AelabError, match="not a readable checkpoint"):
        load_checkpoint(broken)


def test_checkpoint_writes_are_atomic(tmp_path, monkeypatch):
    """A write that dies half way leaves the previous last.ckpt intact and loadable."""
    import io

    run = tmp_path / "run"
    train_run(run)
    before = load_checkpoint(run / "checkpoints" / "last.ckpt")
    real_save = torch.save

    def dies_half_way(obj, f, *args, **kwargs):
        buffer = io.BytesIO()
        real_save(obj, buffer, *args, **kwargs)
        f.write(buffer.getvalue()[: len(buffer.getvalue()) // 2])
        raise KeyboardInterrupt("killed while writing")

    monkeypatch.setattr(torch, "save", dies_half_way)
    with pytest.raises((KeyboardInterrupt, SystemExit, RuntimeError)):
        train_run(run, "trainer.max_epochs=2", "ckpt_path=last")
    monkeypatch.undo()
    after = load_checkpoint(run / "checkpoints" / "last.ckpt")
    assert after["global_step"] == before["global_step"]
    for key, value in before["state_dict"].items():
        assert torch.equal(after["state_dict"][key], value)
    assert not list((run / "checkpoints").glob(".*.tmp"))  # the half file went with the kill


def test_a_nan_loss_stops_the_run_and_names_the_step(tmp_path, monkeypatch):
    run = tmp_path / "run"
    train_run(run)  # one good epoch: 3 steps
    good = load_checkpoint(run / "checkpoints" / "last.ckpt")
    original = ImageAutoencoder.reconstruction_loss

    def fails_from_step_5(self, logits, target):
        loss = original(self, logits, target)
        return loss * float("nan") if self.global_step >= 4 else loss

    monkeypatch.setattr(ImageAutoencoder, "reconstruction_loss", fails_from_step_5)
    with pytest.raises(AelabError, match=r"NaN or infinite at optimizer step 5 .*last good"):
        train_run(run, "trainer.max_epochs=2", "ckpt_path=last",
                  "callbacks.stop_on_nan.check_every=1")
    kept = load_checkpoint(run / "checkpoints" / "last.ckpt")
    assert kept["global_step"] == good["global_step"]
    assert all(torch.isfinite(v).all() for v in kept["state_dict"].values() if v.is_floating_point())
