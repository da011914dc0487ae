"""Optuna search as a Hydra sweeper, over Optuna's ask/tell and Hydra's own launcher.

    python train.py -m sweep=optuna_latent_lr hydra.sweeper.storage=sqlite:///study.db

Why our own: hydra-optuna-sweeper (its latest release, 1.3.0) requires optuna<3, whose
database storage fails with the SQLAlchemy 2 that pip installs beside it, so a study could
not outlive one process. This one is one file over Optuna's stable ask/tell API and works with
any Hydra launcher (basic, joblib, submitit for SLURM).

- **One study, many workers.** The study lives in `storage`: a SQLite file (one machine;
  the default is `optuna.db` in the sweep dir), `journal:<file>` (a journal file on a shared
  filesystem, safe for many writers over NFS), or a PostgreSQL/MySQL URL (a cluster). Every
  launch with the same `study_name` and storage adds `n_trials` trials to the same study and
  resumes it where it stands; trial numbers come from the storage, so they never repeat.
  Each trial's run dir is `trial_<number>`, so workers sharing a sweep dir never collide.
- **Killed workers.** While its trials run, a launch stamps them with a heartbeat (a trial
  user attribute, so every storage supports it). A launch that starts marks as failed every
  running trial whose heartbeat is older than `grace_s`: a worker that was killed leaves its
  trial failed, not running forever, and the study goes on.
- **Pruning.** With `pruner.name=median` or `successive_halving`, each trial reports the
  monitored metric after every validation epoch (aelab.callbacks.optuna_pruning) and stops
  when the pruner says so; the run writes `"pruned": 1` in metrics.json, compare.py lists
  it as pruned, and the study records the trial as PRUNED, not failed.
"""

import contextlib
import logging
import math
import threading
import time
from pathlib import Path

from omegaconf import OmegaConf

log = logging.getLogger(__name__)
PRUNED = "pruned"  # what a pruned run returns instead of its metric
HEARTBEAT = "aelab_heartbeat"


def make_storage(spec: str | None, sweep_dir: Path | None):
    """(Optuna storage, the URL jobs use to reach it) for a `storage` setting."""
    import optuna
    from optuna.storages.journal import JournalFileBackend

    if not spec:
        if sweep_dir is None:
            raise ValueError("a trial needs the study's storage")
        spec = f"sqlite:///{(sweep_dir / 'optuna.db').resolve()}"
    if spec.startswith("journal:"):
        path = Path(spec.removeprefix("journal:")).expanduser().resolve()
        path.parent.mkdir(parents=True, exist_ok=True)
        return optuna.storages.JournalStorage(JournalFileBackend(str(path))), f"journal:{path}"
    # A generous SQLite timeout: several workers write to one file.
    engine = {"connect_args": {"timeout": 60}} if spec.startswith("sqlite") else None
    return optuna.storages.RDBStorage(spec, engine_kwargs=engine), spec


def make_sampler(settings: dict):
    import optuna

    name, seed = settings.get("name", "tpe"), settings.get("seed")
    samplers = {"tpe": optuna.samplers.TPESampler, "random": optuna.samplers.RandomSampler}
    if name not in samplers:
        raise ValueError(f"hydra.sweeper.sampler.name={name} is not one of: tpe, random")
    return samplers[name](seed=seed)


def make_pruner(settings: dict):
    import optuna

    name = settings.get("name", "none")
    if name == "none":
        return optuna.pruners.NopPruner()
    if name == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=settings.get("n_startup_trials", 3),
                                           n_warmup_steps=settings.get("n_warmup_steps", 1))
    if name == "successive_halving":
        return optuna.pruners.SuccessiveHalvingPruner(
            min_resource=settings.get("min_resource", 1),
            reduction_factor=settings.get("reduction_factor", 3))
    raise ValueError(f"hydra.sweeper.pruner.name={name} is not one of: none, median, "
                     "successive_halving")


