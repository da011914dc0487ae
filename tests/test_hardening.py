"""Issue #36: a hostile but ordinary user. Saves survive kills on any filesystem, a run dir
belongs to one run, signals end a run loudly, resume checks before it writes, a text run's
vocabulary is never rebuilt behind its back."""

import errno
import os
import shutil
import tempfile
from pathlib import Path

import pytest
import torch

from aelab.checkpoint import load_checkpoint
from tests.conftest import train_run


def other_filesystem(monkeypatch, tmpdir: Path) -> None:
    """$TMPDIR on another filesystem than the run dir: a rename between them fails (EXDEV)."""
    monkeypatch.setenv("TMPDIR", str(tmpdir))
    monkeypatch.setattr(tempfile, "tempdir", None)  # tempfile caches the directory it picked
    for name in ("rename", "replace"):
        real = getattr(os, name)

        def across(src, dst, *args, _real=real, **kwargs):
            if (tmpdir in Path(src).parents) != (tmpdir in Path(dst).parents):
                raise OSError(errno.EXDEV, os.strerror(errno.EXDEV), str(src))
            return _real(src, dst, *args, **kwargs)

        monkeypatch.setattr(os, name, across)


def killed_while_moving_checkpoints_into_place(monkeypatch) -> None:
    """SIGKILL between the write and the rename (or, where the rename fell back to copying,
    in the middle of the copy)."""
    for name in ("rename", "replace"):
        patched = getattr(os, name)

        def dies(src, dst, *args, _patched=patched, **kwargs):
            if str(dst).endswith(".ckpt"):
                raise KeyboardInterrupt("killed before the rename")
            return _patched(src, dst, *args, **kwargs)

        monkeypatch.setattr(os, name, dies)

    def dies_copying(*args, **kwargs):
        raise KeyboardInterrupt("killed while copying")

    monkeypatch.setattr(shutil, "copyfileobj", dies_copying)
    monkeypatch.setattr(shutil, "_fastcopy_sendfile", dies_copying, raising=False)


def test_a_kill_during_a_save_across_filesystems_leaves_the_previous_checkpoints_whole(
        tmp_path, monkeypatch):
    run = tmp_path / "run"
    train_run(run)
    before = {name: load_checkpoint(run / "checkpoints" / name) for name in ("best.ckpt", "last.ckpt")}
    (tmp_path / "tmpfs").mkdir()
    killed_while_moving_checkpoints_into_place(monkeypatch)
    other_filesystem(monkeypatch, tmp_path / "tmpfs")  # checked first: EXDEV, then the kill
    with pytest.raises((KeyboardInterrupt, SystemExit)):
        train_run(run, "trainer.max_epochs=2", "ckpt_path=last")
    monkeypatch.undo()
    for name, old in before.items():
        after = load_checkpoint(run / "checkpoints" / name)  # not empty, not cut
        assert after["global_step"] == old["global_step"]
        assert all(torch.equal(after["state_dict"][k], v) for k, v in old["state_dict"].items())
    assert not list((tmp_path / "tmpfs").iterdir())  # nothing was staged in $TMPDIR


def test_saves_stage_beside_their_file_not_in_tmpdir(tmp_path, monkeypatch):
    """A $TMPDIR too small for a checkpoint (here: one that cannot take a file at all) does
    not matter: no save goes through it."""
    (tmp_path / "tmpfs").mkdir()
    other_filesystem(monkeypatch, tmp_path / "tmpfs")
    real_mkstemp = tempfile.mkstemp

    def full(*args, dir=None, **kwargs):  # noqa: A002 - tempfile's own keyword
        if dir is None or Path(dir).resolve() == (tmp_path / "tmpfs").resolve():
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_mkstemp(*args, dir=dir, **kwargs)

    monkeypatch.setattr(tempfile, "mkstemp", full)
    metrics = train_run(tmp_path / "run")
    assert metrics["epoch"] == 1
    assert load_checkpoint(tmp_path / "run" / "checkpoints" / "best.ckpt")["global_step"] == 3


