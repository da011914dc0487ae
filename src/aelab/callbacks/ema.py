"""An exponential moving average of the weights (Polyak averaging), validated, tested and saved.

`callbacks=ema` adds it to the default callbacks: after every optimizer step the average moves
towards the weights by 1 - decay. Validation, the best / last checkpoints, the test stage and
everything that loads a checkpoint (eval.py, generate.py) then see the averaged weights;
training goes on from the raw ones, so the run's trajectory is what it would be without it.
At a constant learning rate it removes the step-to-step noise of the last weights the way a
decay of the rate would, without slowing the learning (Polyak averaging, Polyak & Juditsky
1992, in the exponential form that diffusion and GAN trainers keep; experiments/text_wordnet
measures what it gives).

How long the average is, as the averaging literature sets it, so that it means the same on 600
steps as on 60,000:
- `span`: the average spans this fraction of the run's planned optimizer steps (the trainer's
  estimate), turned into a decay at fit start: 1 / (1 - decay) = span x the planned updates.
  `decay` instead fixes the decay per update (it overrides `span`): an average over about
  1 / (1 - decay) updates whatever the run's length, which only the recipes that reproduce a
  historical row pin.
- `warmup`: the decay after n updates is min(decay, (1 + n) / (10 + n)), as TensorFlow's
  `ExponentialMovingAverage(num_updates=...)` does. Without it the average starts as a copy of
  the first weights and keeps decay^n of them: after 648 steps at 0.999, more than half of
  what is validated and tested would still be the barely trained net. With it their share
  falls like n^-9, and early in the run the average spans about the last tenth of the steps.
  The count n is the AveragedModel's `n_averaged` buffer, which the checkpoint carries, so a
  resumed run goes on with the decay the uninterrupted one had.

Lightning's `WeightAveraging` does the averaging and the swap; this adds three things. The
average moves by one foreach lerp over all the weights: a small share of a training step of
the text_wordnet Transformer LM on one CPU thread, several times less than Lightning's own
`EMAWeightAveraging` (one call per tensor) took there. The decay of that lerp follows the
update count (above), kept as a Python int so that no step waits on the device to read it.
And after `fit`, `trainer.test(ckpt_path=best)` runs the callback's checkpoint hook again,
which would load the checkpoint's raw weights back into the model, so the test stage would
score the weights the average was meant to replace; here, outside fitting, the checkpoint's
state_dict (the average) is what the model keeps.
"""

import logging
import math
import warnings
from typing import Annotated

import torch
from lightning.pytorch.callbacks import WeightAveraging
from lightning.pytorch.trainer.states import TrainerFn

from aelab.errors import AelabError
from aelab.options import NonNegativeInt, PositiveInt, Probability, Range

log = logging.getLogger(__name__)

# A share of the run the average spans: never empty.
Span = Annotated[float, Range(gt=0, le=1)]


class EMA(WeightAveraging):
    """An EMA of every parameter and buffer, updated every `every_n_steps` optimizer steps
    from step `start_step` on (the first update copies the weights)."""

    def __init__(self, *, span: Span | None, decay: Probability | None, warmup: bool,
                 start_step: NonNegativeInt,
                 every_n_steps: PositiveInt):  # their defaults: conf/callbacks/ema.yaml
        if span is None and decay is None:
            raise AelabError("callbacks.ema.span and callbacks.ema.decay are both null; set "
                             "callbacks.ema.span=<a fraction of the run, e.g. 0.03> or "
                             "callbacks.ema.decay=<the decay per update>")
        super().__init__(multi_avg_fn=self._move)
        self.span, self.decay, self.warmup = span, decay, warmup
        self.start_step, self.every_n_steps = start_step, every_n_steps
        self.target: float | None = None  # the decay after the warm-up, set at fit start
        self._updates: int | None = None  # n_averaged, read from the device once per fit

    def decay_at(self, updates: int) -> float:
        """The decay of the update after `updates` earlier ones."""
        if self.warmup:
            return min(self.target, (1 + updates) / (10 + updates))
        return self.target

    def planned_updates(self, run_steps: float) -> float:
        return max(1.0, (run_steps - self.start_step) / self.every_n_steps)

    def on_train_start(self, trainer, pl_module) -> None:
        run_steps = float(trainer.estimated_stepping_batches)
        if self.decay is not None:
            self.target = self.decay
        elif math.isinf(run_steps):
            raise AelabError("callbacks.ema.span is a fraction of the run, and this run has no "
                             "end (neither trainer.max_epochs nor trainer.max_steps); give it "
                             "one or set callbacks.ema.decay=<the decay per update>")
        else:  # 1 / (1 - decay) updates make the span; fewer than one: no average at all
            self.target = max(0.0, 1 - 1 / (self.span * self.planned_updates(run_steps)))
        if not self.warmup and not math.isinf(run_steps):
            first = self.target ** (self.planned_updates(run_steps) - 1)
            if first > 0.05:  # the copy of the first weights that is still in the average
                log.warning("callbacks.ema: at decay %.6g without warm-up, %.0f%% of the "
                            "average at the end of this run will still be its first weights; "
                            "set callbacks.ema.warmup=true or callbacks.ema.span",
                            self.target, 100 * first)

    @torch.no_grad()
    def _move(self, averaged: list[torch.Tensor], current: list[torch.Tensor], _) -> None:
        """AveragedModel's `multi_avg_fn`, once per device and dtype of the weights."""
        decay = self.decay_at(self._updates)
        if torch.is_floating_point(averaged[0]) or torch.is_complex(averaged[0]):
            torch._foreach_lerp_(averaged, current, 1 - decay)
        else:  # integer buffers (BatchNorm's batch count), as torch's own EMA does them
            for a, c in zip(averaged, current, strict=True):
                a.copy_(a * decay + c * (1 - decay))

    def should_update(self, step_idx: int | None = None, epoch_idx: int | None = None) -> bool:
        return (step_idx is not None and step_idx >= self.start_step
                and step_idx % self.every_n_steps == 0)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx: int) -> None:
        if self._updates is None:  # a fresh fit: 0; a resumed one: the checkpoint's count
            self._updates = int(self._average_model.n_averaged)
        before = self._latest_update_step
        super().on_train_batch_end(trainer, pl_module, outputs, batch, batch_idx)
        if self._latest_update_step != before:  # AveragedModel counted one more
            self._updates += 1

    def setup(self, trainer, pl_module, stage: str) -> None:
        with warnings.catch_warnings():  # our configure_model compiles; it shards nothing
            warnings.filterwarnings("ignore", ".*doesn't support sharding model layers.*")
            super().setup(trainer, pl_module, stage)
        self._updates = None

    def on_load_checkpoint(self, trainer, pl_module, checkpoint: dict) -> None:
        if trainer.state.fn == TrainerFn.FITTING:  # a resume: both weights come back
            super().on_load_checkpoint(trainer, pl_module, checkpoint)
            self._updates = None  # and with them the update count (n_averaged)
        # Testing / validating a checkpoint: its state_dict is the average; keep it.