def distribution(override):
    """An Optuna distribution for a Hydra sweep override (choice, range, interval; tag(log))."""
    import optuna.distributions as d
    from hydra.core.override_parser.types import ChoiceSweep, IntervalSweep, RangeSweep

    value = override.value()
    if isinstance(value, ChoiceSweep):
        return d.CategoricalDistribution(list(value.list))
    if isinstance(value, RangeSweep):
        return d.CategoricalDistribution(list(override.sweep_iterator()))
    if isinstance(value, IntervalSweep):
        log_scale = "log" in value.tags
        if isinstance(value.start, int) and isinstance(value.end, int):
            return d.IntDistribution(value.start, value.end, log=log_scale)
        return d.FloatDistribution(value.start, value.end, log=log_scale)
    raise ValueError(f"{override.get_key_element()}: not a search space Optuna can sample")


def as_override(key: str, value) -> str:
    if isinstance(value, str):
        return f"{key}='{value}'" if any(c in value for c in " ,=:'\"()[]{}") else f"{key}={value}"
    return f"{key}={value!r}" if isinstance(value, float) else f"{key}={value}"


@contextlib.contextmanager
def file_lock(path: Path | None):
    """An exclusive lock on `path` (POSIX flock) while the block runs; no lock for None."""
    if path is None:
        yield
        return
    import fcntl

    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


class Heartbeat:
    """Stamps the given trials every `interval` s while they run (see the module doc)."""

    def __init__(self, storage, trial_ids: list[int], interval: float):
        self.storage, self.trial_ids, self.interval = storage, trial_ids, interval
        self.stop_event = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def beat(self) -> None:
        for trial_id in self.trial_ids:
            try:
                self.storage.set_trial_user_attr(trial_id, HEARTBEAT, time.time())
            except Exception:  # noqa: BLE001 - the trial finished meanwhile: nothing to stamp
                pass

    def _run(self) -> None:
        while not self.stop_event.wait(self.interval):
            self.beat()

    def __enter__(self):
        self.beat()
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop_event.set()
        self.thread.join()


def fail_stale_trials(study, grace_s: float) -> list[int]:
    """Mark running trials whose heartbeat stopped more than `grace_s` ago as failed."""
    from optuna.trial import TrialState

    now, failed = time.time(), []
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        last = trial.user_attrs.get(HEARTBEAT)
        if last is None and trial.datetime_start is not None:
            last = trial.datetime_start.timestamp()
        if last is not None and now - last > grace_s:
            if study._storage.set_trial_state_values(trial._trial_id, TrialState.FAIL):
                failed.append(trial.number)
    if failed:
        log.warning("trials %s stopped sending heartbeats (a killed worker?): marked failed",
                    failed)
    return failed


