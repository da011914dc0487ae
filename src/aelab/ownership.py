"""A run directory belongs to one run: a lock while it trains, and no second run over a first.

Without these, a second `train.py hydra.run.dir=R` replaced R's config and metrics and wrote
best-v1.ckpt beside the old best.ckpt (so `eval.py run_dir=R` scored the old weights under
the new config), and two runs started on one dir both exited 0 and left it mixed.
"""

import contextlib
import errno
import fcntl
import logging
import os
from collections.abc import Iterator
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from aelab.errors import LeftAsItWas
from aelab.files import atomic_write_text, filesystem_errors, make_dirs

log = logging.getLogger(__name__)
LOCK_FILE = ".lock"
ANOTHER_DIR = "choose another run dir (hydra.run.dir=DIR; a sweep: hydra.sweep.dir=DIR)"


@contextlib.contextmanager
def run_dir_lock(run_dir: Path) -> Iterator[None]:
    """An exclusive flock on RUN/.lock for as long as this process trains into RUN. The
    kernel releases it when the process ends, however it ends (kill -9 included), so a
    stale lock file never blocks anyone; only a live holder does."""
    lock_file = make_dirs(run_dir) / LOCK_FILE
    with filesystem_errors(lock_file):
        fd = os.open(lock_file, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as err:
            if err.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                # A filesystem without locks (some network mounts): go on, unguarded.
                log.warning("cannot lock %s (%s): two runs on this dir would not be stopped",
                            lock_file, err.strerror)
            else:
                holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
                raise LeftAsItWas(f"{run_dir} is in use by another training process (pid "
                                 f"{holder}); wait for it to end, or {ANOTHER_DIR}") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)  # closing the only descriptor releases the lock


def finished_or_started(run_dir: Path) -> str | None:
    """What shows that a run already trained here (its metrics or a checkpoint), or None.
    A dir with only a config and a log (a run stopped before its first checkpoint) is free."""
    if (run_dir / "metrics.json").exists():
        return "metrics.json"
    checkpoints = sorted((run_dir / "checkpoints").glob("*.ckpt"))
    return f"checkpoints/{checkpoints[0].name}" if checkpoints else None


def refuse_a_second_run(run_dir: Path, resuming_from: str | None) -> None:
    """Training into a dir that holds a run is allowed only as that run's resume."""
    found = finished_or_started(run_dir)
    if found is None:
        return
    own = run_dir / "checkpoints"
    if resuming_from is not None and Path(resuming_from).resolve().parent == own.resolve():
        return
    if resuming_from is None and (own / "last.ckpt").exists():
        fix = "resume it with ckpt_path=last"
    else:
        fix = "it has no checkpoints/last.ckpt to resume from, so"
    raise LeftAsItWas(f"{run_dir} already holds a run ({found}); {fix}, or {ANOTHER_DIR}")


def this_hydra_job(output_dir: Path) -> DictConfig | None:
    """The Hydra config of the job writing `output_dir`, or None (train() called directly,
    or a Hydra app of another dir earlier in this process)."""
    try:
        from hydra.core.hydra_config import HydraConfig

        hydra = HydraConfig.instance().cfg
    except ImportError:
        return None
    if hydra is None:
        return None
    job_dir = OmegaConf.select(hydra, "hydra.runtime.output_dir", default=None)
    return hydra if job_dir and Path(job_dir).resolve() == output_dir.resolve() else None


def save_run_config(cfg: DictConfig, output_dir: Path) -> None:
    """.hydra/config.yaml, hydra.yaml and overrides.yaml, as Hydra writes them, but only
    once the run may use this dir (conf/hydra/default.yaml sets `output_subdir: null`, so
    Hydra does not write them before the checks)."""
    folder = output_dir / ".hydra"
    atomic_write_text(folder / "config.yaml", OmegaConf.to_yaml(cfg))
    hydra = this_hydra_job(output_dir)
    if hydra is not None:
        atomic_write_text(folder / "hydra.yaml", OmegaConf.to_yaml(hydra))
        atomic_write_text(folder / "overrides.yaml", OmegaConf.to_yaml(hydra.hydra.overrides.task))
