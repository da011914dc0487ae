"""A trial of the Optuna sweeper reports its monitored metric after every validation epoch
and stops when the study's pruner says it is hopeless (see aelab.optuna_sweeper)."""

import lightning as L


class OptunaPruning(L.Callback):
    """`trial`: {study, storage, trial, pruner} as the sweeper passes it in the `optuna` key."""

    def __init__(self, trial: dict, monitor: str):
        import optuna

        from aelab.optuna_sweeper import make_pruner, make_storage

        storage, _ = make_storage(trial["storage"], sweep_dir=None)
        study = optuna.load_study(study_name=trial["study"], storage=storage,
                                  pruner=make_pruner(dict(trial.get("pruner") or {})))
        trial_id = storage.get_trial_id_from_study_id_trial_number(study._study_id,
                                                                   int(trial["trial"]))
        self.trial = optuna.trial.Trial(study, trial_id)
        self.monitor, self.pruned_at = monitor, None

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.sanity_checking or self.monitor not in trainer.callback_metrics:
            return
        epoch = trainer.current_epoch
        # After the last epoch there is nothing left to save: report, and let it finish
        # (and be tested) as a complete trial.
        last = trainer.max_epochs is not None and epoch + 1 >= trainer.max_epochs
        prune = False
        if trainer.is_global_zero:
            self.trial.report(float(trainer.callback_metrics[self.monitor]), step=epoch)
            prune = not last and self.trial.should_prune()
        # Every process stops together under DDP.
        if trainer.strategy.reduce_boolean_decision(prune, all=False):
            self.pruned_at = epoch
            trainer.should_stop = True
