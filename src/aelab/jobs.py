"""How one Hydra job runs: threads per job, and failures that must not sink a sweep."""

import logging
import math
import os
import traceback
from pathlib import Path

import torch
from omegaconf import DictConfig

from aelab.errors import AelabError, exit_on_user_error

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


def run_job(cfg: DictConfig, task) -> float | None:
    """Run `task(cfg)`. A single run fails loudly; a sweep job records why it failed in
    <job dir>/failure.txt and returns NaN, so the other jobs go on and keep their results."""
    multirun, parallel = hydra_launcher()
    set_threads(cfg.get("threads"), parallel)
    if not multirun:
        with exit_on_user_error():
            return task(cfg)
    try:
        return task(cfg)
    except Exception as err:  # noqa: BLE001 - any failure of one job is recorded, not raised
        reason = str(err) if isinstance(err, AelabError) else traceback.format_exc()
        out = Path(cfg.paths.output_dir)
        out.mkdir(parents=True, exist_ok=True)
        (out / "failure.txt").write_text(f"{type(err).__name__}: {reason}\n")
        log.error("job failed (%s); the sweep goes on. Details: %s", err, out / "failure.txt")
        return float("nan")
