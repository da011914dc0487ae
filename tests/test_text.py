"""Text: tokenizer, batches, noise, metrics on hand-computed cases, models on toy_text."""

import math

import pytest
import torch

from aelab.data.text import (
    BOS_ID,
    EOS_ID,
    PAD_ID,
    SPECIALS,
    UNK_ID,
    BucketBatchSampler,
    TextDataModule,
    ToyTextDataModule,
    clean_lines,
    train_tokenizer,
)
from aelab.data.text_noise import word_noise
from aelab.errors import AelabError
from aelab.metrics.latent import mutual_information
from aelab.metrics.text import SequenceNLL
from aelab.models.text.base import ids_to_text, sentence_nll
from aelab.run import generate
from tests.conftest import build_model, train_run

TOY = ["data=toy_text", "data.num_train=256", "data.num_val=32", "data.num_test=32",
       "model.width=32", "model.embed_dim=32", "data.batch_size=32"]


def test_tokenizer_round_trip_with_specials_first():
    tokenizer = train_tokenizer(["The cat sat.", "the dog sat"], vocab_size=100, min_freq=1,
                                lowercase=True)
    assert [tokenizer.id_to_token(i) for i in range(4)] == ["<pad>", "<unk>", "<bos>", "<eos>"]
    ids = tokenizer.encode("the cat sat .").ids
    assert " ".join(tokenizer.id_to_token(i) for i in ids) == "the cat sat ."
    assert tokenizer.encode("the zebra").ids[1] == 1  # unknown word -> <unk>


def test_batches_are_bos_words_eos_then_padding():
    dm = ToyTextDataModule(num_train=50, num_val=10, num_test=10, batch_size=8)
    dm.setup()
    batch = dm.examples("train", 4)
    tokens, lengths = batch["tokens"], batch["lengths"]
    for row, n in zip(tokens, lengths.tolist(), strict=True):
        assert row[0] == BOS_ID and row[n - 1] == EOS_ID
        assert (row[n:] == PAD_ID).all() and (row[1 : n - 1] > EOS_ID).all()
    assert dm.decode(tokens[0, 1:]) == dm.texts["train"][0]


def test_max_len_cuts_long_sentences_and_says_so(caplog):
    dm = ToyTextDataModule(num_train=50, num_val=10, num_test=10, max_len=3)
    dm.setup()
    assert max(len(ids) for ids in dm.ids["train"]) == 3
    assert "longer than data.max_len=3" in caplog.text


def test_tokenizer_is_saved_in_the_run_and_reused(tmp_path):
    first = ToyTextDataModule(num_train=50, tokenizer_dir=str(tmp_path))
    first.setup()
    assert (tmp_path / "tokenizer.json").exists()
    second = ToyTextDataModule(num_train=80, seed=5, tokenizer_dir=str(tmp_path))
    second.setup()
    assert second.tokenizer.get_vocab() == first.tokenizer.get_vocab()


def test_bucketing_groups_similar_lengths_and_covers_everything():
    lengths = [i % 17 + 1 for i in range(400)]
    sampler = BucketBatchSampler(lengths, batch_size=10, shuffle=True, seed=0)
    batches = list(sampler)
    assert sorted(i for b in batches for i in b) == list(range(400))
    spread = sum(max(lengths[i] for i in b) - min(lengths[i] for i in b) for b in batches)
    assert spread / len(batches) < 2  # random batches would spread ~15


def test_sentence_splitting_and_wikitext_cleaning():
    lines = clean_lines([" = Heading = ", "", "First one. Second one! third stays."],
                        split_into_sentences=True, drop_headings=True)
    assert lines == ["First one.", "Second one! third stays."]


def test_text_column_and_hub_layout(tmp_path):
    from datasets import Dataset

    folder = tmp_path / "corpus"
    folder.mkdir()
    for split, n in (("train", 40), ("validation", 5), ("test", 5)):
        Dataset.from_dict({"id": list(range(n)), "sentence": [f"row {i} of {split} ." for i in range(n)]}
                          ).to_parquet(str(folder / f"{split}-00000-of-00001.parquet"))
    dm = TextDataModule(path=str(folder))
    dm.setup()
    assert len(dm.ids["val"]) == 5 and dm.texts["test"][0] == "row 0 of test ."
    with pytest.raises(AelabError, match="data.text_column=body is not a column"):
        TextDataModule(path=str(folder), text_column="body").setup()


