"""An exponential moving average of the weights (Polyak averaging), validated, tested and saved.

`callbacks=ema` adds it to the default callbacks: after every optimizer step the average moves
towards the weights by 1 - `decay` (0.999: an average over about the last 1,000 steps).
Validation, the best / last checkpoints, the test stage and everything that loads a checkpoint
(eval.py, generate.py) then see the averaged weights; training goes on from the raw ones, so
the run's trajectory is what it would be without it. At a constant learning rate it removes
the step-to-step noise of the last weights the way a decay of the rate would, without slowing
the learning (Polyak averaging, Polyak & Juditsky 1992, in the exponential form that
diffusion and GAN trainers keep; experiments/text_wordnet measures what it gives).

Lightning's `WeightAveraging` does the averaging and the swap; this adds two things. The
average moves by one foreach lerp over all the weights (`get_ema_multi_avg_fn`): 0.7-1% of a
training step of the text_wordnet Transformer LM on one CPU thread, where Lightning's own
`EMAWeightAveraging` (one call per tensor) takes 2-3.5%. And after `fit`,
`trainer.test(ckpt_path=best)` runs the callback's checkpoint hook again, which would load
the checkpoint's raw weights back into the model, so the test stage would score the weights
the average was meant to replace; here, outside fitting, the checkpoint's state_dict (the
average) is what the model keeps.
"""

import warnings

from lightning.pytorch.callbacks import WeightAveraging
from lightning.pytorch.trainer.states import TrainerFn
from torch.optim.swa_utils import get_ema_multi_avg_fn

from aelab.options import NonNegativeInt, PositiveInt, Probability


class EMA(WeightAveraging):
    """An EMA of every parameter and buffer, updated every `every_n_steps` optimizer steps
    from step `start_step` on (it starts as a copy of the weights)."""

    def __init__(self, *, decay: Probability, start_step: NonNegativeInt,
                 every_n_steps: PositiveInt):  # their defaults: conf/callbacks/ema.yaml
        super().__init__(multi_avg_fn=get_ema_multi_avg_fn(decay))
        self.start_step, self.every_n_steps = start_step, every_n_steps

    def should_update(self, step_idx: int | None = None, epoch_idx: int | None = None) -> bool:
        return (step_idx is not None and step_idx >= self.start_step
                and step_idx % self.every_n_steps == 0)

    def setup(self, trainer, pl_module, stage: str) -> None:
        with warnings.catch_warnings():  # our configure_model compiles; it shards nothing
            warnings.filterwarnings("ignore", ".*doesn't support sharding model layers.*")
            super().setup(trainer, pl_module, stage)

    def on_load_checkpoint(self, trainer, pl_module, checkpoint: dict) -> None:
        if trainer.state.fn == TrainerFn.FITTING:  # a resume: both weights come back
            super().on_load_checkpoint(trainer, pl_module, checkpoint)
        # Testing / validating a checkpoint: its state_dict is the average; keep it.
