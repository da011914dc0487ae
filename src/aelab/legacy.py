"""Run directories saved before the model-layer redesign (2026-11-27) still load.

Their `.hydra/config.yaml` names the old modules (`aelab.models.text_vae.TextVAE`) and the old
flat options (`model.skip_latent`, `model.free_nats`, `model.noise.drop`, ...), and lacks the
options added since (`model.residual`, `model.net.latent`, `callbacks.ema.warmup`, ...:
`ADDED`). `upgrade` rewrites such a config into today's form: the same model, whose checkpoint
loads unchanged (the parameter names did not move). eval, generate, the notebook and the code
prior call it on every saved config; a config in today's form passes through untouched.
"""

from omegaconf import DictConfig, OmegaConf, open_dict

MOVED = {  # old module path -> new, for the `_target_`s a saved run can hold
    "aelab.models.image_ae.": "aelab.models.image.autoencoder.",
    "aelab.models.image_vae.": "aelab.models.image.vae.",
    "aelab.models.vqvae.": "aelab.models.image.vqvae.",
    "aelab.models.code_prior.": "aelab.models.image.code_prior.",
    "aelab.models.text_lm.": "aelab.models.text.lm.",
    "aelab.models.text_ae.": "aelab.models.text.autoencoder.",
    "aelab.models.text_vae.": "aelab.models.text.vae.",
    "aelab.nets.conv.": "aelab.nets.image.conv.",
    "aelab.nets.mlp.": "aelab.nets.image.mlp.",
    "aelab.nets.vq.": "aelab.nets.image.vq.",
}
RNN_NETS = ("aelab.nets.text.rnn.RNNEncoder", "aelab.nets.text.rnn.RNNDecoder")
# Options added since a run could have been saved: (class, option) -> the value every run
# before them had. The model's own, its net's (`model.net`) and the callbacks'.
ADDED = {
    ("aelab.models.image.autoencoder.ImageAutoencoder", "residual"): False,
    ("aelab.models.image.autoencoder.ImageAutoencoder", "loss_border"): 0,
    ("aelab.models.image.autoencoder.ImageAutoencoder", "linear_path"): "none",
    ("aelab.models.image.autoencoder.ImageAutoencoder", "code_norm"): "none",
    ("aelab.models.image.vae.ImageVAE", "likelihood"): "discretized_gaussian",
    ("aelab.models.image.vae.ImageVAE", "mixture_components"): 5,
    ("aelab.models.image.vae.ImageVAE", "prior"): "standard",
    ("aelab.models.image.vae.ImageVAE", "prior_components"): 16,
    ("aelab.models.text.vae.TextVAE", "prior"): "standard",
    ("aelab.models.text.vae.TextVAE", "prior_components"): 16,
    ("aelab.nets.image.conv.ConvAutoencoder", "latent"): "dense",
    ("aelab.nets.image.resnet.ResNetAutoencoder", "latent"): "dense",
    ("aelab.nets.image.resnet.ResNetAutoencoder", "attention"): False,
    ("aelab.nets.image.resnet.ResNetAutoencoder", "heads"): 1,
    ("aelab.nets.image.unet.UNet", "shuffle"): 1,
    ("aelab.nets.image.unet.UNet", "res_scale"): 1.0,
    ("aelab.nets.image.unet.UNet", "bias_free"): False,
    # a run of the latent diffusion prior before its code cache encoded every batch
    ("aelab.models.latent_diffusion.LatentDiffusion", "cache_codes"): False,
    # callbacks=ema before its span and warm-up (issue 35): a fixed decay from the first update
    ("aelab.callbacks.ema.EMA", "span"): None,
    ("aelab.callbacks.ema.EMA", "warmup"): False,
}


def upgrade(cfg: DictConfig) -> bool:
    """Rewrite an old run config in place into today's form; True if anything changed."""
    model = cfg.get("model")
    if not OmegaConf.is_dict(model) or "_target_" not in model:
        return False
    moved = _move(cfg, model)
    callbacks = cfg.get("callbacks")
    nodes = [model, model.get("net"),
             *(callbacks.values() if OmegaConf.is_dict(callbacks) else [])]
    return _add_options(nodes) or moved


def _add_options(nodes: list) -> bool:
    """Fill the options added since the run with the value it ran with."""
    changed = False
    for node in nodes:
        if not OmegaConf.is_dict(node) or "_target_" not in node:
            continue
        for (target, key), value in ADDED.items():
            if node._target_ == target and key not in node:
                with open_dict(node):
                    node[key] = value
                changed = True
    return changed


def _move(cfg: DictConfig, model: DictConfig) -> bool:
    """Modules and options of the model-layer redesign."""
    old = str(model._target_)
    new = next((old.replace(a, b) for a, b in MOVED.items() if old.startswith(a)), old)
    if new == old:
        return False
    with open_dict(cfg):  # a loaded config may be struct: keys move
        model._target_ = new
        if OmegaConf.is_dict(model.get("net")):
            target = str(model.net._target_)
            model.net._target_ = next((target.replace(a, b) for a, b in MOVED.items()
                                       if target.startswith(a)), target)
        if "channels_last" in model:
            channels_last = model.pop("channels_last")
            if OmegaConf.is_dict(model.get("net")) and "norm" in model.net:  # the conv nets
                model.net.channels_last = channels_last
        if new.endswith("CodePrior"):
            model.pop("latent_dim", None)
        if ".text." in new:
            _text_nets(model)
        if "anneal_steps" in model:
            _kl_options(model)
        if OmegaConf.is_dict(model.get("noise")):
            noise = {k: v for k, v in model.pop("noise").items()}
            if any(noise.values()):
                cfg.corruption = {"_target_": "aelab.data.text_noise.WordNoise", "drop": 0.0,
                                  "blank": 0.0, "substitute": 0.0, "shuffle": 0, **noise}
                cfg.corruption.shuffle = int(cfg.corruption.shuffle)
    return True


def _text_nets(model: DictConfig) -> None:
    lm = model._target_.endswith("LanguageModel")
    cell = model.pop("cell", "lstm")
    bidirectional = model.pop("bidirectional", False)
    pool = model.pop("pool", "last")
    tie = model.pop("tie_embeddings", False)
    skip_latent, skip_gate = model.pop("skip_latent", False), model.pop("skip_gate", False)
    model.decoder = {"_target_": RNN_NETS[1], "_partial_": True, "cell": cell,
                     "tie_embeddings": tie,
                     "skip": "none" if lm or not skip_latent else ("gated" if skip_gate else "add")}
    if lm:
        model.pop("latent_dim", None)
    else:
        model.encoder = {"_target_": RNN_NETS[0], "_partial_": True, "cell": cell,
                         "bidirectional": bidirectional, "pool": pool}
    if model._target_.endswith("TextAutoencoder") and "code_norm" not in model:
        model.code_norm = "none"


def _kl_options(model: DictConfig) -> None:
    free_bits, free_nats = model.pop("free_bits", 0.0), model.pop("free_nats", 0.0)
    steps = model.pop("anneal_steps")
    model.kl_anneal = 0.2
    model.kl_anneal_steps = steps or None
    if not steps:  # 0 steps: the old schedules gave beta throughout
        model.kl_schedule = "none"
    model.kl_cycle_ratio = model.pop("anneal_ratio", 0.5)
    # Old runs could set both floors (the total on top of the per-dimension one); eval and
    # generate do not train, and the per-dimension floor is kept.
    model.kl_floor = "per_dim" if free_bits else ("total" if free_nats else "none")
    model.kl_floor_nats = free_bits or free_nats or 0.0
