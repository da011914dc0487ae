"""generate.py's `prior_temperature`: the standard deviation of a Gaussian prior, scaled, for
every model that samples from one (image VAEs, hvae, text VAEs, latent diffusion); text's
`temperature` stays the words' softmax, and a model without a Gaussian prior refuses it."""

import pytest
import torch

from aelab.errors import AelabError
from aelab.generation import text as generate_text
from aelab.generation.image import sample_batches, sampling_temperature
from tests.conftest import build_model

IMAGE = {"image_shape": (1, 16, 16)}
SMALL = ("model.latent_dim=4", "model.width=8", "model.depth=2")


def test_an_image_vae_at_prior_temperature_0_draws_one_image_and_at_1_many():
    model = build_model("conv_vae", *SMALL, **IMAGE).eval()

    def draw(prior_temperature):
        spread = sampling_temperature(model, 1.0, prior_temperature)
        return next(sample_batches(model, None, 6, 0, 6, spread))

    cold, warm = draw(0.0), draw(1.0)
    assert torch.allclose(cold, cold[:1].expand_as(cold), atol=1e-6)  # every draw the mean code
    assert (warm - warm[:1]).abs().amax() > 1e-3


def test_the_hvae_scales_every_latent_group_by_prior_temperature():
    """(Its decoder ignores the codes at initialisation, so the draws are read, not images.)"""
    model = build_model("hvae", *SMALL, **IMAGE).eval()
    torch.manual_seed(0)
    with torch.no_grad():
        _, draws = model.net.top_down(200, temperature=sampling_temperature(model, 1.0, 0.5))
    assert len(draws) > 1
    for draw in draws:
        spread = (draw.z.flatten(1) - draw.prior.mean) / draw.prior.std
        assert spread.std().item() == pytest.approx(0.5, rel=0.1)


def test_temperature_keeps_scaling_an_image_vae_prior_and_both_at_once_are_refused():
    model = build_model("conv_vae", *SMALL, **IMAGE)
    assert sampling_temperature(model, 0.7, 1.0) == 0.7  # as before prior_temperature
    assert sampling_temperature(model, 1.0, 0.7) == 0.7
    with pytest.raises(AelabError, match="give prior_temperature only"):
        sampling_temperature(model, 0.5, 0.7)


def test_a_model_without_a_gaussian_prior_refuses_prior_temperature():
    with pytest.raises(AelabError, match="prior_temperature=0.5 scales a Gaussian prior .* "
                                         "ImageAutoencoder has none"):
        sampling_temperature(build_model("conv_ae", *SMALL, **IMAGE), 1.0, 0.5)


class Words:
    def decode(self, ids):
        return " ".join(map(str, ids.tolist()))


def test_a_text_vae_scales_its_codes_by_prior_temperature_and_its_words_by_temperature():
    model = build_model("lstm_vae", *SMALL, "model.embed_dim=8", vocab_size=30).eval()
    seen = {}

    def generate(z, n, **decoding):  # what the decoder is handed
        seen.update(z=z, decoding=decoding)
        return torch.zeros(n, 3, dtype=torch.long)

    model.generate = generate
    torch.manual_seed(0)
    generate_text.sample(model, Words(), 2000, {"strategy": "sample", "temperature": 0.3,
                                                "top_p": 1.0, "beam": 5}, prior_temperature=0.5)
    assert seen["z"].std().item() == pytest.approx(0.5, rel=0.05)
    assert seen["decoding"]["temperature"] == 0.3
    lm = build_model("lstm_lm", "model.width=8", "model.depth=1", "model.embed_dim=8",
                     vocab_size=30)
    with pytest.raises(AelabError, match="LanguageModel has none: temperature= is its words"):
        generate_text.sample(lm, Words(), 2, {}, prior_temperature=0.5)
