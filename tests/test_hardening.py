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
