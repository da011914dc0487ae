"""model=latent_diffusion: the objectives and samplers on a toy code distribution, then the
whole path on tiny runs: an image and a text autoencoder, a prior on each, generate.py's
sample and interpolate; and the refusal of runs whose codes it cannot model."""

import json

import pytest
import torch
from omegaconf import OmegaConf
from PIL import Image

from aelab.errors import AelabError
from aelab.nets.latent_denoiser import LatentDenoiser
from aelab.objectives.diffusion import process
from aelab.run import generate
from tests.conftest import build_model, compose_config, train_run
from tests.test_tensorboard import custom_scalars

TEXT = ["data=toy_text", "data.num_train=64", "data.num_val=16", "data.num_test=16"]

# The tests that read the trained runs: one xdist group, so one worker trains them, once.
SHARED = pytest.mark.xdist_group("latent_diffusion_runs")


def mixture(n: int, generator: torch.Generator) -> torch.Tensor:
    """Two modes at x = -1.5 and +1.5 (spread 0.3), y ~ N(0.5, 0.5^2): mean (0, 0.5), std
    about (1.53, 0.5); nothing a unit Gaussian start already is."""
    side = torch.randint(0, 2, (n,), generator=generator) * 2 - 1
    return torch.stack([1.5 * side + 0.3 * torch.randn(n, generator=generator),
                        0.5 + 0.5 * torch.randn(n, generator=generator)], 1)


@pytest.mark.parametrize("objective,prediction,sampler", [("ddpm", "v", "ddim"),
                                                          ("flow", "v", "heun")])
def test_an_objective_learns_a_toy_mixture_and_its_sampler_draws_from_it(objective, prediction,
                                                                          sampler):
    torch.manual_seed(0)
    data = torch.Generator().manual_seed(1)
    diffusion, net = process(objective, prediction), LatentDenoiser(2, 64, 2)
    optimizer = torch.optim.Adam(net.parameters(), 3e-3)
    losses = []
    for _ in range(400):
        loss = diffusion.loss(net, mixture(256, data)).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert sum(losses[-50:]) / 50 < 0.9 * sum(losses[:20]) / 20
    with torch.no_grad():
        noise = torch.randn(2000, 2)
        samples = diffusion.sample(net, noise, 20, sampler)
        reference = mixture(2000, data)
        assert samples.shape == noise.shape
        assert torch.allclose(samples.mean(0), reference.mean(0), atol=0.15), samples.mean(0)
        assert torch.allclose(samples.std(0) / reference.std(0), torch.ones(2), atol=0.15), \
            samples.std(0)
        assert 0.4 < (samples[:, 0] > 0).float().mean() < 0.6  # both modes, evenly
        assert (samples[:, 0].abs() < 0.5).float().mean() < 0.1  # and little between them
        # Inverted to noise and sampled back: near where it started; the noise looks Gaussian.
        x0 = reference[:500]
        inverted = diffusion.invert(net, x0, 20, sampler)
        assert torch.allclose(inverted.std(0), torch.ones(2), atol=0.2), inverted.std(0)
        back = diffusion.sample(net, inverted, 20, sampler)
        assert (back - x0).abs().mean() < 0.2 * x0.std()


def test_heun_is_second_order_and_euler_first_on_a_known_flow():
    """dx/dt = x from t = 1 to 0 ends at x(1) / e: Heun's error falls with the step squared."""
    flow, start = process("flow", "v"), torch.ones(1, 3)
    exact = torch.exp(torch.tensor(-1.0))
    error = {sampler: (flow.sample(lambda x, t: x, start, 10, sampler) - exact).abs().max()
             for sampler in ("euler", "heun")}
    assert error["heun"] < 1e-3 < error["euler"] < 0.03, error
    back = flow.invert(lambda x, t: x, flow.sample(lambda x, t: x, start, 10, "heun"), 10, "heun")
    assert torch.allclose(back, start, atol=1e-3)


@pytest.mark.parametrize("prediction", ["eps", "v"])
def test_ddim_with_the_exact_prediction_lands_on_the_data_in_any_steps(prediction):
    """All data at one point c: the ideal net's DDIM path ends on c, from any noise."""
    ddpm, c = process("ddpm", prediction), torch.tensor([[0.7, -1.2]])

    def ideal(x, t):
        alpha, sigma = (a.view(-1, 1) for a in ddpm.alpha_sigma(t))
        eps = (x - alpha * c) / sigma
        return eps if prediction == "eps" else alpha * eps - sigma * c

    for steps in (1, 3, 10):
        assert torch.allclose(ddpm.sample(ideal, torch.randn(5, 2), steps), c.expand(5, 2),
                              atol=1e-4)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("latent_diffusion")
    train_run(root / "ae", "model.latent_dim=8")
    train_run(root / "text_ae", "model=lstm_ae", "model.latent_dim=8", "model.embed_dim=8", *TEXT)
    made = {
        "image": train_run(root / "image", "model=latent_diffusion", f"model.ae_run={root / 'ae'}",
                           "model.sample_steps=4", "logger=tensorboard"),
        "text": train_run(root / "text", "model=latent_diffusion", f"model.ae_run={root / 'text_ae'}",
                          "model.objective=ddpm", "model.sample_steps=4", *TEXT),
    }
    return root, made