# -- a run dir belongs to one run ----------------------------------------------------------------
def train_cli(run_dir: Path, *overrides: str, capsys, shapes: bool = True) -> tuple[int, str]:
    """train.py as the command line runs it (Hydra writes the run dir), in this process;
    `shapes=False`: settings for any data (the FAST ones size the shapes data)."""
    from tests.conftest import FAST
    from tests.test_bad_input import run_entry

    fast = FAST if shapes else ["trainer=debug", "data.limit=32", "model.width=8"]
    return run_entry("train", [*fast, "logger=csv", "threads=1", *overrides,
                               f"paths.cache_dir={run_dir.parent / 'cache'}",
                               f"hydra.run.dir={run_dir}"], capsys)


def snapshot(run_dir: Path) -> dict[str, bytes]:
    """Every file of a run dir but its log, by content."""
    return {str(p.relative_to(run_dir)): p.read_bytes() for p in sorted(run_dir.rglob("*"))
            if p.is_file() and p.suffix != ".log" and "tensorboard" not in p.parts}


def assert_one_line(code: int, output: str, *expected: str) -> None:
    assert code == 2, output[-2000:]
    assert "Traceback" not in output, output[-3000:]
    for text in expected:
        assert text in output, output[-2000:]


def test_training_into_a_finished_run_dir_refuses_and_leaves_it_as_it_was(tmp_path, capsys):
    run = tmp_path / "run"
    assert train_cli(run, capsys=capsys)[0] == 0
    before = snapshot(run)
    code, output = train_cli(run, "model.latent_dim=4", capsys=capsys)
    assert_one_line(code, output, "already holds a run", "ckpt_path=last", "hydra.run.dir=DIR")
    assert snapshot(run) == before  # no new config, metrics or best-v1.ckpt


def test_a_run_dir_in_use_by_another_process_is_refused(tmp_path):
    import fcntl

    from aelab.errors import AelabError

    run = tmp_path / "run"
    run.mkdir()
    with open(run / ".lock", "w") as held:  # what a live train.py on this dir holds
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(AelabError, match="in use by another training process"):
            train_run(run)
    assert not (run / "checkpoints").exists() and not (run / "metrics.json").exists()
    assert train_run(run)["epoch"] == 1  # released: the dir is free again


# -- resume checks before it writes ------------------------------------------------------------------
def test_a_resume_that_changes_the_model_is_refused_with_nothing_written(tmp_path, capsys):
    run = tmp_path / "run"
    assert train_cli(run, capsys=capsys)[0] == 0
    (run / "metrics.json").unlink()  # as if killed after its first epoch
    before = snapshot(run)
    code, output = train_cli(run, "trainer.max_epochs=2", "ckpt_path=last", "model.latent_dim=4",
                             capsys=capsys)
    assert_one_line(code, output, "model.latent_dim (32 -> 4)", "cannot resume")
    assert snapshot(run) == before
    from aelab.run import evaluate

    assert "test/psnr" in evaluate(str(run))  # the run still rebuilds from its saved config


def test_a_resume_with_a_new_learning_rate_trains_with_it(tmp_path):
    run = tmp_path / "run"
    train_run(run)
    assert load_checkpoint(run / "checkpoints" / "last.ckpt")["optimizer_states"][0][
        "param_groups"][0]["lr"] == 1e-3
    train_run(run, "trainer.max_epochs=2", "ckpt_path=last", "optimizer.lr=0.01")
    groups = load_checkpoint(run / "checkpoints" / "last.ckpt")["optimizer_states"][0]["param_groups"]
    assert [g["lr"] for g in groups] == [0.01] * len(groups)
    assert load_checkpoint(run / "checkpoints" / "last.ckpt")["config"]["optimizer"]["lr"] == 0.01


# -- a text run's vocabulary --------------------------------------------------------------------------
TEXT = ["model=lstm_lm", "data=toy_text", "data.num_train=64", "data.num_val=16",
        "data.num_test=16", "model.embed_dim=8"]


@pytest.mark.parametrize("task", ["eval", "generate"])
def test_a_missing_tokenizer_is_not_rebuilt(task, tmp_path):
    from aelab.errors import AelabError
    from aelab.run import evaluate, generate

    run = tmp_path / "run"
    train_run(run, *TEXT)
    (run / "tokenizer.json").unlink()
    with pytest.raises(AelabError, match="tokenizer.json is missing.*put the run's tokenizer"):
        evaluate(str(run)) if task == "eval" else generate(str(run), "sample", n=2)
    assert not (run / "tokenizer.json").exists()


