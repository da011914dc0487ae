"""Second stage of any autoencoder run: a diffusion prior over its codes (latent diffusion,
Rombach et al., 2022, on a frozen first stage).

    python train.py model=conv_ae ... hydra.run.dir=RUN1     # or resnet_ae, conv_vae, lstm_ae, ...
    python train.py model=latent_diffusion model.ae_run=RUN1 <the same data> hydra.run.dir=RUN2
    python generate.py run_dir=RUN2 task=sample              # or task=interpolate

The autoencoder of RUN1 (plain image AE, with or without `linear_path=pca`; image VAE or
hvae: posterior means; a VQ-VAE: its pre-quantisation vectors, quantised when decoded; text
AE or VAE) is loaded from its saved config (the allowlist, as the code prior loads its
VQ-VAE) and best checkpoint, and stays frozen. Its codes are centred on their per-dimension
training mean and divided by one scalar, their overall standard deviation, as latent
diffusion scales its codes to unit variance; mean and scale are buffers, so every checkpoint
carries them. Both are measured once at the start of fit on (up to STATS_CODES of) the
training split.

The autoencoder is frozen, so a training image's code never changes: with `cache_codes` the
whole training split is encoded once at the start of fit (up to CACHE_BYTES of codes) and a
training step looks its batch's codes up instead of running the encoder again. It finds them
by the training loader's own sampler, rebuilt for the epoch (the same seed, epoch and rank give
the same index batches), so the data's order and resume stay as for any run; the first batch of
every epoch (or of a resumed one) is also encoded and compared with its cached codes, and
where they differ (data augmentation, which the cache does not see, or a data module whose
batches come otherwise) the run says so once and encodes every batch from then on. Validation
and test batches are always encoded.

The denoiser (`model.denoiser`): `mlp`, a residual MLP over the flat code (nets/
latent_denoiser.py), or `unet`, a small U-Net over the code map (nets/latent_unet.py) for a
spatial code: conv / resnet nets with `model.net.latent=spatial` (and no linear path, whose
PCA code is global) and VQ-VAE grids. `auto` takes the U-Net wherever the code is a map.

Class conditioning (`model.conditional=true`; the data's `data.label_column`, batches then
carry labels beside the images): the denoiser adds a learned class embedding to its time
embedding, with one extra index for "no class"; training swaps a label for it with
probability `cond_drop`, so one net is both the conditional and the unconditional model,
and sampling with classes mixes the two (classifier-free guidance, Ho & Salimans, 2022):
uncond + w (cond - uncond), w = `guidance` (1: plain conditional; 0: unconditional).
Sampling without classes draws from the unconditional model.

`loss` is the objective's mean squared error per code dimension (ddpm: of the noise or v;
flow: of the velocity) at a uniform random time; val/test draw the same times and noise for
the same batch every epoch, so val/loss is comparable between epochs. It is not a
likelihood.
"""

import logging
from pathlib import Path
from typing import Literal

import lightning as L
import torch
import torch.nn.functional as F
from hydra.utils import get_class

from aelab.data.corruption import step_generator
from aelab.errors import AelabError
from aelab.models.capabilities import Capabilities
from aelab.models.optim import configure
from aelab.models.stages import StepsByStage
from aelab.nets.latent_denoiser import LatentDenoiser
from aelab.nets.latent_unet import LatentUNet
from aelab.objectives.diffusion import guided, process
from aelab.options import DropProbability, NonNegativeFloat, PositiveInt, Probability
from aelab.run_dir import best_checkpoint, instantiate_model, load_run_config, load_weights

log = logging.getLogger(__name__)
STATS_CODES = 10_000  # a per-dimension mean and one scale settle long before this
CACHE_BYTES = 2 * 2**30  # a larger training split's codes are encoded per batch instead
AUTOENCODERS = ("conv_ae, mlp_ae, resnet_ae, conv_vae, resnet_vae, hvae, conv_vqvae, "
                "resnet_vqvae, lstm_ae, transformer_ae, lstm_vae, transformer_vae")


