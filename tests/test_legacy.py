"""Run directories saved before the model-layer redesign load in today's form."""

from omegaconf import OmegaConf

from aelab.legacy import upgrade
from tests.conftest import compose_config

# The model nodes of real run configs saved by the code before the redesign (commit b5274e0):
# `experiment=history/text_wordnet/vae_fn128`, and lstm_ae with its noise, and conv_vae.
OLD_VAE = """
model:
  _target_: aelab.models.text_vae.TextVAE
  latent_dim: 128
  depth: 1
  width: 128
  embed_dim: 128
  dropout: 0.1
  cell: lstm
  bidirectional: true
  pool: last_max
  tie_embeddings: false
  skip_latent: false
  skip_gate: false
  max_gen_len: 40
  beta: 1.0
  kl_schedule: linear
  anneal_steps: 2000
  anneal_ratio: 0.5
  free_bits: 0.0
  free_nats: 2.2
  word_dropout: 0.1
  iw_samples: 50
"""
OLD_DAE = """
model:
  _target_: aelab.models.text_ae.TextAutoencoder
  latent_dim: 64
  depth: 1
  width: 128
  embed_dim: 128
  dropout: 0.1
  cell: lstm
  bidirectional: true
  pool: last
  tie_embeddings: false
  skip_latent: true
  skip_gate: false
  max_gen_len: 40
  code_norm: none
  noise: {drop: 0.1, blank: 0.1, substitute: 0.0, shuffle: 0.0}
corruption: {}
"""
OLD_IMAGE_VAE = """
model:
  _target_: aelab.models.image_vae.ImageVAE
  latent_dim: 32
  depth: 3
  width: 32
  beta: 1.0
  kl_schedule: linear
  anneal_steps: 1000
  anneal_ratio: 0.5
  free_bits: 0.0
  free_nats: 0.0
  decoder_variance: learned
  decoder_std: 0.1
  iw_samples: 100
  compile: false
  channels_last: false
  net: {_target_: aelab.nets.conv.ConvAutoencoder, _partial_: true, norm: batch, activation: silu}
"""


def upgraded(text: str) -> dict:
    cfg = OmegaConf.create(text)
    assert upgrade(cfg)
    return OmegaConf.to_container(cfg)


def today(*overrides: str) -> dict:
    return OmegaConf.to_container(compose_config(list(overrides)), resolve=False)


def in_steps(model: dict) -> dict:
    """A warm-up in steps makes the fraction unused (old runs set steps)."""
    assert model["kl_anneal_steps"]
    return {k: v for k, v in model.items() if k != "kl_anneal"}


def test_an_old_text_vae_config_is_todays_recipe():
    assert in_steps(upgraded(OLD_VAE)["model"]) == in_steps(
        today("experiment=history/text_wordnet/vae_fn128")["model"])


def test_an_old_denoising_ae_config_gets_the_word_noise_corruption():
    old = upgraded(OLD_DAE)
    new = today("experiment=history/text_wordnet/dae")
    assert old["model"] == new["model"]
    assert old["corruption"] == new["corruption"]


def test_an_old_image_vae_config_is_todays_recipe_and_todays_config_is_left_alone():
    assert in_steps(upgraded(OLD_IMAGE_VAE)["model"]) == in_steps(
        today("experiment=history/image_generation/vae")["model"])
    current = compose_config(["model=lstm_vae"])
    assert not upgrade(current)


# A conv_ae run saved this morning (after the redesign, before `model.residual` and
# `model.net.latent` existed): experiments/fashion_mnist_conv_ae's latent32.
RECENT_AE = """
model:
  _target_: aelab.models.image.autoencoder.ImageAutoencoder
  latent_dim: 32
  depth: 3
  width: 32
  loss: mse
  compile: false
  net:
    _target_: aelab.nets.image.conv.ConvAutoencoder
    _partial_: true
    norm: batch
    activation: silu
    channels_last: false
"""


def test_options_added_since_a_run_get_the_value_it_ran_with():
    cfg = OmegaConf.create(RECENT_AE)
    assert upgrade(cfg)
    assert cfg.model.residual is False and cfg.model.net.latent == "dense"
    # today's conv_ae, as it ran: before the linear path and the PSNR loss were its defaults
    assert cfg.model == compose_config(["model=conv_ae", "model.linear_path=none",
                                        "model.loss=mse"]).model
    assert cfg.model.linear_path == "none"
    assert not upgrade(cfg)  # today's form passes through untouched


# callbacks=ema as a run saved it before the span and the warm-up (issue 35): `experiment=
# history/text_wordnet/transformer_lm_ema`, whose recipe now pins what it ran with.
OLD_EMA = RECENT_AE + """
callbacks:
  ema:
    _target_: aelab.callbacks.ema.EMA
    decay: 0.999
    start_step: 0
    every_n_steps: 1
"""


def test_an_old_ema_run_keeps_its_fixed_decay_without_warm_up():
    cfg = OmegaConf.create(OLD_EMA)
    assert upgrade(cfg)
    ema = OmegaConf.to_container(cfg.callbacks.ema)
    assert ema == today("experiment=history/text_wordnet/transformer_lm_ema")["callbacks"]["ema"]
    assert ema["warmup"] is False and ema["span"] is None
    assert not upgrade(cfg)
    assert not upgrade(compose_config(["callbacks=ema"]))  # today's form passes through


# conv_vqvae's model node as a run saved it before the VQ-VAE became an objective
# (issue 38): the class that subclassed the autoencoder, under the same _target_.
SAVED_VQVAE = """
model:
  _target_: aelab.models.image.vqvae.ImageVQVAE
  latent_dim: 8
  depth: 2
  width: 8
  loss: mse
  compile: false
  net:
    _target_: aelab.nets.image.vq.ConvVQAutoencoder
    _partial_: true
    num_codes: 16
    decay: 0.99
    commitment: 0.25
    restart_below: 0.5
    norm: batch
    activation: silu
    channels_last: false
"""


def test_runs_saved_before_the_objectives_were_composed_build_with_the_same_parameters():
    """The model layer's classes moved onto objectives (issue 38), their _target_s and
    parameter names did not: a saved VQ-VAE and conv_ae config build today, and their
    state_dicts have today's keys, so the runs' checkpoints load."""
    from aelab.run_dir import instantiate_model
    from aelab.saved_config import refuse_unknown_targets

    shape = {"image_shape": (1, 28, 28)}
    for saved, overrides in ((SAVED_VQVAE, ["model=conv_vqvae", "model.latent_dim=8",
                                            "model.width=8", "model.net.num_codes=16"]),
                             (RECENT_AE, ["model=conv_ae", "model.linear_path=none"])):
        today = compose_config(overrides)
        cfg = OmegaConf.merge(today, OmegaConf.create(saved))  # the saved model, today's rest
        cfg.model = OmegaConf.create(saved).model
        upgrade(cfg)
        refuse_unknown_targets(cfg, "saved")  # every target still names a class
        old = instantiate_model(cfg, **shape).state_dict()
        new = instantiate_model(today, **shape).state_dict()
        assert {k: v.shape for k, v in old.items()} == {k: v.shape for k, v in new.items()}
