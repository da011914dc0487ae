"""Hydra finds sweepers only under the `hydra_plugins` package: this is aelab's Optuna
sweeper's entry there (`hydra/sweeper=optuna`, conf/hydra/sweeper/optuna.yaml). The work is
in aelab.optuna_sweeper; importing this module stays cheap, as Hydra imports every plugin
module at start-up."""

from hydra.plugins.sweeper import Sweeper


class OptunaSweeper(Sweeper):
    def __init__(self, **settings):
        from aelab.optuna_sweeper import OptunaSearch

        self.search = OptunaSearch(**settings)

    def setup(self, *, hydra_context, task_function, config) -> None:
        self.search.setup(hydra_context=hydra_context, task_function=task_function,
                          config=config, validate=self.validate_batch_is_legal)
        self.hydra_context, self.config = hydra_context, config

    def sweep(self, arguments: list[str]):
        return self.search.sweep(arguments)
