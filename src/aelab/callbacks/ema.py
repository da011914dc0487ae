"""An exponential moving average of the weights (Polyak averaging), validated, tested and saved.

`callbacks=ema` adds it to the default callbacks: after every optimizer step the average moves
towards the weights by 1 - `decay` (0.999: an average over about the last 1,000 steps).
Validation, the best / last checkpoints, the test stage and everything that loads a checkpoint
(eval.py, generate.py) then see the averaged weights; training goes on from the raw ones, so
the run's trajectory is what it would be without it. At a constant learning rate it removes
the step-to-step noise of the last weights the way a decay of the rate would, without slowing
the learning (nanoGPT-style runs, Polyak & Juditsky 1992, Izmailov et al. 2018).

Lightning's `EMAWeightAveraging` does the averaging and the swap; this adds one fix: after
`fit`, `trainer.test(ckpt_path=best)` runs the callback's checkpoint hook again, which would
load the checkpoint's raw weights back into the model, so the test stage would score the
weights the average was meant to replace. Here, outside fitting, the checkpoint's state_dict
(the average) is what the model keeps.
"""

import warnings

from lightning.pytorch.callbacks import EMAWeightAveraging
from lightning.pytorch.trainer.states import TrainerFn

from aelab.options import NonNegativeInt, PositiveInt, Probability


class EMA(EMAWeightAveraging):
    """Lightning's EMA of every parameter and buffer, started after `start_step` steps."""

    def __init__(self, *, decay: Probability, start_step: NonNegativeInt,
                 every_n_steps: PositiveInt):  # their defaults: conf/callbacks/ema.yaml
        super().__init__(decay=decay, update_every_n_steps=every_n_steps,
                         update_starting_at_step=start_step)

    def setup(self, trainer, pl_module, stage: str) -> None:
        with warnings.catch_warnings():  # our configure_model compiles; it shards nothing
            warnings.filterwarnings("ignore", ".*doesn't support sharding model layers.*")
            super().setup(trainer, pl_module, stage)

    def on_load_checkpoint(self, trainer, pl_module, checkpoint: dict) -> None:
        if trainer.state.fn == TrainerFn.FITTING:  # a resume: both weights come back
            super().on_load_checkpoint(trainer, pl_module, checkpoint)
        # Testing / validating a checkpoint: its state_dict is the average; keep it.
