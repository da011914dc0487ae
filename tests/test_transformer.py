"""The Transformer text nets on hand-checkable cases: cached step-by-step decoding scores
what teacher forcing does (every way of injecting the code, both kinds of positions), the
code reaches the decoder, and the encoder ignores padding."""

import pytest
import torch
from hydra.utils import instantiate

from aelab.nets.text.decoding import beam_search, greedy_or_sample
from tests.conftest import build_model, model_config

SIZES = {"vocab_size": 30, "embed_dim": 8, "width": 16, "depth": 2, "dropout": 0.0}


def net(part: str, *overrides: str, latent_dim: int = 4):
    node = model_config("transformer_ae", *overrides).model[part]
    extra = {"latent_dim": latent_dim} if part == "decoder" else {}
    return instantiate(node)(**SIZES, **extra).eval()


@pytest.mark.parametrize("inject", ["memory", "embedding", "both"])
@pytest.mark.parametrize("positions", ["learned", "rotary"])
@pytest.mark.parametrize("skip", ["none", "gated"])
def test_cached_steps_score_what_teacher_forcing_does(inject, positions, skip):
    torch.manual_seed(0)
    decoder = net("decoder", f"model.decoder.inject={inject}",
                  f"model.decoder.positions={positions}", f"model.decoder.skip={skip}")
    tokens, lengths, z = torch.tensor([[2, 10, 11, 12, 13]]), torch.tensor([5]), torch.randn(1, 4)
    logits = decoder(tokens, lengths, z)
    state = decoder.start(z, 1)
    for t in range(tokens.shape[1]):
        log_probs, state = decoder.step(tokens[:, t], state, z)
        assert torch.allclose(log_probs, logits[:, t].log_softmax(-1), atol=1e-5), t
    # The code is heard: another code, other next-word distributions.
    assert not torch.allclose(decoder(tokens, lengths, torch.randn(1, 4)), logits)


def test_a_language_model_decoder_has_no_code_and_decodes_batched():
    torch.manual_seed(0)
    decoder = net("decoder", "model.decoder.skip=none", latent_dim=0)
    assert decoder.memory is None and decoder.code_embedding is None
    for out in (greedy_or_sample(decoder, None, 3, 6, sample=True, top_p=0.9),
                beam_search(decoder, None, 3, 6, beam=4)):
        assert out.shape[0] == 3 and out.shape[1] <= 6


def test_encoder_ignores_padding_for_every_pool():
    torch.manual_seed(0)
    tokens, lengths = torch.tensor([[2, 10, 11, 3], [2, 14, 3, 0]]), torch.tensor([4, 3])
    for pool in ("mean", "cls", "both"):
        encoder = net("encoder", f"model.encoder.pool={pool}")
        v = encoder(tokens, lengths)
        assert v.shape == (2, encoder.out_dim)
        # The short sentence's vector with or without its padding.
        assert torch.allclose(v[1], encoder(tokens[1:, :3], lengths[1:])[0], atol=1e-5), pool


def test_dropout_acts_in_training_only():
    """Dropout made the Transformer LM worse on the Bible in every form tried
    (experiments/robustness): not because it stays on at evaluation."""
    model = build_model("transformer_lm", "model.dropout=0.3", "model.width=32",
                        "model.embed_dim=32", vocab_size=50)
    tokens, lengths = torch.randint(4, 50, (3, 12)), torch.tensor([12, 10, 7])
    with torch.no_grad():
        model.eval()
        assert torch.equal(model.decoder(tokens, lengths, None), model.decoder(tokens, lengths, None))
        model.train()
        assert not torch.equal(model.decoder(tokens, lengths, None),
                               model.decoder(tokens, lengths, None))