@SHARED
def test_a_prior_trains_on_an_image_autoencoder_run_and_keeps_its_code_scale(runs):
    root, metrics = runs
    assert metrics["image"]["global_step"] == 3 and metrics["image"]["test/loss"] > 0
    assert "val/loss" in metrics["image"]
    assert "latent diffusion" in custom_scalars(root / "image")
    state = torch.load(root / "image" / "checkpoints" / "best.ckpt", weights_only=True)["state_dict"]
    assert state["code_mean"].shape == (8,) and bool(state["stats_done"])
    assert float(state["code_scale"]) not in (0.0, 1.0)  # measured, not the initial value


@SHARED
@pytest.mark.parametrize("kind", ["image", "text"])
def test_cached_codes_train_the_prior_as_encoding_every_batch_does(runs, kind, tmp_path, caplog):
    """model.cache_codes: the training split encoded once, each step's codes looked up by the
    loader's own index batches; over two epochs the prior ends as the one that encodes every
    batch does, and the cache was used throughout (no fallback)."""
    root, _ = runs
    ae, data = (root / "ae", []) if kind == "image" else (root / "text_ae", TEXT)
    for cache in ("true", "false"):
        train_run(tmp_path / cache, "model=latent_diffusion", f"model.ae_run={ae}",
                  "model.sample_steps=2", f"model.cache_codes={cache}", "trainer.max_epochs=2",
                  "trainer.limit_train_batches=4", "test=false", *data)
    assert "encoding every batch" not in caplog.text and "are dropped" not in caplog.text
    cached, encoded = (torch.load(tmp_path / c / "checkpoints" / "last.ckpt",
                                  weights_only=True)["state_dict"] for c in ("true", "false"))
    for key, value in encoded.items():
        if key.startswith("denoiser."):
            assert torch.allclose(cached[key], value, atol=1e-5), key


@SHARED
def test_augmented_batches_are_encoded_as_they_come_not_read_from_the_cache(runs, tmp_path, caplog):
    """The cache holds the codes of the images as they are; flipped batches are other images,
    so the first batch's check finds them apart and the run encodes every batch instead."""
    root, _ = runs
    train_run(tmp_path / "flips", "model=latent_diffusion", f"model.ae_run={root / 'ae'}",
              "model.sample_steps=2", "data.augment=flips", "test=false")
    assert "the cached codes are dropped and every batch is encoded" in caplog.text


@SHARED
@pytest.mark.parametrize("task", ["sample", "interpolate"])
def test_an_image_prior_samples_and_interpolates_through_its_autoencoder(runs, task):
    root, _ = runs
    out = generate(str(root / "image"), task, n=16, seed=0, steps=4)
    with Image.open(out) as image:
        assert image.width >= 8 * 32 and image.height >= 2 * 32
    again = generate(str(root / "image"), task, n=16, seed=0, steps=4)
    assert again.read_bytes() == out.read_bytes()  # seeded


@SHARED
def test_an_image_prior_decodes_codes_of_the_autoencoder_scale(runs):
    root, _ = runs
    from aelab.run import load_run

    _, _, model, _ = load_run(str(root / "image"))
    torch.manual_seed(0)
    codes = model.sample_codes(64)
    assert codes.shape == (64, 8) and torch.isfinite(codes).all()
    images = model.sample(4)
    assert images.shape == (4, 3, 32, 32) and 0 <= images.min() and images.max() <= 1
    # Samples are codes in the autoencoder's units: mean and scale put back.
    x = model.normalize(codes)
    assert torch.allclose(model.denormalize(x), codes, atol=1e-5)


@SHARED
@pytest.mark.parametrize("task", ["sample", "interpolate"])
def test_a_text_prior_writes_sentences(runs, task):
    root, metrics = runs
    assert metrics["text"]["test/loss"] > 0
    lines = generate(str(root / "text"), task, n=8, seed=0, steps=4).read_text().splitlines()
    assert len([line for line in lines if line.strip()]) >= (8 if task == "sample" else 4)


def saved_run(folder, *overrides):
    """A run dir with a saved config only: enough for the checks made before weights load."""
    cfg = compose_config([f"paths.output_dir={folder}", *overrides])
    (folder / ".hydra").mkdir(parents=True)
    (folder / ".hydra" / "config.yaml").write_text(OmegaConf.to_yaml(cfg))
    return folder


@pytest.mark.parametrize("overrides,says", [
    (["model=classifier"], "is a ImageClassifier run, not an autoencoder .* conv_ae"),
    (["model=unet", "model.latent_dim=null"], "without a code it decodes"),
])
def test_a_run_without_continuous_codes_is_refused_naming_what_to_give(tmp_path, overrides, says):
    run = saved_run(tmp_path / "run", *overrides)
    if overrides[0] == "model=unet":  # this check needs the built model: give it weights
        train_run(run, *overrides)
    with pytest.raises(AelabError, match=says):
        build_model("latent_diffusion", f"model.ae_run={run}", image_shape=(3, 32, 32))