# -- signals ------------------------------------------------------------------------------------------
def test_sigterm_stops_a_sweep_loudly_and_records_what_did_not_run(tmp_path, capsys, monkeypatch):
    """A sweep of three jobs, SIGTERM during the first: exit 143, the job's reason in its dir,
    the interrupted job and each unstarted one in the sweep's interrupted.txt; the other two
    never start."""
    import signal

    from aelab.callbacks.safety import ValidateAtMaxSteps
    from tests.conftest import FAST
    from tests.test_bad_input import run_entry

    def terminated(self, trainer, *args):
        if trainer.global_step == 2:
            os.kill(os.getpid(), signal.SIGTERM)

    monkeypatch.setattr(ValidateAtMaxSteps, "on_train_batch_end", terminated)
    sweep = tmp_path / "sweep"
    code, output = run_entry("train", ["-m", *FAST, "logger=csv", "threads=1",
                                       "model.latent_dim=4,8,16", f"paths.cache_dir={tmp_path / 'cache'}",
                                       f"hydra.sweep.dir={sweep}"], capsys)
    assert code == 128 + signal.SIGTERM, output[-2000:]
    assert "Traceback" not in output, output[-3000:]
    jobs = sorted(p for p in sweep.iterdir() if p.is_dir() and p.name[0].isdigit())
    assert [p.name for p in jobs] == ["0_model.latent_dim=4"]
    assert "interrupted by SIGTERM" in (jobs[0] / "failure.txt").read_text()
    record = (sweep / "interrupted.txt").read_text()
    assert "job 0 (0_model.latent_dim=4) was interrupted by SIGTERM" in record
    assert "2 of the sweep's 3 jobs did not start" in record
    assert "not started: job 1: model.latent_dim=8\n" in record
    assert "not started: job 2: model.latent_dim=16\n" in record
    assert "ckpt_path=last" in record and "ckpt_path=last" in output
    assert not (jobs[0] / "metrics.json").exists()


# -- "also seen": each ends in one line, exit status 2 -----------------------------------------------
def test_a_run_dir_that_is_a_file(tmp_path, capsys):
    (tmp_path / "run").write_text("not a dir")
    code, output = train_cli(tmp_path / "run", capsys=capsys)
    assert_one_line(code, output, "is a file, not a directory", "hydra.run.dir=DIR")


@pytest.mark.parametrize("fault,says", [(errno.ENOSPC, "no space left to write"),
                                        (errno.EROFS, "Read-only file system")])
def test_a_full_or_read_only_disk(fault, says, tmp_path, capsys, monkeypatch):
    real_mkstemp = tempfile.mkstemp

    def refused(*args, dir=None, **kwargs):  # noqa: A002 - tempfile's own keyword
        if dir is not None and str(tmp_path / "run") in str(dir):
            raise OSError(fault, os.strerror(fault))
        return real_mkstemp(*args, dir=dir, **kwargs)

    monkeypatch.setattr(tempfile, "mkstemp", refused)
    code, output = train_cli(tmp_path / "run", capsys=capsys)
    assert_one_line(code, output, says, str(tmp_path / "run"))


def text_folder(folder: Path) -> Path:
    from datasets import Dataset

    folder.mkdir()
    for split in ("train", "test"):
        Dataset.from_dict({"text": ["a small cat .", "the dog ran ."] * 8, "label": list(range(16))}
                          ).to_parquet(str(folder / f"{split}-00000-of-00001.parquet"))
    return folder


def test_a_text_column_that_holds_no_text(tmp_path, capsys):
    folder = text_folder(tmp_path / "texts")
    code, output = train_cli(tmp_path / "run", "model=lstm_lm", "data=text", f"data.path={folder}",
                             "data.text_column=label", capsys=capsys, shapes=False)
    assert_one_line(code, output, "data.text_column=label is a column of int64", "(text)")


def test_an_image_column_that_holds_no_images(parquet_images, tmp_path, capsys):
    code, output = train_cli(tmp_path / "run", "data=images", f"data.path={parquet_images}",
                             "data.image_column=label", capsys=capsys, shapes=False)
    assert_one_line(code, output, "data.image_column=label is a column of", "(image)")


