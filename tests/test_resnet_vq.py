"""The ResNet encoder and decoder as modules of their own, reused by the ResNet VQ-VAE
(model=resnet_vqvae); resnet_ae's checkpoints keep their parameter names."""

import pytest

from tests.conftest import build_net

# ResNetAutoencoder's parameter names at depth 2, one block per stage, as runs saved them
# before the encoder and decoder became modules of their own (each has a weight and a bias).
SAVED = {
    False: "encoder.0 encoder.1.body.0 encoder.1.body.2 encoder.1.body.3 encoder.1.body.5 "
           "encoder.2 encoder.3.body.0 encoder.3.body.2 encoder.3.body.3 encoder.3.body.5 "
           "encoder.4 to_latent from_latent decoder.0.body.0 decoder.0.body.2 decoder.0.body.3 "
           "decoder.0.body.5 decoder.1.conv decoder.2.body.0 decoder.2.body.2 decoder.2.body.3 "
           "decoder.2.body.5 decoder.3 decoder.5.conv",
    True: "encoder.0 encoder.1.body.0 encoder.1.body.2 encoder.1.body.3 encoder.1.body.5 "
          "encoder.2 encoder.3.body.0 encoder.3.body.2 encoder.3.body.3 encoder.3.body.5 "
          "encoder.4.norm encoder.4.qkv encoder.4.proj encoder.5 to_latent from_latent "
          "decoder.0.norm decoder.0.qkv decoder.0.proj decoder.1.body.0 decoder.1.body.2 "
          "decoder.1.body.3 decoder.1.body.5 decoder.2.conv decoder.3.body.0 decoder.3.body.2 "
          "decoder.3.body.3 decoder.3.body.5 decoder.4 decoder.6.conv",
}


@pytest.mark.parametrize("attention", [False, True])
def test_resnet_ae_keeps_the_parameter_names_its_checkpoints_hold(attention):
    net = build_net("resnet_ae", (1, 28, 28), "model.depth=2", "model.net.blocks=1",
                    f"model.net.attention={attention}")
    saved = [f"{m}.{p}" for m in SAVED[attention].split() for p in ("weight", "bias")]
    assert list(net.state_dict()) == saved
