"""Sample quality for text: distinct-n and self-BLEU on hand-made sentences, the Fréchet
distance and the perplexity in tiny text runs' features and language model, and
generate.py task=sample writing them, with clear errors for a missing or wrong run."""

import json
import math

import pytest
import torch
from torchmetrics.functional.text import bleu_score

from aelab.compare import read_run
from aelab.data.text import BOS_ID, EOS_ID
from aelab.data.toy_text import make_sentences
from aelab.errors import AelabError
from aelab.metrics.text_features import LanguageModelScore, TextRunFeatures
from aelab.metrics.text_samples import distinct_n, frechet_distance, self_bleu
from aelab.run import generate
from tests.conftest import build_model, compose_config, train_run
from tests.test_bad_input import assert_clear, run_entry
from tests.test_text import TOY

# -- on sentences alone --------------------------------------------------------------------


def test_distinct_n_counts_unique_ngrams_over_the_whole_set():
    sentences = ["a b a b", "a b c"]
    # unigrams: a b a b a b c -> 3 unique of 7; bigrams: ab ba ab ab bc -> 3 unique of 5
    assert distinct_n(sentences, 1) == pytest.approx(3 / 7)
    assert distinct_n(sentences, 2) == pytest.approx(3 / 5)
    assert distinct_n(["x y", "x y", "x y"], 2) == pytest.approx(1 / 3)  # repeats count once
    assert distinct_n(["one"], 2) == 0  # no bigram at all


def test_self_bleu_of_identical_samples_is_one_and_of_disjoint_ones_zero():
    assert self_bleu(["the cat sat on the mat"] * 5) == pytest.approx(1.0)
    disjoint = [" ".join(f"w{i}_{j}" for j in range(6)) for i in range(5)]
    assert self_bleu(disjoint) == 0
    assert math.isnan(self_bleu(["alone in the set"]))  # no other sentence to compare with


@pytest.mark.parametrize("n_gram", [1, 2, 4])
def test_self_bleu_is_torchmetrics_bleu_of_each_sample_against_the_others(n_gram):
    """The one-pass count agrees with BLEUScore run sentence by sentence (N^2 counts), on
    sentences of a 4-word vocabulary so that every order has matches, ties of length and
    an empty sentence included."""
    generator = torch.Generator().manual_seed(n_gram)
    words = "a b c d".split()
    sentences = [" ".join(words[int(i)] for i in torch.randint(4, (int(n),), generator=generator))
                 for n in torch.randint(0, 9, (30,), generator=generator)]
    expected = sum(float(bleu_score([s], [sentences[:i] + sentences[i + 1:]], n_gram=n_gram))
                   for i, s in enumerate(sentences)) / len(sentences)
    assert 0.05 < expected < 0.99
    assert self_bleu(sentences, n_gram) == pytest.approx(expected, abs=1e-6)  # theirs: float32


def test_frechet_distance_of_a_set_against_itself_is_zero_and_a_shifted_one_is_not():
    torch.manual_seed(0)
    features = torch.randn(300, 6)
    assert abs(frechet_distance(features, features)) < 1e-6
    shifted = frechet_distance(features + 0.5, features)
    assert shifted == pytest.approx(6 * 0.5**2, rel=1e-3)  # only the means moved: |dmu|^2


# -- in tiny runs ---------------------------------------------------------------------------


SHARED = pytest.mark.xdist_group("text_sample_runs")  # the users of `runs` share a worker: one build


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("text_samples")
    train_run(root / "lm", "model=lstm_lm", *TOY)
    train_run(root / "ae", "model=lstm_ae", *TOY, "model.latent_dim=16")
    return root


@SHARED
def test_fluency_perplexity_is_exp_of_the_mean_token_nll_computed_by_hand(runs):
    lm = LanguageModelScore(str(runs / "lm"), "lm", trust_run_config=False)
    sentences = ["the small dog sees a cat", "a red bird"]
    total, tokens = 0.0, 0
    decoder = lm.model.decoder
    with torch.no_grad():  # one word at a time through the decoding interface
        for sentence in sentences:
            state, previous = decoder.start(None, 1), BOS_ID
            for target in [*lm.tokenizer.encode(sentence).ids, EOS_ID]:
                log_probs, state = decoder.step(torch.tensor([previous]), state)
                total -= float(log_probs[0, target])
                tokens, previous = tokens + 1, target
    assert tokens == 6 + 1 + 3 + 1  # words and <eos>
    perplexity = lm.perplexity(sentences)
    assert math.isfinite(perplexity) and perplexity > 1
    assert perplexity == pytest.approx(math.exp(total / tokens), rel=1e-4)


@pytest.mark.parametrize("run,reads_with", [("ae", "encoder"), ("lm", "decoder")])
@SHARED
def test_text_features_place_a_set_on_itself_and_away_from_a_shifted_one(runs, run, reads_with):
    features = TextRunFeatures(str(runs / run), "text", trust_run_config=False)
    assert features.reads_with == reads_with
    sentences = make_sentences(64, seed=11)
    real = features(sentences)
    assert real.shape == (64, features.num_features)
    assert abs(frechet_distance(real, real)) < 1e-4
    # Shifted: each sentence its first word repeated, at the same lengths (text the runs
    # never saw); it lies far beyond another draw of the same grammar (runs of 3 steps
    # separate these by 20-30x).
    shifted = [" ".join([s.split()[0]] * len(s.split())) for s in sentences]
    other_draw = frechet_distance(features(make_sentences(64, seed=12)), real)
    assert frechet_distance(features(shifted), real) > 5 * other_draw > 0
    # Batching changes nothing: a sentence's features do not depend on its batch mates.
    assert torch.allclose(features(sentences[:3]), real[:3], atol=1e-5)


