"""What an Optuna study with pruning did, from its storage: the trial counts by state, the best
trial and the study's wall clock.

    python experiments/latent_depth_optimizer/optuna_summary.py --storage URL

The trials' own records (state, epochs run, seconds per epoch, objective, and the training
time pruning saved: each pruned trial's epochs not run times its measured seconds per epoch)
are the `trials` table of study.yaml: `python compare.py --study
experiments/latent_depth_optimizer --table trials` writes optuna/trials.md from the trial dirs.
"""

import argparse


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
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
    starts = [t.datetime_start for t in trials if t.datetime_start]
    ends = [t.datetime_complete for t in trials if t.datetime_complete]
    if starts and ends:
        print(f"wall clock of the study: {(max(ends) - min(starts)).total_seconds() / 60:.1f} min")


if __name__ == "__main__":
    main()
