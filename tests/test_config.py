"""Every model x data combination composes, and the contract keys exist."""

import pytest
from omegaconf import OmegaConf

from tests.conftest import CONF, compose_config

MODELS = sorted(p.stem for p in (CONF / "model").glob("*.yaml"))
DATA = sorted(p.stem for p in (CONF / "data").glob("*.yaml"))


# Every model with some data and every data set with some model (a model's yaml and a data
# yaml set keys of their own, so which pairs compose does not depend on the pairing; every
# pair was ~0.1 s of composing each, 200 of them).
PAIRS = sorted({(m, DATA[i % len(DATA)]) for i, m in enumerate(MODELS)}
               | {(MODELS[i % len(MODELS)], d) for i, d in enumerate(DATA)})


@pytest.mark.parametrize(("model", "data"), PAIRS)
def test_model_and_data_compose(model, data):
    cfg = compose_config([f"model={model}", f"data={data}", "paths.output_dir=/tmp/x"])
    for key in ("seed", "model.latent_dim", "model.depth", "model.width", "data.batch_size",
                "data.num_workers", "data.limit", "trainer.max_epochs", "trainer.accelerator",
                "trainer.precision", "optimizer.lr", "ckpt_path", "monitor.metric",
                "monitor.mode"):
        # A model without an encoder has no code: a language model (a decoder alone), a code
        # prior (its codes come from a VQ-VAE run), a skip-connected restoration net (unet);
        # nor has a classifier, whose encoder ends in classes.
        no_code = ("aelab.nets.image.unet.UNet", "aelab.nets.image.classifier.ConvClassifier")
        has_code = ("net" in cfg.model and cfg.model.net._target_ not in no_code
                    or "encoder" in cfg.model)
        linear = cfg.model._target_ == "aelab.models.image.pca.ImagePCA"  # no stages, channels
        optional = (("data.limit", "ckpt_path") + (() if has_code else ("model.latent_dim",))
                    + (("model.depth", "model.width") if linear else ()))
        assert OmegaConf.select(cfg, key, throw_on_missing=False) is not None or key in optional, key


@pytest.mark.parametrize("group", ["optimizer", "scheduler", "trainer", "logger", "callbacks"])
def test_every_option_of_a_group_composes(group):
    for option in sorted(p.stem for p in (CONF / group).glob("*.yaml")):
        cfg = compose_config([f"{group}={option}", "paths.output_dir=/tmp/x"])
        OmegaConf.to_container(cfg, resolve=True)  # every interpolation resolves


@pytest.mark.parametrize("name", ["adam", "adamw"])
def test_fused_adam_is_an_option_and_takes_the_same_step(name):
    """optimizer.fused=true: the same update as the default implementation, in one kernel."""
    import torch
    from hydra.utils import instantiate

    weights = {}
    for fused in ("null", "true"):  # null: torch's default implementation
        cfg = compose_config([f"optimizer={name}", f"optimizer.fused={fused}"])
        torch.manual_seed(0)
        net = torch.nn.Linear(4, 3)
        optimizer = instantiate(cfg.optimizer)(net.parameters())
        assert bool(optimizer.defaults["fused"]) is (fused == "true")
        start = net.weight.detach().clone()
        for _ in range(3):
            optimizer.zero_grad()
            net(torch.ones(2, 4)).pow(2).sum().backward()
            optimizer.step()
        weights[fused] = net.weight.detach().clone()
        assert not torch.allclose(weights[fused], start)  # it stepped
    assert torch.allclose(weights["null"], weights["true"], atol=1e-6)


def test_hub_presets_name_the_real_datasets():
    paths = {d: compose_config([f"data={d}"]).data.path for d in ("cifar10", "mnist", "fashion_mnist")}
    assert paths == {"cifar10": "uoft-cs/cifar10", "mnist": "ylecun/mnist",
                     "fashion_mnist": "zalando-datasets/fashion_mnist"}


def test_a_model_yaml_names_its_net_and_the_net_group_swaps_it():
    """resnet_vae is conv_vae's options with the net of conf/model/net/resnet.yaml, named, not
    copied: the same config as swapping conv_vae's net on the command line (model/net=resnet);
    and a net option still overrides from the command line."""
    def model(*overrides):
        return OmegaConf.to_container(compose_config([*overrides, "paths.output_dir=/tmp/x"]).model)

    assert model("model=resnet_vae") == model("model=conv_vae", "model/net=resnet")
    assert model("model=resnet_ae") == model("model=conv_ae", "model/net=resnet")
    resnet = OmegaConf.to_container(OmegaConf.load(CONF / "model" / "net" / "resnet.yaml"))
    assert model("model=resnet_vae")["net"] == resnet
    spatial = model("model=resnet_vae", "model.net.latent=spatial")
    assert spatial["net"] == {**resnet, "latent": "spatial"}