def test_word_noise_drops_blanks_and_keeps_the_frame():
    tokens = torch.tensor([[2, 10, 11, 12, 13, 3], [2, 14, 15, 3, 0, 0]])
    lengths = torch.tensor([6, 4])
    same, same_len = word_noise(tokens, lengths, vocab_size=20)
    assert torch.equal(same, tokens)
    g = torch.Generator().manual_seed(0)
    noisy, noisy_len = word_noise(tokens, lengths, 20, drop=0.5, generator=g)
    assert (noisy[:, 0] == BOS_ID).all() and (noisy_len <= lengths).all()
    blanked, _ = word_noise(tokens, lengths, 20, blank=1.0)
    assert (blanked[0, 1:5] == 1).all()
    shuffled, _ = word_noise(tokens, lengths, 20, shuffle=3.0, generator=g)
    assert sorted(shuffled[0, 1:5].tolist()) == [10, 11, 12, 13]


def random_sentences(batch: int, g: torch.Generator):
    """A padded batch <bos> w.. <eos> of random lengths, words numbered by position (a word's
    id tells where it came from) so that moves and drops can be checked."""
    lengths = torch.randint(2, 14, (batch,), generator=g)  # 2: an empty sentence
    tokens = torch.zeros(batch, int(lengths.max()), dtype=torch.long)
    for i, n in enumerate(lengths.tolist()):
        tokens[i, 0], tokens[i, n - 1] = BOS_ID, EOS_ID
        tokens[i, 1 : n - 1] = torch.arange(1, n - 1) + 100
    return tokens, lengths


def check_frame(noisy, lengths):
    for row, n in zip(noisy, lengths.tolist(), strict=True):
        assert row[0] == BOS_ID and row[n - 1] == EOS_ID and (row[n:] == PAD_ID).all()


def test_word_noise_shuffle_moves_words_at_most_k_places():
    g = torch.Generator().manual_seed(1)
    tokens, lengths = random_sentences(64, g)
    noisy, new_lengths = word_noise(tokens, lengths, 200, shuffle=2.0, generator=g)
    assert torch.equal(new_lengths, lengths)
    check_frame(noisy, lengths)
    moved = False
    for row, n in zip(noisy, lengths.tolist(), strict=True):
        origin = row[1 : n - 1] - 100  # where each word was
        assert sorted(origin.tolist()) == list(range(1, n - 1))
        assert ((origin - torch.arange(1, n - 1)).abs() <= 2).all()
        moved |= bool((origin != torch.arange(1, n - 1)).any())
    assert moved


def test_word_noise_drop_keeps_order_and_never_empties_a_sentence():
    g = torch.Generator().manual_seed(2)
    tokens, lengths = random_sentences(200, g)
    noisy, new_lengths = word_noise(tokens, lengths, 200, drop=0.3, generator=g)
    check_frame(noisy, new_lengths)
    assert noisy.shape[1] == int(new_lengths.max())
    for row, n, n_before in zip(noisy, new_lengths.tolist(), lengths.tolist(), strict=True):
        kept = row[1 : n - 1].tolist()
        assert kept == sorted(kept)  # a subsequence of the words, in their order
        assert len(kept) >= min(1, n_before - 2)
    words = (lengths - 2).sum().item()
    dropped = (lengths - new_lengths).sum().item() / words
    assert 0.25 < dropped < 0.35


def test_word_noise_blank_and_substitute_touch_only_words():
    g = torch.Generator().manual_seed(3)
    tokens, lengths = random_sentences(200, g)
    blanked, _ = word_noise(tokens, lengths, 500, blank=0.5, generator=g)
    check_frame(blanked, lengths)
    changed = (blanked != tokens)
    assert (blanked[changed] == UNK_ID).all()
    assert 0.4 < changed.sum().item() / (lengths - 2).sum().item() < 0.6
    substituted, _ = word_noise(tokens, lengths, 500, substitute=1.0, generator=g)
    check_frame(substituted, lengths)
    for row, n in zip(substituted, lengths.tolist(), strict=True):
        assert ((row[1 : n - 1] >= len(SPECIALS)) & (row[1 : n - 1] < 500)).all()


def test_sequence_nll_by_hand():
    # Two sentences, uniform over 4 words: each token costs log 4 nats.
    logits = torch.zeros(2, 3, 4)
    targets = torch.tensor([[1, 2, 3], [1, 3, 0]])  # the second has 2 real tokens
    nll = sentence_nll(logits, targets)
    assert torch.allclose(nll, torch.tensor([3 * math.log(4), 2 * math.log(4)]))
    metric = SequenceNLL()
    metric.update(nll, (targets != 0).sum(1))
    values = metric.compute()
    assert values["nll"].item() == pytest.approx(2.5 * math.log(4))
    assert values["ppl"].item() == pytest.approx(4.0)