@SHARED
def test_an_autoencoder_of_the_other_modality_or_data_is_refused(runs):
    root, _ = runs
    with pytest.raises(AelabError, match="is a text autoencoder .* but this run's data is image"):
        build_model("latent_diffusion", f"model.ae_run={root / 'text_ae'}", image_shape=(3, 32, 32))
    with pytest.raises(AelabError, match="is an image autoencoder .* but this run's data is text"):
        build_model("latent_diffusion", f"model.ae_run={root / 'ae'}", vocab_size=40)
    with pytest.raises(AelabError, match="weights do not fit this run's data"):
        build_model("latent_diffusion", f"model.ae_run={root / 'text_ae'}", vocab_size=7)


@SHARED
def test_a_sampler_of_the_other_objective_is_refused(runs):
    root, _ = runs
    with pytest.raises(AelabError, match="model.sampler=heun does not sample model.objective=ddpm"):
        build_model("latent_diffusion", f"model.ae_run={root / 'ae'}", "model.objective=ddpm",
                    "model.sampler=heun", image_shape=(3, 32, 32))


@SHARED
def test_generate_sets_the_samplers_steps_and_the_noise_spread_and_others_refuse_them(runs):
    root, _ = runs
    default = generate(str(root / "image"), "sample", n=8, seed=0).read_bytes()
    assert generate(str(root / "image"), "sample", n=8, seed=0, sample_steps=1).read_bytes() != default
    assert generate(str(root / "image"), "sample", n=8, seed=0,
                    prior_temperature=0.5).read_bytes() != default
    text = generate(str(root / "text"), "sample", n=4, seed=0, prior_temperature=0.0)
    assert len(set(text.read_text().splitlines())) == 1  # one noise, one code, one sentence
    with pytest.raises(AelabError, match="sample_steps=2 sets a diffusion sampler's steps"):
        generate(str(root / "ae"), "sample", n=4, seed=0, sample_steps=2)


def test_a_prior_on_a_vae_with_a_spatial_code_samples_and_interpolates(tmp_path):
    """A VAE (posterior means) whose code is a 1 x 8 x 8 map (the image nets hand it over
    flat, 64 floats, and take it back flat; the U-Net denoiser sees it as the map)."""
    train_run(tmp_path / "vae", "model=conv_vae", "model.net.latent=spatial", "model.latent_dim=64",
              "model.iw_samples=2")
    train_run(tmp_path / "prior", "model=latent_diffusion", f"model.ae_run={tmp_path / 'vae'}",
              "model.sample_steps=2", "model.unet_channels=8")
    from aelab.run import load_run

    _, _, model, _ = load_run(str(tmp_path / "prior"))
    assert model.code_shape == (64,) and model.denoiser.dim == 64
    assert model.x_shape == (1, 8, 8)  # denoiser=auto: the U-Net over the map
    assert model.sample_codes(3).shape == (3, 64)
    assert model.sample(3).shape == (3, 3, 32, 32)
    assert generate(str(tmp_path / "prior"), "interpolate", n=8, seed=0, steps=4).exists()


@SHARED
def test_the_sampling_benchmark_times_image_and_text_draws_against_their_modalitys_first(
        runs, tmp_path, monkeypatch):
    """benchmarks/sampling.py on the two priors and the image autoencoder they sample through:
    each case draws exactly the samples asked for, and is compared with its modality's first."""
    from tests.test_benchmarks import run_script

    root, _ = runs
    out = tmp_path / "sampling.json"
    assert run_script("sampling.py", [f"mixture:{root / 'ae'}", f"diffusion:{root / 'image'}",
                                      f"text:{root / 'text'}:decoding=sample,top_p=0.5",
                                      "--samples", "12", "--warmup", "2", "--batch-size", "5",
                                      "--threads", "1", "--out", str(out)], monkeypatch) == 0
    mixture, diffusion, text = json.loads(out.read_text())["results"]
    assert [r["modality"] for r in (mixture, diffusion, text)] == ["image", "image", "text"]
    assert (mixture["baseline"], diffusion["baseline"], text["baseline"]) == (
        "mixture", "mixture", "text")
    assert mixture["vs_baseline"] == text["vs_baseline"] == 1.0
    assert text["options"] == {"decoding": "sample", "top_p": 0.5}
    assert all(r["samples"] == 12 and r["sample_s"] > 0 for r in (mixture, diffusion, text))
    assert "| diffusion |" in out.with_suffix(".md").read_text()
    # a text option given to an image run is refused, not ignored
    assert run_script("sampling.py", [f"diffusion:{root / 'image'}:top_p=0.5", "--samples", "4",
                                      "--out", str(tmp_path / "x.json")], monkeypatch) != 0
