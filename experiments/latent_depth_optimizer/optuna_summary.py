"""What an Optuna study with pruning did and saved, from its storage and its trial dirs.

    python experiments/latent_depth_optimizer/optuna_summary.py SWEEP_DIR --storage URL

Prints the best trial, the trial counts by state, and the training time pruning saved: for
each pruned trial, the epochs it did not run (trainer.max_epochs minus the epochs it ran)
times its own measured mean seconds per epoch (time/mean_epoch_s in its metrics.json). That
is the time the same trials would have taken unpruned, less what they took.
"""

import argparse
import json
from pathlib import Path

from omegaconf import OmegaConf


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sweep_dir", type=Path)
    parser.add_argument("--storage", required=True)
    parser.add_argument("--study", default="latent_lr")
    args = parser.parse_args()

    import optuna

    from aelab.optuna_sweeper import make_storage

    study = optuna.load_study(study_name=args.study, storage=make_storage(args.storage, None)[0])
    trials = study.get_trials(deepcopy=False)
    by_state = {}
    for trial in trials:
        by_state[trial.state.name] = by_state.get(trial.state.name, 0) + 1
    print(f"trials: {len(trials)} {by_state}")
    best = study.best_trial
    print(f"best: trial {best.number}, value {best.value:.6g}, params {best.params}")

    ran = saved = full = 0.0
    for trial in trials:
        run = args.sweep_dir / f"trial_{trial.number}"
        metrics_file, config_file = run / "metrics.json", run / ".hydra" / "config.yaml"
        if not metrics_file.exists() or not config_file.exists():
            continue
        metrics = json.loads(metrics_file.read_text())
        max_epochs = OmegaConf.load(config_file).trainer.max_epochs
        epoch_s = metrics.get("time/mean_epoch_s")
        if epoch_s is None:
            continue
        epochs_run = metrics["epoch"] + 1 if metrics.get("pruned") else max_epochs
        ran += epochs_run * epoch_s
        full += max_epochs * epoch_s
        saved += (max_epochs - epochs_run) * epoch_s
        state = "pruned" if metrics.get("pruned") else trial.state.name.lower()
        print(f"  trial {trial.number:2d} {state:8s} epochs {epochs_run}/{max_epochs} "
              f"{epoch_s:6.1f} s/epoch  value {trial.value}  {trial.params}")
    starts = [t.datetime_start for t in trials if t.datetime_start]
    ends = [t.datetime_complete for t in trials if t.datetime_complete]
    if starts and ends:
        print(f"wall clock of the study: {(max(ends) - min(starts)).total_seconds() / 60:.1f} min")
    print(f"training time: {ran / 60:.1f} min run, {full / 60:.1f} min unpruned, "
          f"{saved / 60:.1f} min saved by pruning ({saved / full:.0%})" if full else "no timings")


if __name__ == "__main__":
    main()
