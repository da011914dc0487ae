"""How one Hydra job runs: threads per job, and failures that must not sink a sweep."""

import contextlib
import logging
import math
import os
import signal
import sys
import threading
import traceback
from collections.abc import Iterator
from pathlib import Path

import torch
from omegaconf import DictConfig

from aelab.errors import AelabError, LeftAsItWas, exit_on_user_error
from aelab.files import atomic_write_text

log = logging.getLogger(__name__)


def hydra_launcher() -> tuple[bool, int]:
    """(is this a multirun job, how many jobs run at once on this machine)."""
    try:
        from hydra.core.hydra_config import HydraConfig
        from hydra.types import RunMode

        hydra = HydraConfig.get()
    except (ImportError, ValueError):  # called outside a Hydra app (tests, notebooks)
        return False, 1
    parallel = int(hydra.launcher.get("n_jobs", 1) or 1)
    if parallel < 0:  # joblib: -1 means one job per core
        parallel = os.cpu_count() or 1
    return hydra.mode == RunMode.MULTIRUN, parallel


def set_threads(threads: int | None, parallel_jobs: int) -> int:
    """Intra-op threads for this job: as given; else torch's default (all cores, or
    OMP_NUM_THREADS) for a lone job, and the cores shared among parallel jobs, so that N
    jobs at once do not each start one thread per core and oversubscribe the machine."""
    if threads is None and parallel_jobs > 1:
        threads = max(1, math.floor((os.cpu_count() or 1) / parallel_jobs))
    if threads is not None:
        torch.set_num_threads(threads)
    return torch.get_num_threads()