@pytest.mark.parametrize("name", ["transformer_ae", "transformer_lm"])
def test_transformer_token_states_are_what_the_net_pools_and_scores(name):
    model = build_model(name, "model.width=16", "model.embed_dim=16", "model.depth=1",
                        vocab_size=20).eval()
    tokens = torch.tensor([[BOS_ID, 5, 6, 7, EOS_ID], [BOS_ID, 8, EOS_ID, 0, 0]])
    lengths = torch.tensor([5, 3])
    with torch.no_grad():
        if name == "transformer_ae":  # pool=both: the <cls> vector, then the words' mean
            states, encoder = model.encoder.token_states(tokens, lengths), model.encoder
            mask = (torch.arange(5) < lengths[:, None]).float().unsqueeze(-1)
            mean = (states * mask).sum(1) / lengths[:, None]
            assert torch.allclose(encoder(tokens, lengths)[:, -states.shape[-1]:], mean, atol=1e-5)
        else:  # the output layer reads the last layer's normalised states
            decoder = model.decoder
            states = decoder.token_states(tokens, lengths)
            assert torch.allclose(decoder.out(decoder.project(states)), decoder(tokens, lengths),
                                  atol=1e-5)


def text_metrics(*overrides: str):
    """generate.yaml's `text_metrics` node with `overrides`, as generate.py composes it."""
    return compose_config(["run_dir=unused", "task=sample", *overrides],
                          config_name="generate").text_metrics


@SHARED
def test_generate_writes_the_samples_quality_beside_the_test_sentences(runs):
    node = text_metrics(f"text_metrics.features.run={runs / 'ae'}",
                        f"text_metrics.lm.run={runs / 'lm'}", "text_metrics.features.name=ae")
    out = generate(str(runs / "lm"), "sample", n=24, seed=0, decoding="sample",
                   text_metrics=node)
    written = json.loads((runs / "lm" / "generated" / "sample_metrics.json").read_text())
    samples = out.read_text().splitlines()
    assert len(samples) == 24 and written["sample/count"] == 24 == written["real/count"]
    for prefix in ("sample", "real"):
        assert 0 < written[f"{prefix}/distinct_1"] <= written[f"{prefix}/distinct_2"] <= 1
        assert 0 <= written[f"{prefix}/self_bleu"] <= 1
        assert 1 < written[f"{prefix}/ppl_lm"] < 1e6 and written[f"{prefix}/fd_ae"] >= 0
    assert written["sample/distinct_1"] == pytest.approx(distinct_n(samples, 1))
    # Without runs: diversity only, in a new file beside the new samples.
    generate(str(runs / "lm"), "sample", n=8, seed=1, text_metrics=text_metrics())
    plain = json.loads((runs / "lm" / "generated" / "sample-1_metrics.json").read_text())
    assert "sample/self_bleu" in plain and not any("ppl" in k or "fd" in k for k in plain)
    # A draw of other settings, named by its tag; compare.py reads each draw under its name.
    tagged = generate(str(runs / "lm"), "sample", n=8, seed=0, decoding="sample", top_p=0.5,
                      tag="nucleus05", text_metrics=text_metrics())
    assert tagged.name == "sample_nucleus05.txt"
    nucleus = json.loads((runs / "lm" / "generated" / "sample_nucleus05_metrics.json").read_text())
    row = read_run(runs / "lm")["metrics"]
    assert row["sample/count"] == 24 and row["sample-1/sample/count"] == 8
    assert row["sample_nucleus05/sample/distinct_2"] == nucleus["sample/distinct_2"]
    with pytest.raises(AelabError, match="tag=a/b: give one word"):
        generate(str(runs / "lm"), "sample", n=8, tag="a/b")


@pytest.mark.parametrize("override,says", [
    ("text_metrics.features.run={missing}", "text_metrics.features.run={missing} is not a "
                                            "directory; give the run dir of"),
    ("text_metrics.lm.run={ae}", "text_metrics.lm.run={ae} is a TextAutoencoder run; give the "
                                 "run dir of one of: lstm_lm, transformer_lm"),
    ("text_metrics.lm.name=a-b", "text_metrics.lm.name=a-b goes into metric names"),
])
@SHARED
def test_a_missing_or_wrong_run_is_one_line_and_exit_2(runs, tmp_path, capsys, override, says):
    paths = {"missing": tmp_path / "nowhere", "ae": runs / "ae"}
    args = [f"run_dir={runs / 'lm'}", "task=sample", "num_images=4",
            f"text_metrics.lm.run={runs / 'lm'}", override.format(**paths)]
    code, output = run_entry("generate", args, capsys)
    assert code == 2
    assert_clear(code, output, says.format(**paths))


@SHARED
def test_text_metrics_are_for_text_samples_only(runs):
    node = text_metrics(f"text_metrics.lm.run={runs / 'lm'}")
    with pytest.raises(AelabError, match="measure the sentences of task=sample, not "
                                         "task=reconstruct"):
        generate(str(runs / "ae"), "reconstruct", n=4, seed=0, text_metrics=node)