def test_mutual_information_is_zero_when_posteriors_ignore_x_and_high_when_they_do_not():
    torch.manual_seed(0)
    same = mutual_information(torch.zeros(256, 4), torch.zeros(256, 4))
    assert abs(same.item()) < 0.3  # sampling noise of a 256-sentence estimate
    spread = mutual_information(torch.randn(256, 4) * 5, torch.full((256, 4), -4.0))
    assert spread.item() > 4  # close to log(256) = 5.5, the most a batch of 256 can show


def test_ids_to_text_stops_at_eos():
    assert ids_to_text(torch.tensor([[5, 6, 3, 7], [8, 0, 0, 0]])) == ["5 6", "8"]


SHARED = pytest.mark.xdist_group("text_runs")  # the users of `text_runs` share a worker: one build


@pytest.fixture(scope="module")
def text_runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("text")
    return root, {
        "lm": train_run(root / "lm", "model=lstm_lm", *TOY),
        "ae": train_run(root / "ae", "model=lstm_ae", *TOY, "model.latent_dim=16"),
        "dae": train_run(root / "dae", "model=lstm_ae", *TOY, "model.latent_dim=16",
                         "corruption=word_noise", "corruption.drop=0.2", "corruption.shuffle=2"),
        "vae": train_run(root / "vae", "model=lstm_vae", *TOY, "model.latent_dim=8",
                         "model.iw_samples=5"),
    }


@SHARED
def test_each_text_model_reports_its_metrics(text_runs):
    _, metrics = text_runs
    assert {"test/nll", "test/ppl", "test/token_acc"} <= set(metrics["lm"])
    assert {"test/rec_ppl", "test/bleu", "test/token_acc"} <= set(metrics["ae"])
    # A denoiser reads noisy test sentences (fixed noise) and logs the noise's own score.
    assert "test/bleu_input" not in metrics["ae"] and 0 < metrics["dae"]["test/bleu_input"] < 1
    assert {"test/nll", "test/ppl", "test/kl", "test/rec_ppl", "test/bleu", "test/active_units",
            "test/mi"} <= set(metrics["vae"])
    # The IW bound is at most the ELBO (test/loss), both in nats per sentence.
    assert metrics["vae"]["test/nll"] <= metrics["vae"]["test/loss"] + 1e-3


@pytest.mark.parametrize("run,task,strategy", [("lm", "sample", "sample"),
                                               ("ae", "reconstruct", "greedy"),
                                               ("ae", "reconstruct", "beam"),
                                               ("vae", "sample", "greedy"),
                                               ("vae", "interpolate", "greedy"),
                                               ("dae", "denoise", "greedy")])
@SHARED
def test_text_generation_writes_sentences(text_runs, run, task, strategy):
    root, _ = text_runs
    out = generate(str(root / run), task, n=8, seed=0, decoding=strategy, steps=4)
    lines = [line for line in out.read_text().splitlines() if line.strip()]
    # reconstruct.txt, or reconstruct-1.txt beside an earlier one (never overwritten)
    assert out.name in (f"{task}.txt", f"{task}-1.txt") and len(lines) >= 4


@pytest.mark.parametrize("run,task,hint", [("lm", "reconstruct", "cannot reconstruct"),
                                           ("ae", "sample", "no prior"),
                                           ("lm", "interpolate", "latent code"),
                                           ("ae", "denoise", "corruption=word_noise"),
                                           ("vae", "upscale", "image task")])
@SHARED
def test_text_tasks_a_model_cannot_do(text_runs, run, task, hint):
    root, _ = text_runs
    with pytest.raises(AelabError, match=hint):
        generate(str(root / run), task, n=4)


def text_net(part: str, *overrides: str, latent_dim: int = 4):
    """lstm_ae's encoder or decoder as its yaml builds it, small."""
    from hydra.utils import instantiate

    from tests.conftest import model_config

    node = model_config("lstm_ae", *overrides).model[part]
    sizes = {"vocab_size": 30, "embed_dim": 8, "width": 16 if part == "decoder" else 6,
             "depth": 1, "dropout": 0.0}
    return instantiate(node)(**sizes, **({"latent_dim": latent_dim} if part == "decoder" else {}))