def test_a_checkpoint_of_another_model_in_a_run_dir(tmp_path):
    from aelab.errors import AelabError
    from aelab.run import evaluate

    run = tmp_path / "run"
    train_run(run)
    best = run / "checkpoints" / "best.ckpt"
    state = load_checkpoint(best)
    state["state_dict"] = {k: v[:1] if v.ndim else v for k, v in state["state_dict"].items()}
    torch.save(state, best)
    with pytest.raises(AelabError, match="holds the weights of another model"):
        evaluate(str(run))


def test_a_truncated_image_for_generate(tmp_path):
    from PIL import Image

    from aelab.errors import AelabError
    from aelab.generation.image_file import load_image

    photo = tmp_path / "photo.png"
    Image.effect_noise((64, 64), 50).save(photo)
    photo.write_bytes(photo.read_bytes()[:300])
    with pytest.raises(AelabError, match="may be truncated"):
        load_image(photo, 1)


@pytest.mark.parametrize("broken", ["metrics.json", ".hydra/config.yaml"])
def test_compare_names_a_truncated_file(broken, tmp_path, capsys):
    import runpy
    import sys

    from tests.conftest import ROOT

    run = tmp_path / "runs" / "a"
    (run / ".hydra").mkdir(parents=True)
    (run / ".hydra" / "config.yaml").write_text("model:\n  latent_dim: 8\n")
    (run / "metrics.json").write_text('{"test/psnr": 20.0}\n')
    file = run / broken
    file.write_text(file.read_text()[:12] + "\x00{[")
    old, sys.argv = sys.argv, ["compare.py", str(tmp_path / "runs")]
    try:
        with pytest.raises(SystemExit) as exit_:
            runpy.run_path(str(ROOT / "compare.py"), run_name="__main__")
    finally:
        sys.argv = old
    output = capsys.readouterr()
    assert exit_.value.code == 2
    assert f"{file} cannot be read" in output.err and "Traceback" not in output.err


@pytest.mark.parametrize("script,args,says", [
    ("eval", ["num_images=3"], "eval.py does not take 'num_images'"),
    ("generate", ["task=sample", "self_ensemble=true"], "generate.py does not take 'self_ensemble'"),
    ("eval", ["model.latent_dim=4"], "a run's own options are fixed by its saved config"),
])
def test_an_option_eval_or_generate_does_not_take(script, args, says, tmp_path, capsys):
    from tests.test_bad_input import run_entry

    code, output = run_entry(script, [f"run_dir={tmp_path}", *args], capsys)
    assert_one_line(code, output, says)


def test_an_overlong_test_sentence_is_refused_before_training(tmp_path):
    from aelab.errors import AelabError

    with pytest.raises(AelabError, match=r"sentence \d+ of the val split has \d+ words, more than "
                                         r"data.max_eval_len=3"):
        train_run(tmp_path / "run", *TEXT, "data.max_eval_len=3")
    assert not (tmp_path / "run" / "checkpoints").exists()


def test_a_sentence_beyond_learned_positions_is_refused_before_training(tmp_path):
    from aelab.errors import AelabError

    with pytest.raises(AelabError, match="more than the learned positions cover"):
        train_run(tmp_path / "run", "model=transformer_lm", *TEXT[1:], "model.width=16",
                  "model.decoder.heads=2", "model.decoder.positions=learned",
                  "model.decoder.max_positions=6")
    assert not (tmp_path / "run" / "checkpoints").exists()


def test_generate_keeps_earlier_outputs(tmp_path):
    from aelab.run import generate

    run = tmp_path / "run"
    train_run(run, *TEXT)
    first = generate(str(run), "sample", n=2, seed=0)
    text = first.read_text()
    second = generate(str(run), "sample", n=2, seed=1)
    assert (first.name, second.name) == ("sample.txt", "sample-1.txt")
    assert first.read_text() == text


