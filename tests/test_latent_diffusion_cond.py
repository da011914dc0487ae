"""model=latent_diffusion over code maps and with classes: the U-Net denoiser keeps a code
map's shape; classifier-free guidance mixes the conditional and unconditional predictions and,
on two far-apart clusters of codes, puts a class's samples in its own cluster; tiny runs over
a spatial autoencoder and a VQ-VAE train, sample and decode, a conditional one samples the
classes generate.py asks for and loads back as it was saved; what cannot work is refused."""

import pytest
import torch

from aelab.errors import AelabError
from aelab.nets.latent_denoiser import LatentDenoiser
from aelab.nets.latent_unet import LatentUNet
from aelab.objectives.diffusion import guided, process
from aelab.run import build_datamodule, generate, load_run
from tests.conftest import build_model, compose_config, train_run

SPATIAL = ["model.net.latent=spatial", "model.linear_path=none", "model.latent_dim=64"]
PRIOR = ["model=latent_diffusion", "model.sample_steps=2", "model.unet_channels=8"]


@pytest.mark.parametrize("shape", [(4, 4, 4), (1, 7, 7), (2, 1, 1), (3, 5, 3)])
@pytest.mark.parametrize("levels", [1, 2, 3])
def test_the_unet_gives_back_the_shape_of_its_code_map(shape, levels):
    net = LatentUNet(shape, channels=6 + levels, levels=levels, blocks=1, num_classes=3)
    x = torch.randn(5, *shape)
    assert net(x, torch.rand(5)).shape == x.shape  # no labels: the "no class" index
    assert net(x, torch.rand(5), torch.tensor([0, 1, 2, 3, 0])).shape == x.shape


@pytest.mark.parametrize("make", [lambda: LatentDenoiser(6, 16, 2, num_classes=2),
                                  lambda: LatentUNet((1, 2, 3), 8, 2, 1, num_classes=2)])
def test_guidance_zero_is_the_unconditional_prediction_and_one_the_conditional(make):
    torch.manual_seed(0)
    net = make()
    for p in net.parameters():  # zero-initialised gates would hide the class: wake them up
        torch.nn.init.normal_(p, std=0.3)
    x = torch.randn(4, 6).view(4, *getattr(net, "shape", (6,)))
    t, labels = torch.rand(4), torch.tensor([0, 1, 1, 0])
    with torch.no_grad():
        cond, uncond = net(x, t, labels), net(x, t)
        assert not torch.allclose(cond, uncond, atol=1e-4)  # the class changes the prediction
        assert torch.allclose(guided(net, labels, 2, 0.0)(x, t), uncond, atol=1e-6)
        assert torch.allclose(guided(net, labels, 2, 1.0)(x, t), cond, atol=1e-6)
        assert torch.allclose(guided(net, labels, 2, 3.0)(x, t), uncond + 3 * (cond - uncond),
                              atol=1e-5)