def test_autoencoder_codes_lie_on_the_sphere_and_decoding_projects_onto_it():
    torch.manual_seed(0)
    small = ["model.latent_dim=8", "model.width=16", "model.embed_dim=8"]
    ae = build_model("lstm_ae", *small, "model.code_norm=sphere", vocab_size=30).eval()
    tokens = torch.tensor([[2, 10, 11, 12, 3], [2, 14, 3, 0, 0]])
    z = ae.encode(tokens, torch.tensor([5, 3]))
    assert torch.allclose(z.norm(dim=1), torch.full((2,), 8**0.5))
    # A code off the sphere (a point of an interpolation, say) decodes as its projection.
    assert torch.equal(ae.generate(3 * z, 2), ae.generate(z, 2))
    plain = build_model("lstm_ae", *small, "model.code_norm=none", vocab_size=30).eval()
    plain.load_state_dict(ae.state_dict())
    raw = plain.encode(tokens, torch.tensor([5, 3]))
    assert torch.allclose(raw / raw.norm(dim=1, keepdim=True) * 8**0.5, z)


def test_encoder_max_pool_ignores_padding_and_adds_the_max_of_the_outputs():
    torch.manual_seed(0)
    last = text_net("encoder", "model.encoder.pool=last")
    pooled = text_net("encoder", "model.encoder.pool=last_max")
    pooled.load_state_dict(last.state_dict())
    tokens = torch.tensor([[10, 11, 12, 13], [14, 15, 0, 0]])
    lengths = torch.tensor([4, 2])
    v = pooled(tokens, lengths)
    assert v.shape == (2, 24) and pooled.out_dim == 24
    assert torch.equal(v[:, :12], last(tokens, lengths))  # the final states come first
    # The short sentence's vector is the same with or without padding: <pad> never wins.
    assert torch.allclose(v[1], pooled(tokens[1:, :2], lengths[1:])[0], atol=1e-6)
    outputs, _ = pooled.rnn(pooled.embed(tokens[:1]))
    assert torch.allclose(v[0, 12:], outputs[0].max(0).values, atol=1e-6)


def test_skip_adds_the_code_to_every_output_step_alike_in_training_and_decoding():
    torch.manual_seed(0)
    decoder = text_net("decoder", "model.decoder.skip=add").eval()
    plain = text_net("decoder", "model.decoder.skip=none").eval()
    plain.load_state_dict(decoder.state_dict(), strict=False)
    tokens, lengths, z = torch.tensor([[2, 10, 11, 12]]), torch.tensor([4]), torch.randn(1, 4)
    logits = decoder(tokens, lengths, z)
    with torch.no_grad():
        decoder.skip.weight.zero_(), decoder.skip.bias.zero_()
    assert torch.allclose(decoder(tokens, lengths, z), plain(tokens, lengths, z))
    assert not torch.allclose(logits, plain(tokens, lengths, z))
    decoder.load_state_dict({**plain.state_dict(), "skip.weight": torch.randn(16, 4),
                             "skip.bias": torch.zeros(16)})
    # Generation (one step at a time, through the decoder interface) scores exactly what
    # teacher forcing does, gated or not.
    gated = text_net("decoder", "model.decoder.skip=gated").eval()
    for d in (decoder, gated):
        logits, state = d(tokens, lengths, z), d.start(z, 1)
        for t in range(4):
            log_probs, state = d.step(tokens[:, t], state, z)
            assert torch.allclose(log_probs, logits[:, t].log_softmax(-1), atol=1e-5)
    # A gate shut everywhere (a large negative bias) leaves the decoder without its skip.
    gated.load_state_dict(plain.state_dict(), strict=False)
    with torch.no_grad():
        gated.skip_gate.weight.zero_(), gated.skip_gate.bias.fill_(-100.0)
    assert torch.allclose(gated(tokens, lengths, z), plain(tokens, lengths, z), atol=1e-6)


def test_autoencoder_reconstructs_most_toy_sentences_exactly(tmp_path):
    # A GRU learns to copy these sentences through its code in ~900 steps (an LSTM of the
    # same size needs about twice as many): 83% exact, BLEU 0.88 when this was written.
    metrics = train_run(tmp_path / "ae", "model=lstm_ae", "data=toy_text", "data.num_train=1000",
                        "data.num_val=64", "data.num_test=64", "data.batch_size=16",
                        "model.encoder.cell=gru", "model.decoder.cell=gru", "model.width=128",
                        "model.embed_dim=64",
                        "model.latent_dim=64", "model.dropout=0.0", "trainer=cpu",
                        "trainer.max_epochs=14", "trainer.enable_progress_bar=false",
                        "optimizer.lr=3e-3", fast=False)
    out = generate(str(tmp_path / "ae"), "reconstruct", n=64)
    lines = out.read_text().splitlines()
    pairs = [(lines[i][5:], lines[i + 1][5:]) for i in range(0, len(lines) - 1, 3)]
    exact = sum(a == b for a, b in pairs) / len(pairs)
    assert exact > 0.6, (exact, pairs[:3])
    assert metrics["test/bleu"] > 0.7