def test_undecodable_text_names_the_file_and_its_line(tmp_path, capsys):
    folder = tmp_path / "texts"
    folder.mkdir()
    (folder / "train.txt").write_text("a small cat .\nthe dog ran .\n" * 8)
    (folder / "test.txt").write_bytes(b"ok line .\na cat \xff\xfe ran .\n")
    code, output = train_cli(tmp_path / "run", "model=lstm_lm", "data=text", f"data.path={folder}",
                             capsys=capsys, shapes=False)
    assert_one_line(code, output, f"{folder / 'test.txt'} line 2 is not UTF-8 text")


def test_mixed_channel_counts_advise_data_channels(tmp_path, capsys):
    from tests.conftest import write_image_parquet

    gray = write_image_parquet(tmp_path / "gray", sizes={"train": 24}, mode="L")
    rgb = write_image_parquet(tmp_path / "rgb", sizes={"test": 8}, mode="RGB")
    (rgb / "test-00000-of-00001.parquet").rename(gray / "test-00000-of-00001.parquet")
    code, output = train_cli(tmp_path / "run", "data=images", f"data.path={gray}",
                             capsys=capsys, shapes=False)
    assert_one_line(code, output, "different channel counts", "data.channels=3")
    assert "data.image_size" not in output


def test_a_misspelt_target_in_a_saved_config_is_named_not_trusted(tmp_path):
    from aelab.errors import AelabError
    from aelab.run import evaluate

    run = tmp_path / "run"
    train_run(run)
    config = run / ".hydra" / "config.yaml"
    config.write_text(config.read_text().replace("ImageAutoencoder", "ImageAutoencodr"))
    with pytest.raises(AelabError, match="has no ImageAutoencodr; did you mean "
                                         ".*ImageAutoencoder.*correct the name") as err:
        evaluate(str(run))
    assert "trust_run_config" not in str(err.value)


def test_an_undecodable_image_is_named_by_its_file_and_own_row(tmp_path, capsys):
    """The train split is shuffled to hold out validation rows: the error names the row of
    the parquet file the user can open, not its place after shuffling."""
    from tests.conftest import write_image_parquet

    folder = write_image_parquet(tmp_path / "bad", {"train": 40, "test": 6}, bad_rows=(13,))
    code, output = train_cli(tmp_path / "run", "data=images", f"data.path={folder}",
                             "data.limit=null", capsys=capsys, shapes=False)
    assert_one_line(code, output, f"row 13 of {folder / 'train-00000-of-00001.parquet'}",
                    "cannot be decoded")


def test_the_mutual_information_estimate_is_never_negative():
    """Posteriors that ignore their input (all alike): the true I(x; z) is 0, and the
    one-sample estimate on a batch of 2 used to come out below it about half the time."""
    from aelab.metrics.latent import mutual_information

    torch.manual_seed(0)
    mean, logvar = torch.zeros(2, 8), torch.zeros(2, 8)
    estimates = torch.stack([mutual_information(mean, logvar) for _ in range(50)])
    assert (estimates >= 0).all()


def test_a_sweep_rerun_into_its_own_dir_leaves_the_finished_jobs_as_they_were(tmp_path, capsys):
    from tests.conftest import FAST
    from tests.test_bad_input import run_entry

    sweep = tmp_path / "sweep"
    args = ["-m", *FAST, "logger=csv", "threads=1", "model.latent_dim=4",
            f"paths.cache_dir={tmp_path / 'cache'}", f"hydra.sweep.dir={sweep}"]
    assert run_entry("train", args, capsys)[0] == 0
    job = next(p for p in sweep.iterdir() if p.is_dir() and p.name[0].isdigit())
    before = snapshot(job)
    run_entry("train", args, capsys)  # no ckpt_path=last: every job is refused
    assert snapshot(job) == before  # no failure.txt, no new config or checkpoint


def test_sigint_stops_a_run_with_130_and_the_reason_in_its_dir(tmp_path, capsys, monkeypatch):
    import signal

    from aelab.callbacks.safety import ValidateAtMaxSteps

    def interrupted(self, trainer, *args):
        if trainer.global_step == 2:
            os.kill(os.getpid(), signal.SIGINT)

    monkeypatch.setattr(ValidateAtMaxSteps, "on_train_batch_end", interrupted)
    run = tmp_path / "run"
    code, output = train_cli(run, capsys=capsys)
    assert code == 128 + signal.SIGINT, output[-2000:]
    assert "Traceback" not in output and "interrupted by SIGINT" in output
    assert "interrupted by SIGINT" in (run / "failure.txt").read_text()
    assert not (run / "metrics.json").exists()


