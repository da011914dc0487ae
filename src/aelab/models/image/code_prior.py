"""Second stage of a VQ-VAE: a transformer prior over its code grids, for sampling images.

    python train.py model=conv_vqvae ... hydra.run.dir=RUN1     # or model=resnet_vqvae
    python train.py model=code_prior model.vqvae_run=RUN1 <same data> hydra.run.dir=RUN2
    python generate.py run_dir=RUN2 task=sample

The VQ-VAE of RUN1 is loaded from its config and best checkpoint and stays frozen; each
batch is encoded to codes on the fly. Losses are nats per code; `test/nll` is nats per
image of the code grid.
"""

from pathlib import Path

import lightning as L
import torch
import torch.nn.functional as F
from torchmetrics import MeanMetric

from aelab.errors import AelabError
from aelab.models.capabilities import Capabilities
from aelab.models.optim import configure
from aelab.models.stages import StepsByStage
from aelab.nets.image.code_transformer import CodeTransformer
from aelab.options import DropProbability, PositiveInt
from aelab.run_dir import instantiate_model, load_run_config, load_weights


def load_vqvae(run_dir: str, image_shape: tuple[int, int, int],
               trust_run_config: bool = False) -> L.LightningModule:
    run = Path(run_dir).expanduser()
    cfg = load_run_config(run, trust_run_config)
    if not cfg.model._target_.endswith("ImageVQVAE"):
        raise AelabError(f"model.vqvae_run={run_dir} is a {cfg.model._target_} run; the code "
                         "prior needs a VQ-VAE run (model=conv_vqvae or resnet_vqvae)")
    vqvae = instantiate_model(cfg, image_shape=image_shape)
    load_weights(vqvae, run)
    return vqvae


class CodePrior(Capabilities, StepsByStage, L.LightningModule):
    modality = "image"
    tasks = frozenset({"sample"})
    has_prior = True
    instead = {task: "it needs an autoencoder run (conv_ae, resnet_ae, conv_vae, conv_vqvae, "
                     "resnet_vqvae, ...)"
               for task in ("reconstruct", "interpolate", "denoise", "upscale")}
    dashboard = {"code prior": {"loss (nats per code)": [r"^train/loss(_epoch)?$", r"^val/loss$"]}}

    def __init__(self, vqvae_run: str, image_shape: tuple[int, int, int], optimizer,
                 *, depth: PositiveInt, width: PositiveInt, heads: PositiveInt,
                 dropout: DropProbability, trust_run_config: bool, scheduler=None,
                 monitor: str = "val/loss"):
        super().__init__()
        if not vqvae_run:
            raise AelabError("model.vqvae_run is not set: give the run dir of a VQ-VAE run "
                             "(model=conv_vqvae or resnet_vqvae)")
        self.vqvae = load_vqvae(vqvae_run, image_shape, trust_run_config).requires_grad_(False).eval()
        grid = self.vqvae.net.grid_shape
        self.grid_shape = grid
        self.prior = CodeTransformer(self.vqvae.net.quantizer.num_codes, grid[0] * grid[1],
                                     width, depth, heads, dropout)
        self.optimizer, self.scheduler, self.monitor = optimizer, scheduler, monitor
        self.nll = MeanMetric()

    def train(self, mode: bool = True):
        super().train(mode)
        self.vqvae.eval()  # frozen: BatchNorm statistics and the EMA codebook must not move
        return self

    @torch.no_grad()
    def sample(self, n: int, temperature: float = 1.0) -> torch.Tensor:
        codes = self.prior.sample(n, temperature).view(n, *self.grid_shape)
        return self.vqvae.net.decode_codes(codes)

    def _step(self, images: torch.Tensor, stage: str, batch_idx: int) -> torch.Tensor:
        with torch.no_grad():
            codes = self.vqvae.codes(images).flatten(1)
        logits = self.prior(codes)
        nll_per_code = F.cross_entropy(logits.transpose(1, 2), codes, reduction="none")
        loss = nll_per_code.mean()
        self.log(f"{stage}/loss", loss, on_step=stage == "train", on_epoch=True, prog_bar=True,
                 batch_size=len(images), sync_dist=stage != "train")
        if stage == "test":
            self.nll.update(nll_per_code.sum(1))
            self.log("test/nll", self.nll, on_epoch=True)
        return loss

    def configure_optimizers(self):
        return configure(self.prior.named_parameters(), self.optimizer, self.scheduler, self.monitor,
                         lambda: self.trainer.estimated_stepping_batches)
