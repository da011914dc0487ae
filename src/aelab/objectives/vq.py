"""The VQ-VAE objective (van den Oord et al., 2017): the encoder's vectors are quantised to
their nearest codebook entries, the decoder reconstructs from those, and the loss is the
modality's reconstruction loss plus the commitment loss the quantiser returns (its codebook
follows an EMA of the vectors assigned to it, so there is no codebook loss). Codebook usage
and perplexity are logged on val and test, the dead-code restarts on val.

A model mixes `VQObjective` in before its modality's base class, whose net has the VQ nets'
interface (nets/image/vq.py: `encode` to continuous vectors, `quantize`, `decode_logits`,
`decode`, a `quantizer`), and supplies `step_source(batch, stage, batch_idx)` and
`score(stage, out, batch, source) -> (loss, weight)` as for the autoencoder objective.
"""

import torch

from aelab.metrics.latent import CodebookUsage


def vq_charts() -> dict[str, list[str]]:
    """The CUSTOM SCALARS charts of the objective (callbacks/dashboard.py)."""
    return {"usage (fraction of codes)": [r"^val/codebook_usage$"],
            "perplexity": [r"^val/codebook_perplexity$"],
            "dead-code restarts": [r"^train/codebook_restarts$"],
            "commitment loss": [r"^(train|val)/commitment(_epoch)?$"]}


class VQObjective:
    tasks = frozenset({"reconstruct", "interpolate"})
    # Its step quantises the code itself: eval.py self_ensemble refuses it.
    self_ensemble = None

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.usage = torch.nn.ModuleDict({stage: CodebookUsage(self.net.quantizer.num_codes)
                                          for stage in ("val", "test")})

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Continuous encoder output; `codes` gives the discrete code grid."""
        return self.net.encode(x)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Quantise continuous vectors, then decode (so interpolations stay on the codebook)."""
        return self.net.decode(self.net.quantize(z)[0])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The reconstruction through the codebook, as the step scores it."""
        return self.decode(self.encode(x))

    def codes(self, x: torch.Tensor) -> torch.Tensor:
        return self.net.quantize(self.net.encode(x))[1]

    @property
    def code_size(self) -> None:
        return None  # a grid of codebook indices, not floats (test/codebook_* describe it)

    def _step(self, batch, stage: str, batch_idx: int) -> torch.Tensor:
        source = self.step_source(batch, stage, batch_idx)
        quantised, codes, commitment = self.net.quantize(self.net.encode(source))
        rec, weight = self.score(stage, self.net.decode_logits(quantised), batch, source)
        loss = rec + commitment
        self.log_loss(stage, loss, weight)
        self.log(f"{stage}/commitment", commitment, on_epoch=True, batch_size=weight,
                 sync_dist=stage != "train")
        if stage in self.usage:
            self.usage[stage].update(codes)
        return loss

    def _log_usage(self, stage: str) -> None:
        for name, value in self.usage[stage].compute().items():
            self.log(f"{stage}/{name}", value)
        self.usage[stage].reset()

    def on_validation_epoch_end(self) -> None:
        self._log_usage("val")
        self.log("train/codebook_restarts", self.net.quantizer.restarts.float())

    def on_test_epoch_end(self) -> None:
        self._log_usage("test")