class OptunaSearch:
    def __init__(self, study_name: str = "aelab", storage: str | None = None,
                 direction: str = "minimize", n_trials: int = 20, n_jobs: int = 1,
                 sampler: dict | None = None, pruner: dict | None = None,
                 heartbeat_s: float = 30.0, grace_s: float = 120.0, params: dict | None = None):
        if direction not in ("minimize", "maximize"):
            raise ValueError(f"hydra.sweeper.direction={direction}: minimize or maximize")
        self.study_name, self.storage_spec, self.direction = study_name, storage, direction
        self.n_trials, self.n_jobs = int(n_trials), max(1, int(n_jobs))
        self.sampler_settings = dict(sampler or {})
        self.pruner_settings = dict(pruner or {})
        self.heartbeat_s, self.grace_s = float(heartbeat_s), float(grace_s)
        self.params = dict(params or {})

    def setup(self, *, hydra_context, task_function, config, validate) -> None:
        from hydra.core.plugins import Plugins

        self.hydra_context, self.config, self.validate = hydra_context, config, validate
        self.launcher = Plugins.instance().instantiate_launcher(
            hydra_context=hydra_context, task_function=task_function, config=config)

    def split(self, arguments: list[str]) -> tuple[list[str], dict]:
        """(fixed overrides, {key: distribution}) from the preset's params and the command line."""
        from hydra.core.override_parser.overrides_parser import OverridesParser

        parser = OverridesParser.create(config_loader=self.hydra_context.config_loader)
        params = [f"{k}={v}" for k, v in self.params.items()] + list(arguments)
        fixed, space = [], {}
        for override in parser.parse_overrides(params):
            key = override.get_key_element()
            if override.is_sweep_override():
                space[key] = distribution(override)
            else:
                fixed.append(f"{key}={override.get_value_element_as_str()}")
        return fixed, space

    def sweep(self, arguments: list[str]):
        from hydra.core.utils import JobStatus
        from optuna.trial import TrialState

        fixed, space = self.split(arguments)
        sweep_dir = Path(self.config.hydra.sweep.dir)
        sweep_dir.mkdir(parents=True, exist_ok=True)
        OmegaConf.save(self.config, sweep_dir / "multirun.yaml")
        study, url = self.open_study(sweep_dir)
        fail_stale_trials(study, self.grace_s)
        log.info("Optuna study %r in %s: %d trials so far; this launch adds %d", self.study_name,
                 url, len(study.trials), self.n_trials)
        # The pruner lives in the study object, not the storage: each trial builds its own.
        pruner = "{" + ",".join(f"{k}:{v}" for k, v in self.pruner_settings.items()) + "}"
        returns, started = [], 0
        while started < self.n_trials:
            trials = [study.ask(space) for _ in range(min(self.n_jobs, self.n_trials - started))]
            started += len(trials)
            batch = [[*fixed, *(as_override(k, v) for k, v in t.params.items()),
                      f"optuna={{study:'{self.study_name}',storage:'{url}',trial:{t.number},"
                      f"pruner:{pruner}}}",
                      # run dirs named by trial: workers sharing a sweep dir never collide
                      f"hydra.sweep.subdir=trial_{t.number}"]
                     for t in trials]
            self.validate(batch)
            with Heartbeat(study._storage, [t._trial_id for t in trials], self.heartbeat_s):
                results = self.launcher.launch(batch, initial_job_idx=trials[0].number)
            for trial, result in zip(trials, results, strict=True):
                value = result.return_value if result.status == JobStatus.COMPLETED else None
                if value == PRUNED:
                    study.tell(trial, state=TrialState.PRUNED)
                elif isinstance(value, int | float) and math.isfinite(value):
                    study.tell(trial, float(value))
                else:
                    study.tell(trial, state=TrialState.FAIL)
            returns.append(results)
        self.write_results(study, sweep_dir)
        return returns

    def open_study(self, sweep_dir: Path):
        """Create or load the study. Workers that start together race to create the database
        schema (SQLite: "UNIQUE constraint failed: alembic_version"), so a local file is
        opened under a lock, and any storage is retried a few times."""
        import optuna

        lock_file = None
        spec = self.storage_spec or ""
        if not spec or spec.startswith("sqlite:///"):
            db = Path(spec.removeprefix("sqlite:///")) if spec else sweep_dir / "optuna.db"
            db.parent.mkdir(parents=True, exist_ok=True)
            lock_file = db.with_name(db.name + ".lock")
        attempts = 5
        for attempt in range(1, attempts + 1):
            try:
                with file_lock(lock_file):
                    storage, url = make_storage(self.storage_spec, sweep_dir)
                    return optuna.create_study(
                        study_name=self.study_name, storage=storage,
                        sampler=make_sampler(self.sampler_settings),
                        pruner=make_pruner(self.pruner_settings), direction=self.direction,
                        load_if_exists=True), url
            except Exception:  # noqa: BLE001 - a concurrent creator: wait and load it
                if attempt == attempts:
                    raise
                time.sleep(attempt)

    def write_results(self, study, sweep_dir: Path) -> None:
        from optuna.trial import TrialState

        counts = {state.name.lower(): len(study.get_trials(deepcopy=False, states=(state,)))
                  for state in (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL,
                                TrialState.RUNNING)}
        results = {"study_name": self.study_name, "trials": counts}
        if counts["complete"]:
            best = study.best_trial
            results.update(best_trial=best.number, best_value=best.value, best_params=best.params)
        OmegaConf.save(OmegaConf.create(results), sweep_dir / "optimization_results.yaml")
        log.info("study %r: %s", self.study_name, results)