def check_autoencoder_class(cls: type, run_dir: str) -> None:
    """One line naming the problem and the fix for a run whose codes this prior cannot model."""
    from aelab.objectives.autoencoder import AutoencoderObjective
    from aelab.objectives.vae import VAEObjective
    from aelab.objectives.vq import VQObjective

    # The objectives with a code, of either modality; a VQ-VAE's codes here are its
    # pre-quantisation vectors.
    if not issubclass(cls, AutoencoderObjective | VAEObjective | VQObjective):
        raise AelabError(f"model.ae_run={run_dir} is a {cls.__name__} run, not an autoencoder "
                         f"with a continuous code; give the run dir of one of: {AUTOENCODERS}")


def load_autoencoder(run_dir: str, trust_run_config: bool, image_shape, vocab_size):
    """The frozen autoencoder of `run_dir`, built for this run's data, with its best weights."""
    run = Path(run_dir).expanduser()
    cfg = load_run_config(run, trust_run_config)
    cls = get_class(cfg.model._target_)  # on the allowlist: load_run_config checked it
    check_autoencoder_class(cls, run_dir)
    facts = {"image_shape": image_shape} if cls.modality == "image" else {"vocab_size": vocab_size}
    given = "text" if image_shape is None else "image"
    if None in facts.values():
        kind = "an image" if cls.modality == "image" else "a text"
        raise AelabError(f"model.ae_run={run_dir} is {kind} autoencoder ({cls.__name__}) but "
                         f"this run's data is {given} data; train the prior "
                         f"on the data of the autoencoder run (its .hydra/config.yaml, data)")
    ae = instantiate_model(cfg, **facts)
    best_checkpoint(run)  # a run without its checkpoint: that error, as it is
    try:
        load_weights(ae, run)
    except AelabError as err:  # a state dict of other sizes: other images or vocabulary
        data = f"images of shape {tuple(image_shape)}" if image_shape else f"{vocab_size} words"
        raise AelabError(f"model.ae_run={run_dir}: its weights do not fit this run's data "
                         f"({data}); train the prior on the data of the autoencoder run "
                         f"({str(err)[:200]})") from None
    if not ae.can("interpolate"):  # a unet or a residual model: no code to decode from
        raise AelabError(f"model.ae_run={run_dir} is a {cls.__name__} without a code it decodes "
                         f"from (no vector code, or model.residual=true); give a bottleneck "
                         f"autoencoder run: {AUTOENCODERS}")
    return ae.requires_grad_(False).eval()


def slerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Spherical interpolation along the last dim: Gaussian noise keeps its norm on the way
    (a straight line's midpoint has ~0.71 of it, a code the prior has never seen)."""
    cos = (F.normalize(a, dim=-1) * F.normalize(b, dim=-1)).sum(-1, keepdim=True)
    omega = torch.acos(cos.clamp(-1 + 1e-6, 1 - 1e-6))
    return (torch.sin((1 - t) * omega) * a + torch.sin(t * omega) * b) / torch.sin(omega)


def code_map_shape(ae, code_shape: tuple[int, ...]) -> tuple[int, int, int] | str:
    """(k, h, w) of an image autoencoder's code where its floats are a map (one place of the
    image each); else why not, in words, for the U-Net's refusal."""
    if len(code_shape) == 3:  # a VQ-VAE hands its pre-quantisation grid over as a map
        return code_shape
    net = getattr(ae, "net", None)
    if getattr(net, "latent", None) == "spatial":  # conv / resnet nets: handed over flat
        _, h, w = net.feature_shape
        return code_shape[0] // (h * w), h, w
    if getattr(getattr(net, "net", None), "latent", None) == "spatial":  # WithLinearPath
        return ("a spatial code with PCA's global components added (model.linear_path=pca); "
                "train the autoencoder with model.linear_path=none")
    return (f"a vector code of {code_shape[0]} floats; train the autoencoder with "
            "model.net.latent=spatial (conv_ae, resnet_ae, conv_vae, resnet_vae) or a VQ-VAE")


def pick_denoiser(denoiser: str, ae, code_shape: tuple[int, ...], ae_run: str) -> str | tuple:
    """"mlp", or the code map's shape for the U-Net (`auto`: the U-Net wherever there is one)."""
    if denoiser == "mlp":
        return "mlp"
    shape = code_map_shape(ae, code_shape) if ae.modality == "image" else (
        f"a text autoencoder's vector code of {code_shape[0]} floats, no map")
    if isinstance(shape, tuple):
        return shape
    if denoiser == "unet":
        raise AelabError(f"model.denoiser=unet runs over a code map, but model.ae_run={ae_run} "
                         f"has {shape}; model.denoiser=mlp (or auto) takes any code")
    return "mlp"


class LatentDiffusion(Capabilities, StepsByStage, L.LightningModule):
    modality = None  # the autoencoder's: set from ae_run (the config check skips it)
    tasks = frozenset({"sample", "interpolate"})
    has_prior = True
    gaussian_prior = True
    instead = {task: "it is a prior over an autoencoder's codes; run that task on its "
                     "autoencoder run (model.ae_run)"
               for task in ("reconstruct", "denoise", "upscale")}
    dashboard = {"latent diffusion": {
        "loss (mean squared error per code dimension)": [r"^train/loss(_epoch)?$", r"^val/loss$"]}}

    @staticmethod
    def needs_labels(model_cfg) -> bool:
        """aelab.run.build_datamodule: batches carry class labels only for a conditional prior."""
        return bool(model_cfg.get("conditional"))

    def __init__(self, ae_run: str, optimizer, *, objective: Literal["ddpm", "flow"],
                 prediction: Literal["eps", "v"], sampler: Literal["auto", "ddim", "euler", "heun"],
                 sample_steps: PositiveInt, denoiser: Literal["auto", "mlp", "unet"],
                 depth: PositiveInt, width: PositiveInt, unet_channels: PositiveInt,
                 unet_levels: PositiveInt, unet_blocks: PositiveInt,
                 dropout: DropProbability, conditional: bool, cond_drop: Probability,
                 guidance: NonNegativeFloat, trust_run_config: bool, cache_codes: bool,
                 image_shape: tuple[int, int, int] | None = None, vocab_size: int | None = None,
                 num_classes: int | None = None, scheduler=None, monitor: str = "val/loss",
                 corruption=None):
        super().__init__()
        if not ae_run:
            raise AelabError(f"model.ae_run is not set: give the run dir of an autoencoder run "
                             f"({AUTOENCODERS})")
        if corruption is not None:
            raise AelabError("corruption: the latent diffusion prior models the codes of clean "
                             "data; set corruption=none")
        self.process = process(objective, prediction)
        if sampler == "auto":
            sampler = self.process.samplers[-1]  # ddpm: ddim; flow: heun
        if sampler not in self.process.samplers:
            raise AelabError(f"model.sampler={sampler} does not sample model.objective="
                             f"{objective}; use model.sampler={' or '.join(self.process.samplers)}"
                             " (or auto)")
        self.sampler, self.sample_steps = sampler, sample_steps
        self.ae = load_autoencoder(ae_run, trust_run_config, image_shape, vocab_size)
        self.ae_run = str(ae_run)
        self.modality = self.ae.modality
        if self.modality == "image":
            with torch.no_grad():
                self.code_shape = tuple(self.ae.encode(torch.zeros(1, *image_shape)).shape[1:])
        else:
            self.code_shape = (self.ae.latent_dim,)
        dim = int(torch.tensor(self.code_shape).prod())
        # The classes come from the data (build_datamodule asked it for labels: needs_labels).
        if conditional and not num_classes:
            raise AelabError("model.conditional=true needs class labels, and this run's data has "
                             "none; use labelled image data (data.label_column=<column>) or "
                             "model.conditional=false")
        self.num_classes = int(num_classes) if conditional else 0
        self.cond_drop, self.guidance = cond_drop, guidance
        choice = pick_denoiser(denoiser, self.ae, self.code_shape, self.ae_run)
        if choice == "mlp":
            self.x_shape = (dim,)  # what the denoiser sees of one code
            self.denoiser = LatentDenoiser(dim, width, depth, dropout, self.num_classes)
        else:
            self.x_shape = choice
            self.denoiser = LatentUNet(choice, unet_channels, unet_levels, unet_blocks,
                                       dropout=dropout, num_classes=self.num_classes)
        self.register_buffer("code_mean", torch.zeros(dim))
        self.register_buffer("code_scale", torch.ones(()))
        self.register_buffer("stats_done", torch.zeros((), dtype=torch.bool))
        self.optimizer, self.scheduler, self.monitor = optimizer, scheduler, monitor
        self.cache_codes = cache_codes
        self.code_cache: torch.Tensor | None = None  # the training split's codes (not saved)
        self.epoch_batches: list[list[int]] | None = None  # this epoch's index batches
        self.cache_checked = False  # this epoch's first batch here was compared with the cache

    def train(self, mode: bool = True):
        super().train(mode)
        self.ae.eval()  # frozen: BatchNorm statistics and dropout must not move
        return self

    # -- codes -------------------------------------------------------------------------------
    def ae_codes(self, *inputs) -> torch.Tensor:
        """The autoencoder's codes of a batch (images, or tokens and lengths), flat: (N, D)."""
        with torch.no_grad():
            return self.ae.encode(*inputs).flatten(1).float()

    def normalize(self, codes: torch.Tensor) -> torch.Tensor:
        """Codes (N, D) -> unit-scale codes in the denoiser's shape: (N, D) or (N, k, h, w)."""
        return ((codes - self.code_mean) / self.code_scale).view(len(codes), *self.x_shape)

    def denormalize(self, x: torch.Tensor) -> torch.Tensor:
        return (x.flatten(1) * self.code_scale + self.code_mean).view(len(x), *self.code_shape)

    def on_fit_start(self) -> None:
        """The codes' mean and scale, once (a resumed run has them from its checkpoint)."""
        datamodule = self.trainer.datamodule
        if self.modality == "text":
            check_same_vocabulary(datamodule, self.ae_run)
        if self.cache_codes:
            self.code_cache = self.encode_training_split(datamodule)
        if bool(self.stats_done):
            return
        codes = (self.code_cache[:STATS_CODES] if self.code_cache is not None else
                 torch.cat(list(training_codes(self, datamodule, STATS_CODES))))
        self.code_mean.copy_(codes.mean(0))
        self.code_scale.copy_((codes - codes.mean(0)).std().clamp_min(1e-8))
        self.stats_done.fill_(True)
        log.info("latent diffusion: %d training codes of %d floats, scale %.4g", len(codes),
                 codes.shape[1], float(self.code_scale))

    def batch_inputs(self, batch) -> tuple:
        if self.modality == "text":
            return batch["tokens"], batch["lengths"]
        return (batch[0] if isinstance(batch, list | tuple) else batch,)

    # -- training ----------------------------------------------------------------------------
    def encode_training_split(self, datamodule) -> torch.Tensor | None:
        """Every training example's code, in the split's order; None where they would take
        more than CACHE_BYTES."""
        size = (len(datamodule.splits["train"]) if self.modality == "image"
                else len(datamodule.ids["train"]))
        dim = int(torch.tensor(self.code_shape).prod())
        if size * dim * 4 > CACHE_BYTES:
            log.info("latent diffusion: %d training codes of %d floats are more than %d MB; "
                     "encoding every batch instead", size, dim, CACHE_BYTES >> 20)
            return None
        return torch.cat(list(training_codes(self, datamodule, size)))

    def on_train_epoch_start(self) -> None:
        """The index batches the training loader hands over this epoch, from a copy of its
        sampler (a sampler gives the same batches for the same seed, epoch and rank)."""
        self.epoch_batches, self.cache_checked = None, False
        if self.code_cache is not None:
            sampler = self.trainer.datamodule.train_dataloader().sampler
            sampler.set_epoch(self.current_epoch)
            self.epoch_batches = list(sampler)

    def cached_codes(self, batch, batch_idx: int) -> torch.Tensor | None:
        """The training batch's codes from the cache (None: encode it). The first batch each
        epoch (or after a resume within one) is also encoded, to check that the cache and the
        loader agree."""
        if self.epoch_batches is None or batch_idx >= len(self.epoch_batches):
            return None
        index = torch.as_tensor(self.epoch_batches[batch_idx], device=self.code_cache.device)
        codes = self.code_cache[index]
        if not self.cache_checked:
            self.cache_checked = True
            encoded = self.ae_codes(*self.batch_inputs(batch))
            if encoded.shape != codes.shape or not torch.allclose(encoded, codes, rtol=1e-3,
                                                                   atol=1e-4 * codes.abs().max()):
                log.warning("latent diffusion: the training batches are not the training split's "
                            "examples as they are (data augmentation?); the cached codes are "
                            "dropped and every batch is encoded")
                self.code_cache = self.epoch_batches = None
                return encoded
        return codes

    def _step(self, batch, stage: str, batch_idx: int) -> torch.Tensor:
        codes = self.cached_codes(batch, batch_idx) if stage == "train" else None
        x0 = self.normalize(codes if codes is not None else self.ae_codes(*self.batch_inputs(batch)))
        generator = step_generator(stage, batch_idx, x0.device)
        cond = {}
        if self.num_classes:  # batches are (images, labels); some labels become "no class"
            labels = batch[1]
            drop = torch.rand(len(labels), device=labels.device, generator=generator) < self.cond_drop
            cond["labels"] = labels.masked_fill(drop, self.num_classes)
        loss = self.process.loss(self.denoiser, x0, generator, **cond).mean()
        self.log(f"{stage}/loss", loss, on_step=stage == "train", on_epoch=True, prog_bar=True,
                 batch_size=len(x0), sync_dist=stage != "train")
        return loss

    def configure_optimizers(self):
        return configure(self.denoiser.named_parameters(), self.optimizer, self.scheduler,
                         self.monitor, lambda: self.trainer.estimated_stepping_batches)

    # -- generation --------------------------------------------------------------------------
    def class_labels(self, classes, n: int) -> torch.Tensor:
        """Labels for n samples from generate.py's `classes` (a class, a list, or "all"), in
        blocks of consecutive samples (a grid's rows), as evenly as n allows."""
        if not self.num_classes:
            raise AelabError(f"classes={classes}: this prior was trained without class labels "
                             "(model.conditional=false); drop classes=, or train one with "
                             "model.conditional=true")
        wanted = list(range(self.num_classes)) if classes == "all" else (
            list(classes) if isinstance(classes, list | tuple) else [classes])
        bad = [c for c in wanted if not isinstance(c, int) or not 0 <= c < self.num_classes]
        if bad or not wanted:
            raise AelabError(f"classes={classes}: give class indices in 0..{self.num_classes - 1}"
                             " (one, a list [0,3], or all)")
        return torch.tensor(wanted, device=self.device)[torch.arange(n) * len(wanted) // n]

    def net(self, labels: torch.Tensor | None):
        """The denoiser as the sampler calls it: unconditional without labels, guided with."""
        if labels is None:
            return self.denoiser
        return guided(self.denoiser, labels, self.num_classes, self.guidance)

    @torch.no_grad()
    def sample_codes(self, n: int, prior_temperature: float = 1.0,
                     labels: torch.Tensor | None = None) -> torch.Tensor:
        """n codes of the autoencoder, from noise N(0, prior_temperature^2 I) through the
        sampler (below 1: the deterministic sampler maps a smaller ball of noise, fewer of
        the rare codes, as a VAE's temperature does; not the diffusion papers' guidance),
        of the classes `labels` (guided) if given."""
        noise = torch.randn(n, *self.x_shape, device=self.device) * prior_temperature
        return self.denormalize(self.process.sample(self.net(labels), noise, self.sample_steps,
                                                    self.sampler))

    @torch.no_grad()
    def sample(self, n: int, prior_temperature: float = 1.0,
               labels: torch.Tensor | None = None, **decoding):
        """Images in [0, 1] (image runs) or token ids (text runs: `decoding` as the text
        models take it, greedy by default)."""
        codes = self.sample_codes(n, prior_temperature, labels)
        if self.modality == "image":
            return self.ae.decode(codes)
        return self.ae.generate(codes, n, **{"strategy": "greedy", **decoding})

    @torch.no_grad()
    def encode(self, *inputs) -> torch.Tensor:
        """The noise each example's code is sampled from: the sampler run backwards (DDIM
        inversion for ddpm, the flow's ODE forwards), so interpolations pass through noise."""
        x0 = self.normalize(self.ae_codes(*inputs))
        return self.process.invert(self.denoiser, x0, self.sample_steps, self.sampler)

    @torch.no_grad()
    def decode(self, noise: torch.Tensor) -> torch.Tensor:
        """Images from noise (the sampler, then the autoencoder's decoder)."""
        codes = self.process.sample(self.denoiser, noise, self.sample_steps, self.sampler)
        return self.ae.decode(self.denormalize(codes))

    @torch.no_grad()
    def generate(self, noise: torch.Tensor, n: int, **decoding) -> torch.Tensor:
        """Sentences (token ids) from noise, decoded by the text autoencoder."""
        codes = self.process.sample(self.denoiser, noise, self.sample_steps, self.sampler)
        return self.ae.generate(self.denormalize(codes), n, **decoding)

    def mix(self, a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """Points between two noises for the interpolation task: along the sphere of the
        whole code (a code map's every float, not each row of it)."""
        k = len(self.x_shape)
        point = slerp(a.flatten(-k), b.flatten(-k), t.flatten(-k))
        return point.unflatten(-1, self.x_shape)


def training_codes(model: LatentDiffusion, datamodule, limit: int, chunk: int = 256):
    """The autoencoder's codes of the first `limit` training examples, in chunks."""
    if model.modality == "image":
        from aelab.data.image import to_unit_float

        for batch in datamodule.splits["train"][:limit].split(chunk):
            yield model.ae_codes(to_unit_float(batch.to(model.device)))
        return
    from aelab.data.text import TokenBatches

    ids = datamodule.ids["train"][:limit]
    for start in range(0, len(ids), chunk):
        batch = TokenBatches(ids)[list(range(start, min(start + chunk, len(ids))))]
        yield model.ae_codes(batch["tokens"].to(model.device), batch["lengths"].to(model.device))


def check_same_vocabulary(datamodule, ae_run: str) -> None:
    """Token ids mean the same words here as in the autoencoder's run, or its codes do not
    mean these sentences: the same data gives the same vocabulary."""
    from tokenizers import Tokenizer

    saved = Path(ae_run).expanduser() / "tokenizer.json"
    if saved.exists() and Tokenizer.from_file(str(saved)).get_vocab() != datamodule.tokenizer.get_vocab():
        raise AelabError(f"model.ae_run={ae_run}: this run's vocabulary is not the autoencoder "
                         "run's; train the prior on the data of the autoencoder run (same data.* "
                         "settings)")