def two_clusters(n: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Codes of class 0 around (-2, -2, ...), of class 1 around (+2, +2, ...), spread 0.3."""
    labels = torch.randint(0, 2, (n,), generator=generator)
    centres = (labels.float() * 4 - 2).unsqueeze(1)
    return centres + 0.3 * torch.randn(n, 4, generator=generator), labels


@pytest.mark.parametrize("objective,denoiser", [("flow", "mlp"), ("ddpm", "unet")])
def test_guided_samples_land_in_the_cluster_of_their_class(objective, denoiser):
    """If the label were ignored, half of each class's samples would land in the other
    cluster; guided, nearly all land in their own."""
    torch.manual_seed(0)
    data = torch.Generator().manual_seed(1)
    shape = (4,) if denoiser == "mlp" else (1, 2, 2)
    net = LatentDenoiser(4, 64, 2, num_classes=2) if denoiser == "mlp" else LatentUNet(
        shape, 8, 2, 1, num_classes=2)
    diffusion = process(objective, "v")
    optimizer = torch.optim.Adam(net.parameters(), 3e-3)
    for _ in range(200):
        codes, labels = two_clusters(128, data)
        labels = labels.masked_fill(torch.rand(128, generator=data) < 0.1, 2)  # cond_drop
        loss = diffusion.loss(net, codes.view(-1, *shape), labels=labels).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    asked = torch.arange(400) % 2
    with torch.no_grad():
        noise = torch.randn(400, *shape)
        samples = diffusion.sample(guided(net, asked, 2, 2.0), noise, 10).flatten(1)
        free = diffusion.sample(net, noise, 10).flatten(1)
    landed = (samples.mean(1) > 0).long()
    assert (landed == asked).float().mean() > 0.95
    assert 0.3 < (free.mean(1) > 0).float().mean() < 0.7  # unconditional: both clusters


# -- tiny runs ---------------------------------------------------------------------------------
SHARED = pytest.mark.xdist_group("latent_maps")  # the users of `runs` share a worker: one build


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("latent_maps")
    train_run(root / "ae", *SPATIAL)  # 32 px, depth 2: a 1 x 8 x 8 code map
    train_run(root / "prior", *PRIOR, f"model.ae_run={root / 'ae'}")
    train_run(root / "cond", *PRIOR, f"model.ae_run={root / 'ae'}", "model.conditional=true",
              "model.guidance=2.0")
    return root


@SHARED
def test_a_prior_over_a_code_map_trains_samples_and_decodes_with_the_unet(runs):
    _, _, model, _ = load_run(str(runs / "prior"))
    assert isinstance(model.denoiser, LatentUNet) and model.x_shape == (1, 8, 8)
    torch.manual_seed(0)
    codes = model.sample_codes(3)
    assert codes.shape == (3, 64) and torch.isfinite(codes).all()
    images = model.sample(3)
    assert images.shape == (3, 3, 32, 32) and 0 <= images.min() and images.max() <= 1
    assert generate(str(runs / "prior"), "interpolate", n=8, seed=0, steps=4).exists()


def test_a_prior_over_a_vq_vae_models_its_pre_quantisation_grid(tmp_path):
    train_run(tmp_path / "vq", "model=conv_vqvae", "model.latent_dim=4")
    train_run(tmp_path / "prior", *PRIOR, f"model.ae_run={tmp_path / 'vq'}")
    _, _, model, _ = load_run(str(tmp_path / "prior"))
    assert model.code_shape == model.x_shape == (4, 8, 8)  # latent_dim channels, 8 x 8 grid
    assert model.sample(2).shape == (2, 3, 32, 32)  # quantised, then decoded
    assert generate(str(tmp_path / "prior"), "sample", n=4, seed=0).exists()


@SHARED
def test_a_conditional_prior_samples_the_classes_asked_for_and_writes_them(runs):
    out = generate(str(runs / "cond"), "sample", n=16, seed=0, classes=[0, 2], guidance=3.0)
    written = out.with_suffix(".classes.txt").read_text().splitlines()
    assert "guidance 3" in written[0]
    assert written[1:] == ["0 0 0 0 0 0 0 0", "2 2 2 2 2 2 2 2"]
    every = generate(str(runs / "cond"), "sample", n=6, seed=0, classes="all")
    assert every.with_suffix(".classes.txt").read_text().splitlines()[1] == "0 0 1 1 2 2"


@SHARED
def test_a_conditional_prior_loads_back_as_it_was_saved(runs):
    state = torch.load(runs / "cond" / "checkpoints" / "best.ckpt", weights_only=True)["state_dict"]
    assert state["denoiser.label.weight"].shape[0] == 3 + 1  # shapes' 3 kinds and "no class"
    first, second = (load_run(str(runs / "cond"))[2] for _ in range(2))
    assert first.num_classes == 3 and first.guidance == 2.0
    for key, value in first.state_dict().items():
        assert torch.equal(value, state[key]), key
    labels = torch.tensor([0, 1, 2, 0])

    def draw(model, labels):
        torch.manual_seed(0)
        return model.sample_codes(4, labels=labels)

    # Loaded twice: the same prior, the same guided samples; other classes, other codes.
    assert torch.equal(draw(first, labels), draw(second, labels))
    assert not torch.allclose(draw(first, labels), draw(first, labels.flip(0)))


@SHARED
def test_classes_are_refused_where_they_cannot_work(runs):
    with pytest.raises(AelabError, match="trained without class labels .* model.conditional=true"):
        generate(str(runs / "prior"), "sample", n=4, seed=0, classes=[0])
    with pytest.raises(AelabError, match="is for a class-conditional latent_diffusion run"):
        generate(str(runs / "ae"), "sample", n=4, seed=0, classes=[0])
    with pytest.raises(AelabError, match=r"classes=\[5\]: give class indices in 0..2"):
        generate(str(runs / "cond"), "sample", n=4, seed=0, classes=[5])
    with pytest.raises(AelabError, match="guidance=2 guides samples of given classes"):
        generate(str(runs / "cond"), "sample", n=4, seed=0, guidance=2)


@SHARED
def test_a_unet_on_a_code_without_a_map_is_refused_naming_the_fix(runs, tmp_path):
    train_run(tmp_path / "dense", "model.latent_dim=8", "model.linear_path=none")
    with pytest.raises(AelabError, match="model.denoiser=unet runs over a code map.*vector code "
                                         "of 8 floats.*model.net.latent=spatial"):
        build_model("latent_diffusion", f"model.ae_run={tmp_path / 'dense'}",
                    "model.denoiser=unet", image_shape=(3, 32, 32))
    model = build_model("latent_diffusion", f"model.ae_run={tmp_path / 'dense'}",
                        image_shape=(3, 32, 32))  # auto: the MLP
    assert isinstance(model.denoiser, LatentDenoiser)


@SHARED
def test_a_conditional_prior_without_labels_in_its_data_is_refused(runs, tmp_path):
    with pytest.raises(AelabError, match="model.conditional=true needs class labels"):
        build_model("latent_diffusion", f"model.ae_run={runs / 'ae'}", "model.conditional=true",
                    image_shape=(3, 32, 32))


def test_a_conditional_prior_on_text_is_refused_before_anything_loads():
    cfg = compose_config(["model=latent_diffusion", "model.ae_run=somewhere",
                          "model.conditional=true", "data=toy_text", "paths.output_dir=/tmp/unused"])
    with pytest.raises(AelabError, match="needs class labels; data .* has none"):
        build_datamodule(cfg)


class AlwaysFirstClass(torch.nn.Module):
    """A stand-in classifier of 3 classes that puts every image in class 0."""
    num_classes = 3

    def forward(self, images):
        return torch.tensor([1.0, 0.0, 0.0]).expand(len(images), 3)


@SHARED
def test_guided_samples_are_scored_by_the_classifier_of_the_features(runs):
    """test/class_accuracy_<name>: the guided samples' classes come in equal shares, so a
    classifier that always says class 0 is right for a third of them; an unconditional
    prior, or features without a classifier, have no such score."""
    from types import SimpleNamespace

    from aelab.callbacks.fid import GenerativeMetrics

    cfg, datamodule, cond, _ = load_run(str(runs / "cond"))
    trainer = SimpleNamespace(datamodule=datamodule, global_rank=0)
    extractor = SimpleNamespace(classifier=AlwaysFirstClass(), name="stub", run="stub")
    metrics = GenerativeMetrics(extractor, num_samples=None, seed=0)
    assert metrics.class_accuracy(trainer, cond, 9, batch_size=4) == pytest.approx(1 / 3)
    unconditional = load_run(str(runs / "prior"))[2]
    assert metrics.class_accuracy(trainer, unconditional, 9, batch_size=4) is None
    no_classifier = GenerativeMetrics(SimpleNamespace(name="inception"), None, 0)
    assert no_classifier.class_accuracy(trainer, cond, 9, batch_size=4) is None
    extractor.classifier.num_classes = 10
    with pytest.raises(AelabError, match="a classifier of 10 classes and this prior is "
                                         "conditioned on 3"):
        metrics.class_accuracy(trainer, cond, 9, batch_size=4)