class Interrupted(BaseException):
    """SIGTERM or SIGINT, raised where the main thread is. A BaseException, so that no
    `except Exception` on the way swallows it; Lightning's fit lets it through after its own
    teardown. Every file a run writes is written atomically, so stopping anywhere is safe."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


@contextlib.contextmanager
def interrupt_on_signals() -> Iterator[None]:
    """Without this, Lightning turns SIGTERM into a clean-looking exit 0 (no metrics, and a
    sweep's remaining jobs silently never run); SIGINT outside fit gave a traceback."""
    if threading.current_thread() is not threading.main_thread():
        yield  # only the main thread may set handlers (a launcher's worker thread)
        return

    def stop(signum, frame):
        raise Interrupted(signum)

    previous = {s: signal.signal(s, stop) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def run_job(cfg: DictConfig, task) -> float | None:
    """Run `task(cfg)`. A single run fails loudly; a sweep job records why it failed in
    <job dir>/failure.txt and returns NaN, so the other jobs go on and keep their results.
    SIGTERM / SIGINT stop the run (and a sweep) with exit status 128 + the signal's number,
    the reason in <run dir>/failure.txt (and a sweep's unstarted jobs in its interrupted.txt)."""
    multirun, parallel = hydra_launcher()
    set_threads(cfg.get("threads"), parallel)
    try:
        with interrupt_on_signals():
            if not multirun:
                with exit_on_user_error():
                    return task(cfg)
            return run_sweep_job(cfg, task)
    except Interrupted as stop:
        message = record_interruption(cfg, stop.signum, multirun)
        print(f"error: {message}", file=sys.stderr)
        raise SystemExit(128 + stop.signum) from None


def run_sweep_job(cfg: DictConfig, task) -> float | None:
    try:
        return task(cfg)
    except LeftAsItWas as err:  # the job's dir belongs to another run: write nothing there
        log.error("job refused (%s); the sweep goes on", err)
        return float("nan")
    except Exception as err:  # noqa: BLE001 - any failure of one job is recorded, not raised
        out = Path(cfg.paths.output_dir)
        try:
            record_failure(cfg, out, err)
        except (OSError, AelabError) as unwritable:  # a full disk: the sweep goes on, saying so
            log.error("job failed (%s) and its failure.txt cannot be written (%s); the sweep "
                      "goes on", err, unwritable)
            return float("nan")
        log.error("job failed (%s); the sweep goes on. Details: %s", err, out / "failure.txt")
        return float("nan")


def record_failure(cfg: DictConfig, out: Path, err: Exception) -> None:
    """<job dir>/failure.txt: the one line of a user's mistake or a full disk, else the
    traceback; and the job's config, so that compare.py lists it as failed."""
    from aelab.files import disk_problem

    one_line = str(err) if isinstance(err, AelabError) else (
        disk_problem(err) if isinstance(err, OSError) else None)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "failure.txt",
                      f"{type(err).__name__}: {one_line or traceback.format_exc()}\n")
    if not (out / ".hydra" / "config.yaml").exists():
        from aelab.ownership import save_run_config

        save_run_config(cfg, out)


def record_interruption(cfg: DictConfig, signum: int, multirun: bool) -> str:
    """Write why the run stopped into its dir (and the sweep's); the line to print."""
    from lightning.pytorch.utilities import rank_zero_only

    name = signal.Signals(signum).name
    out = Path(cfg.paths.output_dir)
    last = out / "checkpoints" / "last.ckpt"
    kept = (f"{last} is whole (the end of the last finished epoch)" if last.exists()
            else "no checkpoint had been written yet")
    message = (f"interrupted by {name}; {kept}; run the same command with ckpt_path=last to "
               "resume (it finishes as an uninterrupted run would)")
    if getattr(rank_zero_only, "rank", 0) != 0:
        return message
    with contextlib.suppress(OSError):  # a full or read-only disk must not hide the signal
        atomic_write_text(out / "failure.txt", f"Interrupted: {message}\n")
    if multirun:
        message = record_unstarted_jobs(name, out) or message
    return message


def record_unstarted_jobs(name: str, job_dir: Path) -> str | None:
    """<sweep dir>/interrupted.txt: which job was stopped and which jobs never started;
    rerunning the sweep with ckpt_path=last skips the finished ones. The line to print."""
    from hydra.core.hydra_config import HydraConfig

    try:
        hydra = HydraConfig.get()
    except ValueError:
        return None
    sweep_dir = Path(hydra.sweep.dir)
    num = int(hydra.job.num)
    rerun = (f"Run the same command with ckpt_path=last and hydra.sweep.dir={sweep_dir} to "
             "finish the sweep: finished jobs are skipped, the interrupted one resumes.")
    head = f"job {num} ({job_dir.name}) was interrupted by {name}"
    jobs = sweep_jobs(hydra) if one_job_at_a_time(hydra) else None
    if jobs is None:  # jobs launched at once, or decided as the sweep goes (Optuna)
        text = f"{head}; other jobs of this sweep may not have run. {rerun}"
        unstarted = []
    else:
        unstarted = [f"{i}: {overrides}" for i, overrides in enumerate(jobs) if i > num]
        text = f"{head}; {len(unstarted)} of the sweep's {len(jobs)} jobs did not start. {rerun}"
    with contextlib.suppress(OSError):
        listing = "".join(f"  not started: job {line}\n" for line in unstarted)
        atomic_write_text(sweep_dir / "interrupted.txt", f"{text}\n{listing}")
    return text


def one_job_at_a_time(hydra) -> bool:
    """Hydra's basic launcher runs a sweep's jobs one after another in this process, so the
    jobs after this one have not started; other launchers (joblib, SLURM) run them at once."""
    return str(hydra.launcher.get("_target_", "")).endswith("BasicLauncher")


def sweep_jobs(hydra) -> list[str] | None:
    """Each job of a basic sweep, in launch order, as the values it sweeps
    (`model.latent_dim=8`), expanded as Hydra's BasicSweeper does from the sweep's command
    line (<sweep dir>/multirun.yaml) and its `hydra.sweeper.params`; None when unknown."""
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from omegaconf import OmegaConf

    if not str(hydra.sweeper.get("_target_", "")).endswith("BasicSweeper"):
        return None
    try:
        sweep = OmegaConf.load(Path(hydra.sweep.dir) / "multirun.yaml").hydra
        params = [f"{key}={value}" for key, value in (sweep.sweeper.get("params") or {}).items()]
        overrides = OverridesParser.create().parse_overrides([*params, *sweep.overrides.task])
        jobs = [job for batch in BasicSweeper.split_arguments(overrides, None) for job in batch]
    except Exception:  # noqa: BLE001 - an override we cannot expand: the record says less
        return None
    swept = {o.get_key_element() for o in overrides if o.is_sweep_override()}
    return [",".join(o for o in job if o.split("=", 1)[0] in swept) or "(no swept value)"
            for job in jobs]