def test_a_resume_with_more_epochs_stretches_a_cosine_schedule_for_real(tmp_path):
    """scheduler.T_max follows trainer.max_epochs; Lightning restored the old one from the
    checkpoint while the saved config recorded the new one."""
    run = tmp_path / "run"
    train_run(run, "scheduler=cosine")
    train_run(run, "scheduler=cosine", "trainer.max_epochs=3", "ckpt_path=last")
    last = load_checkpoint(run / "checkpoints" / "last.ckpt")
    assert last["lr_schedulers"][0]["T_max"] == last["config"]["scheduler"]["T_max"] == 3


def test_a_full_disk_met_by_a_logger_is_one_line(tmp_path, capsys, monkeypatch):
    """Not our own write: the CSV logger's file, on a disk that filled up during the run."""
    from lightning.fabric.loggers.csv_logs import _ExperimentWriter

    def full(self, *args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))  # write() names no file

    monkeypatch.setattr(_ExperimentWriter, "save", full)
    code, output = train_cli(tmp_path / "run", capsys=capsys)
    assert_one_line(code, output, "no space left to write", "free some space")


def test_a_resume_reads_a_dataset_that_moved(parquet_images, tmp_path):
    """The run's data folder moved: a resume with the new data.path goes on (and the run's
    config records it); while the old folder still exists, a new one is other data: refused."""
    from aelab.errors import AelabError

    images = ["data=images", "data.limit=32", "data.batch_size=16", "model.width=8",
              "model.depth=2", "trainer=cpu", "trainer.max_epochs=1", "trainer.limit_train_batches=2",
              "trainer.limit_val_batches=1", "trainer.limit_test_batches=1",
              "trainer.enable_progress_bar=false", "trainer.enable_model_summary=false"]
    run, moved = tmp_path / "run", tmp_path / "moved"
    train_run(run, *images, f"data.path={parquet_images}", fast=False)
    shutil.copytree(parquet_images, moved)
    with pytest.raises(AelabError, match="data.path .* changed"):
        train_run(run, *images, f"data.path={moved}", "trainer.max_epochs=2", "ckpt_path=last",
                  fast=False)
    shutil.rmtree(parquet_images)
    metrics = train_run(run, *images, f"data.path={moved}", "trainer.max_epochs=2", "ckpt_path=last",
                        fast=False)
    assert metrics["epoch"] == 2
    assert load_checkpoint(run / "checkpoints" / "last.ckpt")["config"]["data"]["path"] == str(moved)


def test_a_50000_word_test_sentence_is_refused_before_training(tmp_path, capsys):
    """By default (data.max_eval_len=1000): it would pad its batch to 50,000 tokens."""
    folder = tmp_path / "texts"
    folder.mkdir()
    (folder / "train.txt").write_text("a small cat .\nthe dog ran .\n" * 8)
    (folder / "test.txt").write_text("ok line .\n" + "word " * 50_000 + "\n")
    code, output = train_cli(tmp_path / "run", "model=lstm_lm", "data=text", f"data.path={folder}",
                             capsys=capsys, shapes=False)
    assert_one_line(code, output, "of the test split has 50000 words, more than "
                                  "data.max_eval_len=1000")
    assert not (tmp_path / "run" / "checkpoints").exists()


def test_a_large_image_to_restore_shows_progress(caplog, monkeypatch):
    """A 12-megapixel photo is thousands of tiles: a line every few seconds says how far."""
    import logging

    from aelab.generation import image_file

    clock = iter(range(0, 10_000, 6))  # each look at the clock: 6 s later
    monkeypatch.setattr(image_file.time, "monotonic", lambda: next(clock))
    with caplog.at_level(logging.INFO, logger=image_file.__name__):
        image_file.tiled(lambda x: x, torch.rand(1, 1, 64, 64), (8, 8), batch=16)
    lines = [r.getMessage() for r in caplog.records if "tiles (" in r.getMessage()]
    assert lines and all("s left" in line for line in lines)
    assert lines[0].startswith("restored 16 of 225 tiles")
